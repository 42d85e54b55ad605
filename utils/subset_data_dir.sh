#!/usr/bin/env bash
# Keep N speakers of a data dir and M of their utterances, spread evenly (seeded; nested):
#   utils/subset_data_dir.sh --num-spk N|all [--num-utt M] [--seed S] SRC DEST
exec python -m xmodal.bin.subset_data_dir "$@"
