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
ssl_configs="conf/ssl_content.yaml conf/ssl_identity.yaml conf/ssl_id_content.yaml conf/ssl_id_content_dis.yaml"
dump_config=conf/dump.yaml
finetune_config=conf/finetune.yaml
supervised_config=conf/supervised.yaml
probe_config=conf/probe.yaml
finetune_subsets="100 250 500 all"
finetune_tags="ssl_identity ssl_id_content_dis"
probe_tags="ssl_id_content ssl_id_content_dis"
ssl_eval_batches=200

. utils/parse_options.sh

./xmodal.sh \
  --stage $stage --stop-stage $stop_stage \
  --nj $nj --ngpu $ngpu \
  --local-data-opts "--vox1-root $vox1_root --vox2-root $vox2_root" \
  --dump-config $dump_config \
  --ssl-configs "$ssl_configs" \
  --finetune-config $finetune_config --supervised-config $supervised_config \
  --probe-config $probe_config \
  --finetune-subsets "$finetune_subsets" --finetune-tags "$finetune_tags" \
  --probe-tags "$probe_tags" --ssl-eval-batches $ssl_eval_batches
