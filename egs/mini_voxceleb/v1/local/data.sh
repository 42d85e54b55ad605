#!/usr/bin/env bash
# Stage 1 of the mini recipe: generate the synthetic corpus, then prepare the Kaldi data dirs
# {ssl_train,ssl_test,spk_dev,spk_test} from its VoxCeleb layouts and, with --downstream-opts,
# downstream/{crema_d,ravdess,lrw} from its CREMA-D, RAVDESS and LRW layouts.
set -euo pipefail

corpus=corpus
data=data
nj=2
seed=0
ssl_train_speakers=600    # one face-track each (VoxCeleb2 dev)
ssl_test_speakers=40      # face-tracks from ssl_test_videos videos each (VoxCeleb2 test)
ssl_test_videos=3
spk_dev_speakers=200      # audio only (VoxCeleb1 dev), spk_videos x spk_utts each
spk_test_speakers=120     # audio only (VoxCeleb1 test), spk_videos x spk_utts each
spk_videos=4
spk_utts=2
min_words=6               # sentence length, every set
max_words=10
face_size=32
coupling=1.0              # how strongly faces and voices share identity traits (0-1)
downstream_opts=""        # sizes of the synthetic CREMA-D, RAVDESS and LRW: options of
                          # xmodal.bin.make_downstream_corpora, comma-separated (they come
                          # through word splitting); "": none

. utils/parse_options.sh

# Target trials pair every two utterances of a test speaker from different videos, with as
# many non-targets; half of each training identity's topic words are its own.
python -m xmodal.bin.make_synth_corpus --out-dir $corpus --nj $nj --seed $seed \
  --size $face_size --coupling $coupling --min-words $min_words --max-words $max_words \
  --vox2-dev-speakers $ssl_train_speakers --vox2-dev-videos 1 --utts-per-video 1 \
  --vox2-test-speakers $ssl_test_speakers --videos-per-speaker $ssl_test_videos \
  --vox1-dev-speakers $spk_dev_speakers --vox1-test-speakers $spk_test_speakers \
  --vox1-videos $spk_videos --vox1-utts-per-video $spk_utts \
  --trials-per-utt $(( spk_videos * spk_utts )) --topic-bias 0.5

python -m xmodal.bin.prepare_voxceleb vox2 --root $corpus/voxceleb2 --subset dev \
  --out-dir $data/ssl_train --text $corpus/annotations/text
python -m xmodal.bin.prepare_voxceleb vox2 --root $corpus/voxceleb2 --subset test \
  --out-dir $data/ssl_test --text $corpus/annotations/text
python -m xmodal.bin.prepare_voxceleb vox1 --root $corpus/voxceleb1 \
  --dev-dir $data/spk_dev --test-dir $data/spk_test --trials veri_test2.txt \
  --text $corpus/annotations/text

# Per-frame phone labels (frame_phones, phones.txt) from the corpus' phone alignments.
for x in ssl_train ssl_test spk_dev spk_test; do
  python -m xmodal.bin.ctm_to_frame_labels --ctm $corpus/annotations/phones.ctm \
    --data-dir $data/$x
done

for x in ssl_train ssl_test spk_dev spk_test; do
  utils/validate_data_dir.sh $data/$x
done

# The downstream corpora: new people, written and read as the real downloads are.
if [ -n "$downstream_opts" ]; then
  python -m xmodal.bin.make_downstream_corpora --out $corpus --nj $nj --seed $seed \
    --size $face_size --coupling $coupling ${downstream_opts//,/ }
  for x in crema_d ravdess lrw; do
    python -m xmodal.bin.prepare_downstream $x --root $corpus/$x --out-dir $data/downstream/$x
    for split in train valid test; do utils/validate_data_dir.sh $data/downstream/$x/$split; done
  done
fi
