#!/usr/bin/env bash
# The staged pipeline every xmodal recipe runs (called from egs/*/v1/run.sh).
# Stage 1: data dirs (recipe's local/data.sh)   Stage 2: dump features and face frames
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (xmodal.sh:${BASH_LINENO[0]}) $*"; }

stage=1
stop_stage=2
nj=2                      # parallel jobs for dump
local_data_opts=""        # passed to local/data.sh
dump_config=conf/dump.yaml
sets="ssl_train ssl_test spk_dev spk_test"
dumpdir=dump

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
log "done (stages $stage-$stop_stage)"
