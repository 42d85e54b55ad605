#!/usr/bin/env bash
# Stage 1: Kaldi data dirs from the official VoxCeleb1/VoxCeleb2 downloads.
set -euo pipefail

vox1_root=
vox2_root=
audio=pipe    # wav.scp holds an ffmpeg pipe (Kaldi-readable) or the m4a path (audio=path)

. utils/parse_options.sh

python -m xmodal.bin.prepare_voxceleb vox2 --root $vox2_root --subset dev \
  --out-dir data/ssl_train --audio $audio
python -m xmodal.bin.prepare_voxceleb vox2 --root $vox2_root --subset test \
  --out-dir data/ssl_test --audio $audio
python -m xmodal.bin.prepare_voxceleb vox1 --root $vox1_root \
  --dev-dir data/spk_dev --test-dir data/spk_test --trials veri_test2.txt

for x in ssl_train ssl_test spk_dev spk_test; do
  utils/validate_data_dir.sh data/$x
done
