# Job launchers (Kaldi style: $cmd JOB=1:N log/x.JOB.log command ...), one per kind of work.
# run.sh --cmd picks the backend, exported as cmd_backend (local when unset):
#   local  job arrays on this machine;
#   slurm  one Slurm job array per $cmd call (sbatch --array), same logs. The working dir must
#          be on a file system the nodes share. Put your site's partition, memory and time
#          limits below, one --slurm-opts=OPTION each: these strings are split on spaces.
case ${cmd_backend:-local} in
  local)
    export dump_cmd="utils/run.sh --backend local --max-jobs-run 8"
    export train_cmd="utils/run.sh --backend local --max-jobs-run 1"
    export extract_cmd="utils/run.sh --backend local --max-jobs-run 8" ;;
  slurm)
    # Training asks for the GPUs of run.sh --ngpu, exported as cmd_ngpu.
    train_gpus=""
    if [ "${cmd_ngpu:-0}" -gt 0 ]; then train_gpus="--slurm-opts=--gres=gpu:$cmd_ngpu"; fi
    export dump_cmd="utils/run.sh --backend slurm --max-jobs-run 32 --slurm-opts=--mem=4G"
    export train_cmd="utils/run.sh --backend slurm --max-jobs-run 1 $train_gpus \
      --slurm-opts=--cpus-per-task=8 --slurm-opts=--mem=64G"
    # Stage 5 embeds on a GPU when --ngpu > 0 (one per job).
    extract_gpu=""
    if [ "${cmd_ngpu:-0}" -gt 0 ]; then extract_gpu="--slurm-opts=--gres=gpu:1"; fi
    export extract_cmd="utils/run.sh --backend slurm --max-jobs-run 32 $extract_gpu \
      --slurm-opts=--mem=8G" ;;
  *)
    echo "cmd.sh: unknown backend '$cmd_backend' (run.sh --cmd local|slurm)" >&2
    return 1 ;;
esac
