#!/usr/bin/env bash
# VoxCeleb recipe (paper scale): train on VoxCeleb2 face-tracks, evaluate on VoxCeleb1.
# Point --vox1-root/--vox2-root at the official downloads (see README "VoxCeleb recipe").
set -euo pipefail

vox1_root=/data/voxceleb1   # holds wav/, vox1_meta.csv, veri_test2.txt
vox2_root=/data/voxceleb2   # holds dev/{mp4,aac}, test/{mp4,aac}, vox2_meta.csv
nj=16
ngpu=1
stage=1
stop_stage=8

. utils/parse_options.sh

./xmodal.sh \
  --stage $stage --stop-stage $stop_stage \
  --nj $nj --ngpu $ngpu \
  --local-data-opts "--vox1-root $vox1_root --vox2-root $vox2_root" \
  --dump-config conf/dump.yaml
