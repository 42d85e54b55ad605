# Job launchers (Kaldi style: $cmd JOB=1:N log/x.JOB.log command ...).
# On a cluster, switch the backend in one place; everything else stays the same.
export dump_cmd="utils/run.sh --backend local --max-jobs-run 8"
export train_cmd="utils/run.sh --backend local --max-jobs-run 1"
export extract_cmd="utils/run.sh --backend local --max-jobs-run 8"
