#!/usr/bin/env bash
# make reproduce: the evidence the README quotes, per paper (--papers; make reproduce-nagrani,
# make reproduce-stafylakis, make reproduce-shukla run one each, on the same corpus).
# nagrani:
#   1. The mini recipe at full size (run.sh --preset full) trained with three seeds on one
#      corpus: stages 3-6 for every seed, the leakage meter and stages 7-8 (Table 4, the
#      content probe) for the first; full/exp/RESULTS.md checks the README's claims on every
#      seed, full/exp/seed<N>/RESULTS.md holds each seed's tables.
#   2. The coupling study (local/coupling_sweep.sh): sweep/RESULTS.md and sweep/RESULTS.png.
# stafylakis: the reconstruction configs of the full preset, three seeds, stages 3-6 and the
#   report; full/exp/seed<N>/RESULTS.md tests the paper's claims on each seed, and
#   full/exp/RECON.md puts the seeds side by side.
# shukla: the face-generation configs of the full preset, three seeds, stages 3-6 and the
#   report; full/exp/seed<N>/RESULTS.md holds each seed's held-out generator tests (mouth
#   error against its baselines, sync curve) and its audio encoder's Table 3 rows, and
#   full/exp/FACEGEN.md checks the generator tests on every seed.
set -euo pipefail

seeds="0 1 2"
papers="nagrani stafylakis shukla"
sweep=true          # also run the coupling study (with nagrani)
downstream=true     # the downstream tasks on the first seed's encoders (make reproduce: the
                    # three papers' encoders in one table); the per-paper targets pass false

. ./path.sh
. utils/parse_options.sh

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (reproduce.sh) $*"; }
start=$(date +%s)
./run.sh --preset full --stop-stage 2 --downstream $downstream
nagrani=false; stafylakis=false; shukla=false
for p in $papers; do
  case $p in
    nagrani) nagrani=true ;; stafylakis) stafylakis=true ;; shukla) shukla=true ;;
    *) echo "$0: unknown paper '$p' (nagrani, stafylakis, shukla)" >&2; exit 1 ;;
  esac
done
# A paper left out trains nothing ("" configs; the preset's otherwise).
only=""
$nagrani || only="--ssl-configs ''"
$stafylakis || only="$only --recon-configs ''"
$shukla || only="$only --facegen-configs ''"
first=${seeds%% *}
seed_dirs=""
for seed in $seeds; do
  log "seed $seed ($papers)"
  exp=full/exp/seed$seed
  if [ "$seed" = "$first" ]; then
    eval ./run.sh --preset full --stage 3 --train-seed $seed --expdir $exp \
      --downstream $downstream $only
  else
    # The leakage meter (stage 4), Table 4, the probe and the downstream tasks: first seed
    # only (time budget).
    eval ./run.sh --preset full --stage 3 --stop-stage 6 --train-seed $seed --expdir $exp \
      --leakage-steps 0 --downstream $downstream $only
    eval ./run.sh --preset full --stage 8 --train-seed $seed --expdir $exp --probe-tags "''" \
      --finetune-tags "''" --downstream $downstream --downstream-eval false $only
  fi
  seed_dirs="$seed_dirs $seed=$exp"
done
status=0
if $nagrani; then
  python -m xmodal.bin.report_seeds --out full/exp/RESULTS.md --seed-dirs "${seed_dirs# }" \
    --ssl-tags "ssl_content ssl_identity ssl_id_content ssl_id_content_dis" \
    --utt2spk full/data/spk_test/utt2spk || status=$?
fi
if $stafylakis; then
  python -m xmodal.bin.report_seeds --out full/exp/RECON.md --seed-dirs "${seed_dirs# }" \
    --recon-tags "recon_phones recon_noisy recon_posteriors recon_units recon_content_embedding
      recon_content_units recon_none recon_phones_classify xvector_classify recon_phones_semisup
      xvector_semisup" --utt2spk full/data/spk_test/utt2spk || status=$?
fi
if $shukla; then
  python -m xmodal.bin.report_seeds --out full/exp/FACEGEN.md --seed-dirs "${seed_dirs# }" \
    --facegen-tags "facegen facegen_same_window" --utt2spk full/data/spk_test/utt2spk || status=$?
fi
log "the full recipe ($papers), seeds $seeds: $(( $(date +%s) - start )) s"
if $sweep && $nagrani; then
  sweep_start=$(date +%s)
  local/coupling_sweep.sh
  log "the coupling study: $(( $(date +%s) - sweep_start )) s"
fi
exit $status
