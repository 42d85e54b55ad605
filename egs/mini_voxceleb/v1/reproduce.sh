#!/usr/bin/env bash
# make reproduce: the evidence the README quotes, in two parts.
# 1. The mini recipe at full size (run.sh --preset full) trained with three seeds on one
#    corpus: stages 3-6 for every seed, the leakage meter and stages 7-8 (Table 4, the content
#    probe) for the first;
#    full/exp/RESULTS.md checks the README's claims on every seed, full/exp/seed<N>/RESULTS.md
#    holds each seed's tables.
# 2. The coupling study (local/coupling_sweep.sh): sweep/RESULTS.md and sweep/RESULTS.png.
set -euo pipefail

seeds="0 1 2"
sweep=true          # also run the coupling study

. ./path.sh
. utils/parse_options.sh

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (reproduce.sh) $*"; }
start=$(date +%s)
./run.sh --preset full --stop-stage 2
first=${seeds%% *}
seed_dirs=""
for seed in $seeds; do
  log "seed $seed"
  exp=full/exp/seed$seed
  if [ "$seed" = "$first" ]; then
    ./run.sh --preset full --stage 3 --train-seed $seed --expdir $exp
  else
    # The leakage meter (stage 4), Table 4 and the probe: first seed only (time budget).
    ./run.sh --preset full --stage 3 --stop-stage 6 --train-seed $seed --expdir $exp \
      --leakage-steps 0
    ./run.sh --preset full --stage 8 --train-seed $seed --expdir $exp --probe-tags ""
  fi
  seed_dirs="$seed_dirs $seed=$exp"
done
status=0
python -m xmodal.bin.report_seeds --out full/exp/RESULTS.md --seed-dirs "${seed_dirs# }" \
  --ssl-tags "ssl_content ssl_identity ssl_id_content ssl_id_content_dis" \
  --utt2spk full/data/spk_test/utt2spk || status=$?
log "the full recipe, seeds $seeds: $(( $(date +%s) - start )) s"
if $sweep; then
  sweep_start=$(date +%s)
  local/coupling_sweep.sh
  log "the coupling study: $(( $(date +%s) - sweep_start )) s"
fi
exit $status
