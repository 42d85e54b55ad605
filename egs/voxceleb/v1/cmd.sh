# Job launchers (Kaldi style: $cmd JOB=1:N log/x.JOB.log command ...).
# local: job arrays on this machine. On a Slurm cluster, switch the backend in one place and
# everything else stays the same: one Slurm job array per $cmd call, same logs. These strings
# are split on spaces, so give sbatch options one per --slurm-opts, e.g.
#   export dump_cmd="utils/run.sh --backend slurm --max-jobs-run 16 --slurm-opts=--mem=4G"
#   export train_cmd="utils/run.sh --backend slurm --max-jobs-run 1 \
#     --slurm-opts=--partition=gpu --slurm-opts=--gres=gpu:1 --slurm-opts=--time=2-00:00:00"
export dump_cmd="utils/run.sh --backend local --max-jobs-run 8"
export train_cmd="utils/run.sh --backend local --max-jobs-run 1"
export extract_cmd="utils/run.sh --backend local --max-jobs-run 8"
