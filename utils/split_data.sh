#!/usr/bin/env bash
# Split a data dir by utterance into DIR/splitN/{1..N}:
#   utils/split_data.sh DIR N
exec python -m xmodal.bin.split_data "$@"
