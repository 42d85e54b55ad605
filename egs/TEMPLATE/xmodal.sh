#!/usr/bin/env bash
# The staged pipeline every xmodal recipe runs (called from egs/*/v1/run.sh).
# Stage 1: data dirs (recipe's local/data.sh)   Stage 2: dump features and face frames
# Stage 3: self-supervised training, one run per --ssl-configs entry
# Stage 4: self-supervised task evaluation on ssl_test (paper Table 2)
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (xmodal.sh:${BASH_LINENO[0]}) $*"; }

stage=1
stop_stage=4
nj=2                      # parallel jobs for dump
local_data_opts=""        # passed to local/data.sh
dump_config=conf/dump.yaml
sets="ssl_train ssl_test spk_dev spk_test"
dumpdir=dump
expdir=exp
ssl_configs="conf/ssl_content.yaml conf/ssl_identity.yaml conf/ssl_id_content.yaml conf/ssl_id_content_dis.yaml"
ngpu=0                    # >1: torchrun --nproc_per_node=$ngpu (DDP)
ssl_eval_batches=200      # random batches averaged by stage 4

. ./path.sh
. ./cmd.sh
. utils/parse_options.sh

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: data preparation"
  local/data.sh $local_data_opts
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: dump audio features and face frames"
  for x in $sets; do
    if [ -f "$dumpdir/$x/.done" ]; then
      log "  $dumpdir/$x is complete; skipping"
      continue
    fi
    python -m xmodal.bin.split_data data/$x $nj
    $dump_cmd JOB=1:$nj $dumpdir/$x/log/dump.JOB.log \
      python -m xmodal.bin.dump --config $dump_config \
        --data-dir data/$x/split$nj/JOB --out-dir $dumpdir/$x --job JOB
    python -m xmodal.bin.merge_dump --data-dir data/$x --out-dir $dumpdir/$x --num-jobs $nj
  done
fi
if [ "$ngpu" -gt 1 ]; then
  train_py="torchrun --standalone --nproc_per_node=$ngpu -m xmodal.bin.train"
else
  train_py="python -m xmodal.bin.train"
fi
device=cpu; [ "$ngpu" -gt 0 ] && device=cuda

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "stage 3: self-supervised training ($ssl_configs)"
  for conf in $ssl_configs; do
    tag=$(basename "$conf" .yaml)
    if [ -f "$expdir/$tag/model.pt" ]; then
      log "  $expdir/$tag is trained; skipping"
      continue
    fi
    resume=""; ls "$expdir/$tag"/epoch*.pt >/dev/null 2>&1 && resume="--resume"
    log "  training $tag (log: $expdir/$tag/train.log)"
    start=$(date +%s)
    $train_cmd "$expdir/$tag/train.log" $train_py --config "$conf" --device $device \
      --train-dir "$dumpdir/ssl_train" --valid-dir "$dumpdir/ssl_test" --output-dir "$expdir/$tag" $resume
    log "  $tag trained in $(( $(date +%s) - start )) s"
  done
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "stage 4: self-supervised task evaluation on ssl_test"
  for conf in $ssl_configs; do
    tag=$(basename "$conf" .yaml)
    [ -f "$expdir/$tag/ssl_eval.json" ] && { log "  $tag evaluated; skipping"; continue; }
    python -m xmodal.bin.eval_ssl --exp-dir "$expdir/$tag" --data-dir "$dumpdir/ssl_test" \
      --batches $ssl_eval_batches
  done
fi
log "done (stages $stage-$stop_stage)"
