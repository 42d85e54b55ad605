# Job launchers (Kaldi style: $cmd JOB=1:N log/x.JOB.log command ...).
# local: job arrays on this machine. A Slurm backend slots in here: utils/run.sh --backend slurm
export dump_cmd="utils/run.sh --backend local --max-jobs-run 2"
export train_cmd="utils/run.sh --backend local --max-jobs-run 1"
export extract_cmd="utils/run.sh --backend local --max-jobs-run 2"
