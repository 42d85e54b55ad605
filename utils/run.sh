#!/usr/bin/env bash
# Job launcher, Kaldi style:
#   utils/run.sh [--backend local|slurm] [--max-jobs-run N] [--slurm-opts="SBATCH OPTIONS"] \
#                JOB=1:N log/x.JOB.log command [args...]
# Every literal JOB in the log path and the arguments becomes the job number; see
# python -m xmodal.bin.launch --help.
# --backend local runs the jobs on this machine; --backend slurm submits them as one Slurm job
# array (sbatch --array=1-N%max-jobs-run) and waits for it, with the same logs. The working
# directory, the logs and this Python must be on a file system the compute nodes share.
# Cluster options go to sbatch through --slurm-opts (one quoted string, or repeated), e.g.
#   utils/run.sh --backend slurm --max-jobs-run 4 \
#     --slurm-opts="--partition=gpu --gres=gpu:1 --mem=16G --time=4:00:00" JOB=1:4 ...
# In cmd.sh, whose strings are split on spaces, use one --slurm-opts=OPTION per option.
exec python -m xmodal.bin.launch "$@"
