"""Job arrays in the Kaldi/ESPnet style: ``JOB=1:N log/x.JOB.log command ...``.

Every literal ``JOB`` in the command's arguments and in the log path is replaced by the job
number; each job's stdout and stderr go to its own log, framed by a header line with the
command and a footer with the exit status and elapsed time. A backend decides where jobs run:

``local``
    Processes on this machine, at most ``max_parallel`` at once (Kaldi's ``run.pl``).
``slurm``
    One Slurm job array, ``sbatch --array=first-last%max_parallel``. Each array task runs
    ``python -m xmodal.jobs.slurm_task``, which writes the same log as the local backend and
    reports its exit status in a file. Assumes what Kaldi's ``slurm.pl`` assumes: the working
    directory, the log directories and this Python (``sys.executable``) are at the same paths
    on the compute nodes (a shared file system), and the environment is passed on (sbatch's
    default ``--export=ALL``). Cluster options go to sbatch as they are, e.g.
    ``--partition=gpu --gres=gpu:1 --mem=16G --time=4:00:00``; the launcher owns
    ``--array``, ``--output``, ``--error``, ``--wait``, ``--parsable`` and ``--wrap``.
    Slurm's own messages for a task (e.g. "CANCELLED ... DUE TO TIME LIMIT") are appended to
    that job's log; a task that reports no status (cancelled before it started, or killed
    with SIGKILL) counts as failed with status 127.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

JOB_PLACEHOLDER = "JOB"
_POLL_S = 0.05
# Exit status reported for a command that could not be started (as a shell would), and for a
# Slurm task that reported no status at all.
_NOT_STARTED = 127
# Files in a Slurm submission's spool directory (see SlurmBackend).
SLURM_JOB_TABLE = "jobs.json"
SLURM_STATUS = "{index}.status"
_SLURM_OUTPUT = "{index}.out"
# sbatch options the Slurm backend sets itself; a user's value would break log or status
# collection. Long forms, and the short forms of the same options.
_SBATCH_OWNED = ("--array", "--output", "--error", "--wait", "--parsable", "--wrap")
_SBATCH_OWNED_SHORT = ("-a", "-o", "-e", "-W")


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


@dataclass
class RunningJob:
    """A started job: its process, its open log and when it started (monotonic clock)."""

    spec: JobSpec
    process: subprocess.Popen
    log: IO[str]
    started: float


def start_job(spec: JobSpec) -> RunningJob | JobResult:
    """Write the log header and start the command (no shell), output into the log.

    Returns a ``JobResult`` with status 127 at once if the command cannot be started.
    """
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
        return finish_job(spec, log, _NOT_STARTED, started)
    return RunningJob(spec, process, log, started)


def finish_job(spec: JobSpec, log: IO[str], status: int, started: float) -> JobResult:
    """Write the log footer (exit status, elapsed time), close the log, return the result."""
    elapsed = time.monotonic() - started
    log.write(f"# exit status {status} after {elapsed:.1f} s, at {_now()}\n")
    log.close()
    return JobResult(spec.index, spec.log_path, status, elapsed)


class JobBackend(ABC):
    """Runs a list of jobs and reports how each ended; at most ``max_parallel`` at once."""

    def __init__(self, max_parallel: int | None = None):
        if max_parallel is not None and max_parallel < 1:
            raise LauncherError(f"max parallel jobs must be >= 1, got {max_parallel}")
        self.max_parallel = max_parallel

    @abstractmethod
    def run(self, jobs: list[JobSpec]) -> list[JobResult]:
        """Run every job to completion; results in job order."""


class LocalBackend(JobBackend):
    """Jobs as child processes of this one (no shell), like Kaldi's ``run.pl``."""

    def run(self, jobs: list[JobSpec]) -> list[JobResult]:
        """Start jobs as slots free up; on an exception (e.g. Ctrl-C) kill the running ones."""
        limit = self.max_parallel or len(jobs)
        pending = list(jobs)
        running: list[RunningJob] = []
        results: list[JobResult] = []
        try:
            while pending or running:
                while pending and len(running) < limit:
                    started = start_job(pending.pop(0))
                    if isinstance(started, JobResult):
                        results.append(started)
                    else:
                        running.append(started)
                finished = [job for job in running if job.process.poll() is not None]
                for job in finished:
                    running.remove(job)
                    results.append(finish_job(job.spec, job.log, job.process.returncode,
                                              job.started))
                if not finished:
                    time.sleep(_POLL_S)
        finally:
            for job in running:
                job.process.kill()
                job.process.wait()
                finish_job(job.spec, job.log, job.process.returncode, job.started)
        return sorted(results, key=lambda r: r.index)


def check_sbatch_options(options: Sequence[str]) -> list[str]:
    """The user's sbatch options, refused if they set one the Slurm backend owns."""
    for option in options:
        long_owned = any(option == name or option.startswith(f"{name}=")
                         for name in _SBATCH_OWNED)
        short_owned = not option.startswith("--") and option[:2] in _SBATCH_OWNED_SHORT
        if long_owned or short_owned:
            raise LauncherError(f"sbatch option {option!r} is set by the slurm backend itself "
                                f"(it owns {', '.join(_SBATCH_OWNED)})")
    return list(options)


class SlurmBackend(JobBackend):
    """The jobs as one Slurm job array: ``sbatch --array=first-last%max --wait``.

    A spool directory next to the first job's log holds the job table that the array tasks
    read, their status files and Slurm's own output per task; it is removed afterwards.
    Why ``sbatch --wait`` rather than polling ``squeue``/``sacct``: sacct needs accounting,
    which many small clusters (and the test's) lack, and sbatch's own wait loop already backs
    off (it looks at 2 s, 10 s, then every 32 s with Slurm's default MinJobAge) and rides out
    a briefly unreachable controller; exit statuses come from the tasks' status files, not
    from Slurm. Jobs must be numbered consecutively (as ``expand_jobs`` makes them): the
    array task ids are the job numbers.
    """

    def __init__(self, max_parallel: int | None = None, sbatch_options: Sequence[str] = ()):
        super().__init__(max_parallel)
        self.sbatch_options = check_sbatch_options(sbatch_options)

    def run(self, jobs: list[JobSpec]) -> list[JobResult]:
        """Submit the array, wait for every task, collect statuses; cancel it on an exception."""
        indices = [job.index for job in jobs]
        if indices != list(range(indices[0], indices[0] + len(indices))):
            raise LauncherError(f"slurm job arrays need consecutive job numbers, got {indices}")
        sbatch = shutil.which("sbatch")
        if sbatch is None:
            raise LauncherError("sbatch not found on PATH: the slurm backend needs Slurm's "
                                "client commands")
        log_dir = jobs[0].log_path.parent.absolute()
        log_dir.mkdir(parents=True, exist_ok=True)
        spool = Path(tempfile.mkdtemp(prefix=".slurm-", dir=log_dir))
        try:
            table = {job.index: {"command": job.command, "log": str(job.log_path.absolute())}
                     for job in jobs}
            (spool / SLURM_JOB_TABLE).write_text(json.dumps(table), encoding="utf-8")
            for job in jobs:
                # A task still pending or never run must not leave an old run's log in place.
                job.log_path.unlink(missing_ok=True)
            self._submit_and_wait(sbatch, jobs, spool)
            return [_collect_slurm_task(job, spool) for job in jobs]
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def _submit_and_wait(self, sbatch: str, jobs: list[JobSpec], spool: Path) -> None:
        array = f"{jobs[0].index}-{jobs[-1].index}"
        if self.max_parallel:
            array += f"%{self.max_parallel}"
        # Named after what the logs share, e.g. dump.1.log ... dump.8.log -> "dump".
        name = os.path.commonprefix([job.log_path.stem for job in jobs]).rstrip("._-")
        # sbatch expands %-patterns in --output (%a: the task id); double a % in the path.
        output = str(spool).replace("%", "%%") + "/" + _SLURM_OUTPUT.format(index="%a")
        task = shlex.join([sys.executable, "-m", "xmodal.jobs.slurm_task", str(spool)])
        argv = [sbatch, f"--job-name={name or 'xmodal'}", *self.sbatch_options,
                f"--array={array}", f"--output={output}",
                "--parsable", "--wait", f"--wrap=exec {task}"]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        job_id = ""
        try:
            # --parsable prints "jobid[;cluster]" once the array is queued, then --wait waits.
            job_id = process.stdout.readline().strip().split(";")[0]
            _, errors = process.communicate()
        except BaseException:
            # Ctrl-C or a kill of the launcher: take the queued and running tasks down too.
            if job_id:
                subprocess.run(["scancel", job_id], stdin=subprocess.DEVNULL,
                               capture_output=True)
            process.kill()
            process.wait()
            raise
        if not job_id:
            raise LauncherError(f"sbatch failed (exit status {process.returncode}): "
                                f"{errors.strip()}\ncommand: {shlex.join(argv)}")


def write_slurm_status(spool: Path, result: JobResult) -> None:
    """Record how an array task ended, atomically (the launcher may look at any moment)."""
    path = spool / SLURM_STATUS.format(index=result.index)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{result.exit_status} {result.elapsed_s:.3f}\n", encoding="utf-8")
    os.replace(partial, path)


def read_slurm_status(path: Path) -> tuple[int, float]:
    """``(exit status, elapsed seconds)`` from a file written by ``write_slurm_status``."""
    status, elapsed = path.read_text(encoding="utf-8").split()
    return int(status), float(elapsed)


def _collect_slurm_task(spec: JobSpec, spool: Path) -> JobResult:
    """How one array task ended, from its status file; Slurm's messages go into its log."""
    status_path = spool / SLURM_STATUS.format(index=spec.index)
    output_path = spool / _SLURM_OUTPUT.format(index=spec.index)
    slurm_output = output_path.read_text(errors="replace") if output_path.exists() else ""
    reported = status_path.exists()
    status, elapsed = read_slurm_status(status_path) if reported else (_NOT_STARTED, 0.0)
    if slurm_output or not reported:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "a", encoding="utf-8") as log:
            if slurm_output:
                log.write(f"# Slurm's output for this job:\n{slurm_output}")
            if not reported:
                log.write(f"# exit status {_NOT_STARTED}: the job reported none (it never "
                          f"started, or was killed before it could), at {_now()}\n")
    return JobResult(spec.index, spec.log_path, status, elapsed)


BACKENDS: dict[str, type[JobBackend]] = {"local": LocalBackend, "slurm": SlurmBackend}


def run_jobs(command: list[str], job_range: tuple[int, int], log_template: str,
             backend: str = "local", max_parallel: int | None = None,
             slurm_options: Sequence[str] = ()) -> list[JobResult]:
    """Run ``command`` once per job number in ``job_range`` and wait for all of them.

    ``slurm_options`` are extra sbatch options (``--backend slurm`` only). Raises
    ``LauncherError`` naming every failed job and its log if any job exits non-zero.
    """
    if backend not in BACKENDS:
        raise LauncherError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if slurm_options and backend != "slurm":
        raise LauncherError(f"Slurm options {shlex.join(slurm_options)!r} given to the "
                            f"{backend} backend; they only apply to --backend slurm")
    jobs = expand_jobs(command, job_range, log_template)
    runner = (SlurmBackend(max_parallel, slurm_options) if backend == "slurm"
              else BACKENDS[backend](max_parallel))
    results = runner.run(jobs)
    failed = [r for r in results if r.exit_status != 0]
    if failed:
        details = "; ".join(f"job {r.index} exited with status {r.exit_status}, see {r.log_path}"
                            for r in failed)
        raise LauncherError(f"{len(failed)} of {len(results)} jobs failed: {details}")
    return results
