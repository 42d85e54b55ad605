#!/usr/bin/env bash
# Keep the utterances of N speakers of a data dir (seeded choice; nested for growing N):
#   utils/subset_data_dir.sh --num-spk N|all [--seed S] SRC DEST
exec python -m xmodal.bin.subset_data_dir "$@"
