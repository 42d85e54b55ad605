#!/usr/bin/env bash
# Job launcher, Kaldi style:
#   utils/run.sh [--backend local] [--max-jobs-run N] JOB=1:N log/x.JOB.log command [args...]
# Every literal JOB in the log path and the arguments becomes the job number; see
# python -m xmodal.bin.launch --help.
exec python -m xmodal.bin.launch "$@"
