#!/usr/bin/env bash
# Check a Kaldi data dir (sorting, key sets, speakers, media files, trials):
#   utils/validate_data_dir.sh [--no-check-files] [--need-video] DIR
exec python -m xmodal.bin.validate_data_dir "$@"
