#!/usr/bin/env bash
# Stage 1 of the mini recipe: generate the synthetic corpus, then prepare the Kaldi data dirs
# data/{ssl_train,ssl_test,spk_dev,spk_test} from its VoxCeleb layouts.
set -euo pipefail

corpus=corpus
nj=2
seed=0
# Corpus size and conditions (see python -m xmodal.bin.make_synth_corpus --help).
synth_opts="--size 112 --vox2-dev-speakers 600 --vox2-dev-videos 1 --vox2-test-speakers 40 --vox1-dev-speakers 60 --vox1-test-speakers 20 --videos-per-speaker 3 --utts-per-video 1 --trials-per-utt 6 --topic-bias 0.5"

. utils/parse_options.sh

python -m xmodal.bin.make_synth_corpus --out-dir $corpus --nj $nj --seed $seed $synth_opts

python -m xmodal.bin.prepare_voxceleb vox2 --root $corpus/voxceleb2 --subset dev \
  --out-dir data/ssl_train --text $corpus/annotations/text
python -m xmodal.bin.prepare_voxceleb vox2 --root $corpus/voxceleb2 --subset test \
  --out-dir data/ssl_test --text $corpus/annotations/text
python -m xmodal.bin.prepare_voxceleb vox1 --root $corpus/voxceleb1 \
  --dev-dir data/spk_dev --test-dir data/spk_test --trials veri_test2.txt

for x in ssl_train ssl_test spk_dev spk_test; do
  utils/validate_data_dir.sh data/$x
done
