#!/usr/bin/env bash
# Stage 1: Kaldi data dirs from the official VoxCeleb1/VoxCeleb2 downloads
# (README "VoxCeleb data preparation"):
#   ssl_train  a seeded share of each VoxCeleb2 dev speaker's face-tracks (paper: 20%)
#   ssl_test   seeded VoxCeleb2 test speakers (paper: 120; the download has 118: all are used)
#   spk_dev    the VoxCeleb1 dev speakers
#   spk_test   the VoxCeleb1 test speakers plus every utterance the requested trial lists name
#              (E and H pair dev speakers too; stage 6 finds all embeddings in this one set)
set -euo pipefail

vox1_root=
vox2_root=
audio=pipe         # VoxCeleb2 wav.scp: pipe (ffmpeg ... |), path (the m4a) or wav (16 kHz copies)
wav_dir=wav        # where --audio wav writes its copies
nj=4               # parallel conversions for --audio wav
dev_fraction=0.2   # share of each VoxCeleb2 dev speaker's face-tracks, by count
test_speakers=120  # VoxCeleb2 test speakers (0: all)
trials=O           # comma-separated trial lists to convert (O,E,H,O_orig); the first is 'trials'
seed=0             # seed of the VoxCeleb2 samples
phones_ctm=""      # a phone CTM of the recipe's utterances (your aligner's): writes frame_phones
                   # and phones.txt into every data dir, for the reconstruction configs
transcribed_data="" # a Kaldi data dir of transcribed speech you have (wav.scp, utt2spk,
                   # spk2utt, text; e.g. LibriSpeech's): copied to data/transcribed, the
                   # training set of the CTC phone recogniser (conf/recon_posteriors.yaml)
crema_root=""      # downstream corpora (each optional): data/downstream/<corpus>/{train,valid,test}
ravdess_root=""    # with utt2label; CREMA-D and RAVDESS split by speaker (seeded; the split
lrw_root=""        # is written to split_speakers), LRW by its official train/val/test

. utils/parse_options.sh

python -m xmodal.bin.prepare_voxceleb vox2 --root $vox2_root --subset dev --out-dir data/ssl_train \
  --audio $audio --wav-dir $wav_dir/voxceleb2/dev --nj $nj --fraction $dev_fraction --seed $seed
python -m xmodal.bin.prepare_voxceleb vox2 --root $vox2_root --subset test --out-dir data/ssl_test \
  --audio $audio --wav-dir $wav_dir/voxceleb2/test --nj $nj --num-speakers $test_speakers \
  --seed $seed
# Lists not requested are converted too when present and when spk_test holds their utterances.
python -m xmodal.bin.prepare_voxceleb vox1 --root $vox1_root \
  --dev-dir data/spk_dev --test-dir data/spk_test --trials ${trials//,/ } \
  --optional-trials O E H O_orig

if [ -n "$phones_ctm" ]; then
  for x in ssl_train ssl_test spk_dev spk_test; do
    python -m xmodal.bin.ctm_to_frame_labels --ctm $phones_ctm --data-dir data/$x
  done
fi

sets="ssl_train ssl_test spk_dev spk_test"
if [ -n "$transcribed_data" ]; then
  [ -f $transcribed_data/text ] || { echo "$0: $transcribed_data/text: file not found" >&2; exit 1; }
  rm -rf data/transcribed.tmp && mkdir -p data/transcribed.tmp
  cp $transcribed_data/{wav.scp,utt2spk,spk2utt,text} data/transcribed.tmp/
  rm -rf data/transcribed && mv data/transcribed.tmp data/transcribed
  sets="$sets transcribed"
fi

for x in $sets; do
  utils/validate_data_dir.sh data/$x
done

[ -z "$crema_root" ] || python -m xmodal.bin.prepare_downstream crema_d --root $crema_root \
  --out-dir data/downstream/crema_d
[ -z "$ravdess_root" ] || python -m xmodal.bin.prepare_downstream ravdess --root $ravdess_root \
  --out-dir data/downstream/ravdess
[ -z "$lrw_root" ] || python -m xmodal.bin.prepare_downstream lrw --root $lrw_root \
  --out-dir data/downstream/lrw
