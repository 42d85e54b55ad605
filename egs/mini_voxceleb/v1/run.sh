#!/usr/bin/env bash
# Mini recipe: the whole method on the synthetic talking-heads corpus, CPU only, in minutes.
set -euo pipefail

./xmodal.sh \
  --nj 2 \
  --local-data-opts "--nj 2" \
  --dump-config conf/dump.yaml \
  --finetune-subsets "10 20 all" \
  --ssl-eval-batches 100 \
  "$@"
