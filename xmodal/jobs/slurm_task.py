"""One task of a Slurm job array started by the launcher's slurm backend (not for direct use).

Usage (what ``sbatch --wrap`` runs): python -m xmodal.jobs.slurm_task SPOOL_DIR
Reads its job from SPOOL_DIR/jobs.json by ``$SLURM_ARRAY_TASK_ID``, runs it exactly as the
local backend does (same log header and footer) and records its exit status in the spool.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from xmodal.jobs.launcher import (SLURM_JOB_TABLE, JobResult, JobSpec, LauncherError,
                                  finish_job, start_job, write_slurm_status)


def load_job(spool: Path, task_id: str | None) -> JobSpec:
    """The job of array task ``task_id`` from the spool's job table."""
    if task_id is None:
        raise LauncherError("SLURM_ARRAY_TASK_ID is not set: run only as a Slurm array task")
    table = json.loads((spool / SLURM_JOB_TABLE).read_text(encoding="utf-8"))
    if task_id not in table:
        raise LauncherError(f"array task {task_id} is not in {spool / SLURM_JOB_TABLE}")
    job = table[task_id]
    return JobSpec(int(task_id), list(job["command"]), Path(job["log"]))


def run_task(spec: JobSpec) -> JobResult:
    """Run the job; a SIGTERM from Slurm (scancel, time limit) is passed on and logged."""
    started = start_job(spec)
    if isinstance(started, JobResult):
        return started
    # Slurm sends SIGTERM and SIGKILLs only KillWait seconds later: forward it to the command
    # and stay alive long enough to write the footer and the status with the signal in them.
    signal.signal(signal.SIGTERM, lambda *_: started.process.send_signal(signal.SIGTERM))
    status = started.process.wait()
    return finish_job(spec, started.log, status, started.started)


def main(argv: list[str] | None = None) -> int:
    """Run this array task's job; exit with its status (128 + signal if killed)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m xmodal.jobs.slurm_task SPOOL_DIR", file=sys.stderr)
        return 2
    spool = Path(args[0])
    try:
        spec = load_job(spool, os.environ.get("SLURM_ARRAY_TASK_ID"))
    except (LauncherError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = run_task(spec)
    write_slurm_status(spool, result)
    # Slurm's own record of the task (FAILED, ExitCode) then agrees with the log.
    return result.exit_status if result.exit_status >= 0 else 128 - result.exit_status


if __name__ == "__main__":
    sys.exit(main())
