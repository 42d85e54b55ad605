"""Run a command as a job array, Kaldi style; each job logs to its own file.

Usage: python -m xmodal.bin.launch [--backend local|slurm] [--max-jobs-run N]
                                   [--slurm-opts="SBATCH OPTIONS"]
                                   [JOB=1:N] log/x.JOB.log command [args...]
Every literal JOB in the log path and the arguments becomes the job number. Without JOB=a:b
the command runs once, as job 1. --slurm-opts (split like a shell would; may be repeated) go
to sbatch, e.g. --slurm-opts="--partition=gpu --gres=gpu:1 --mem=16G --time=4:00:00". Write it
with "=": a value that starts with "-" would otherwise be taken for an option of this launcher.
"""
from __future__ import annotations

import argparse
import shlex
import signal
import sys

from xmodal.jobs.launcher import (BACKENDS, JOB_PLACEHOLDER, LauncherError, parse_job_range,
                                  run_jobs)


def build_parser() -> argparse.ArgumentParser:
    """Launcher options, then the job range, the log path and the command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="local", choices=sorted(BACKENDS))
    parser.add_argument("--max-jobs-run", type=int, default=None,
                        help="at most this many jobs at once (default: all)")
    parser.add_argument("--slurm-opts", action="append", default=[], metavar="OPTIONS",
                        help="extra sbatch options, a shell-quoted string; may be repeated "
                             "(--backend slurm)")
    parser.add_argument("range_or_log", metavar=f"[{JOB_PLACEHOLDER}=1:N] LOG")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def split_options(text: str) -> list[str]:
    """``--slurm-opts`` text -> sbatch arguments, split as a shell would."""
    try:
        return shlex.split(text)
    except ValueError as err:
        raise LauncherError(f"cannot split --slurm-opts {text!r}: {err}") from err


def main(argv: list[str] | None = None) -> int:
    """Run the job array; 0 if every job succeeded, 1 (with the reason on stderr) if not."""
    args = build_parser().parse_args(argv)
    # A kill of the launcher (e.g. by a scheduler) takes its jobs down with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        if args.range_or_log.startswith(f"{JOB_PLACEHOLDER}="):
            if not args.command:
                raise LauncherError("missing log path and command")
            job_range = parse_job_range(args.range_or_log)
            log, command = args.command[0], args.command[1:]
        else:
            job_range, log, command = (1, 1), args.range_or_log, args.command
        slurm_options = [option for text in args.slurm_opts for option in split_options(text)]
        run_jobs(command, job_range, log, backend=args.backend, max_parallel=args.max_jobs_run,
                 slurm_options=slurm_options)
    except LauncherError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
