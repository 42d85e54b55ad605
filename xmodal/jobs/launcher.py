"""Job arrays in the Kaldi/ESPnet style: ``JOB=1:N log/x.JOB.log command ...``.

Every literal ``JOB`` in the command's arguments and in the log path is replaced by the job
number; each job's stdout and stderr go to its own log, framed by a header line with the
command and a footer with the exit status and elapsed time. A backend decides where jobs run:
``local`` (processes on this machine, at most ``max_parallel`` at once) is implemented;
``slurm`` has the same interface and is not yet available.
"""
from __future__ import annotations

import re
import shlex
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

JOB_PLACEHOLDER = "JOB"
_POLL_S = 0.05
# Exit status reported for a command that could not be started (as a shell would).
_NOT_STARTED = 127


class LauncherError(RuntimeError):
    """Bad launcher arguments, an unavailable backend, or failed jobs."""


@dataclass(frozen=True)
class JobSpec:
    """One job of an array: its number, its command (``JOB`` replaced) and its log file."""

    index: int
    command: list[str]
    log_path: Path


@dataclass(frozen=True)
class JobResult:
    """How a job ended: exit status (negative: killed by that signal) and elapsed seconds."""

    index: int
    log_path: Path
    exit_status: int
    elapsed_s: float


def parse_job_range(text: str) -> tuple[int, int]:
    """``"JOB=1:4"`` -> ``(1, 4)``."""
    match = re.fullmatch(rf"{JOB_PLACEHOLDER}=(\d+):(\d+)", text)
    if not match:
        raise LauncherError(f"bad job range {text!r}: expected {JOB_PLACEHOLDER}=<first>:<last>")
    first, last = int(match[1]), int(match[2])
    if not 1 <= first <= last:
        raise LauncherError(f"bad job range {text!r}: need 1 <= first <= last")
    return first, last


def expand_jobs(command: list[str], job_range: tuple[int, int],
                log_template: str) -> list[JobSpec]:
    """One ``JobSpec`` per job number in ``job_range`` (inclusive)."""
    first, last = job_range
    if not command:
        raise LauncherError("no command to run")
    if last > first and JOB_PLACEHOLDER not in log_template:
        raise LauncherError(f"log path {log_template!r} has no {JOB_PLACEHOLDER}: every job "
                            "would write the same log")
    return [JobSpec(job, [arg.replace(JOB_PLACEHOLDER, str(job)) for arg in command],
                    Path(log_template.replace(JOB_PLACEHOLDER, str(job))))
            for job in range(first, last + 1)]


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


class JobBackend(ABC):
    """Runs a list of jobs and reports how each ended; at most ``max_parallel`` at once."""

    def __init__(self, max_parallel: int | None = None):
        if max_parallel is not None and max_parallel < 1:
            raise LauncherError(f"max parallel jobs must be >= 1, got {max_parallel}")
        self.max_parallel = max_parallel

    @abstractmethod
    def run(self, jobs: list[JobSpec]) -> list[JobResult]:
        """Run every job to completion; results in job order."""


@dataclass
class _RunningJob:
    spec: JobSpec
    process: subprocess.Popen
    log: IO[str]
    started: float


class LocalBackend(JobBackend):
    """Jobs as child processes of this one (no shell), like Kaldi's ``run.pl``."""

    def _start(self, spec: JobSpec) -> _RunningJob | JobResult:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(spec.log_path, "w", encoding="utf-8")
        log.write(f"# {shlex.join(spec.command)}\n# started at {_now()}\n")
        log.flush()
        started = time.monotonic()
        try:
            process = subprocess.Popen(spec.command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        except OSError as err:
            log.write(f"cannot start {spec.command[0]!r}: {err}\n")
            return self._finish(spec, log, _NOT_STARTED, started)
        return _RunningJob(spec, process, log, started)

    @staticmethod
    def _finish(spec: JobSpec, log: IO[str], status: int, started: float) -> JobResult:
        elapsed = time.monotonic() - started
        log.write(f"# exit status {status} after {elapsed:.1f} s, at {_now()}\n")
        log.close()
        return JobResult(spec.index, spec.log_path, status, elapsed)

    def run(self, jobs: list[JobSpec]) -> list[JobResult]:
        """Start jobs as slots free up; on an exception (e.g. Ctrl-C) kill the running ones."""
        limit = self.max_parallel or len(jobs)
        pending = list(jobs)
        running: list[_RunningJob] = []
        results: list[JobResult] = []
        try:
            while pending or running:
                while pending and len(running) < limit:
                    started = self._start(pending.pop(0))
                    if isinstance(started, JobResult):
                        results.append(started)
                    else:
                        running.append(started)
                finished = [job for job in running if job.process.poll() is not None]
                for job in finished:
                    running.remove(job)
                    results.append(self._finish(job.spec, job.log, job.process.returncode,
                                                job.started))
                if not finished:
                    time.sleep(_POLL_S)
        finally:
            for job in running:
                job.process.kill()
                job.process.wait()
                self._finish(job.spec, job.log, job.process.returncode, job.started)
        return sorted(results, key=lambda r: r.index)


class SlurmBackend(JobBackend):
    """Slurm job arrays (``sbatch --array=first-last%max --wait``, one log per task).

    Not yet available: selecting it fails before any job starts.
    """

    def run(self, jobs: list[JobSpec]) -> list[JobResult]:
        """Always raises ``LauncherError``: this backend is not implemented yet."""
        raise LauncherError("the slurm backend is not yet available; use --backend local")


BACKENDS: dict[str, type[JobBackend]] = {"local": LocalBackend, "slurm": SlurmBackend}


def run_jobs(command: list[str], job_range: tuple[int, int], log_template: str,
             backend: str = "local", max_parallel: int | None = None) -> list[JobResult]:
    """Run ``command`` once per job number in ``job_range`` and wait for all of them.

    Raises ``LauncherError`` naming every failed job and its log if any job exits non-zero.
    """
    if backend not in BACKENDS:
        raise LauncherError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    jobs = expand_jobs(command, job_range, log_template)
    results = BACKENDS[backend](max_parallel).run(jobs)
    failed = [r for r in results if r.exit_status != 0]
    if failed:
        details = "; ".join(f"job {r.index} exited with status {r.exit_status}, see {r.log_path}"
                            for r in failed)
        raise LauncherError(f"{len(failed)} of {len(results)} jobs failed: {details}")
    return results
