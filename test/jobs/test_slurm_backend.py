"""The slurm backend against a real single-node Slurm (munged, slurmctld, slurmd) on localhost.

The module's fixture starts its own munged (own key and socket), slurmctld and slurmd in the
foreground with a minimal slurm.conf in a temporary directory: no accounting (so no sacct),
no cgroups, loopback addresses and free ports, so that it neither needs nor touches a system
Slurm. Skipped only when the Slurm or MUNGE programs are not installed (tools/install.sh
installs them); once they are installed, a daemon that fails to start is a test failure.
"""
from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xmodal.jobs.launcher import (SLURM_JOB_TABLE, SLURM_STATUS, LauncherError,
                                  read_slurm_status, run_jobs)

REPO = Path(__file__).resolve().parents[2]
RUN_SH = str(REPO / "utils" / "run.sh")
# Daemons live in sbin, which a non-root PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")
START_TIMEOUT_S = 30.0
JOB_TIMEOUT_S = 60.0

SLURM_CONF = """\
ClusterName=xmodaltest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# sbatch --wait polls at 2 s, then 4 times longer each time while below MinJobAge/2 (and 32 s):
# with records kept 4 s it keeps polling every 2 s, so a quick array is seen done at once.
MinJobAge=4
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, daemons: dict[str, subprocess.Popen],
             root: Path, timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``condition``; fail with the daemons' logs if a daemon dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        dead = [name for name, proc in daemons.items() if proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}:\n{(root / f'{name}.log').read_text()[-3000:]}"
                             for name in daemons)
            reason = f"{', '.join(dead)} exited" if dead else f"no {what} after {timeout} s"
            pytest.fail(f"Slurm test cluster: {reason}\n{logs}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def slurm_env() -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd; yield an environment whose SLURM_CONF names them."""
    missing = [name for name in PROGRAMS if shutil.which(name, path=SEARCH_PATH) is None]
    if missing:
        pytest.skip(f"Slurm/MUNGE programs not installed: {' '.join(missing)} "
                    "(tools/install.sh installs slurmctld slurmd slurm-client munge)")
    # Not under pytest's 0700 temporary directories: munged refuses a socket whose directory
    # or any parent is not searchable by all. Short, too, for the socket path limit.
    root = Path(tempfile.mkdtemp(prefix="xmodal-slurm-"))
    root.chmod(0o755)
    (root / "state").mkdir()
    (root / "spool").mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)  # munged refuses a key that others can read.
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(
        host=socket.gethostname().split(".")[0], ctld_port=free_port(),
        slurmd_port=free_port(), user=pwd.getpwuid(os.getuid()).pw_name, root=root))
    # utils/run.sh runs `python`: this one, as when a recipe's path.sh has put it first.
    env = dict(os.environ, SLURM_CONF=str(conf),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), SEARCH_PATH]))
    commands = {
        "munged": ["munged", "--foreground", f"--key-file={key}",
                   f"--socket={root}/munge.socket", f"--pid-file={root}/munged.pid",
                   f"--seed-file={root}/munged.seed"],
        "slurmctld": ["slurmctld", "-D"],
        "slurmd": ["slurmd", "-D"],
    }
    daemons: dict[str, subprocess.Popen] = {}
    try:
        for name, argv in commands.items():
            with open(root / f"{name}.log", "w") as log:
                daemons[name] = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                                 stdout=log, stderr=subprocess.STDOUT)
            if name == "munged":
                wait_for((root / "munge.socket").exists, "munge socket", daemons, root)
        wait_for(lambda: _node_state(env) == "idle", "idle node", daemons, root)
        yield env
    finally:
        for proc in reversed(list(daemons.values())):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def _node_state(env: dict[str, str]) -> str:
    state = subprocess.run(["sinfo", "--noheader", "--format=%T"], env=env,
                           capture_output=True, text=True)
    return state.stdout.strip()


# Without a cluster: option checks, a missing sbatch, and the array task wrapper on its own.

def test_bad_slurm_options_fail_before_anything_runs(tmp_path):
    log = str(tmp_path / "x.JOB.log")
    for owned in (["--output=o.txt"], ["-o", "o.txt"], ["--wait"], ["-a1-2"]):
        with pytest.raises(LauncherError, match="is set by the slurm backend itself"):
            run_jobs(["true"], (1, 2), log, backend="slurm", slurm_options=owned)
    with pytest.raises(LauncherError, match="only apply to --backend slurm"):
        run_jobs(["true"], (1, 2), log, backend="local", slurm_options=["--mem=4G"])
    with pytest.raises(LauncherError, match="max parallel jobs must be >= 1"):
        run_jobs(["true"], (1, 2), log, backend="slurm", max_parallel=0)
    assert not list(tmp_path.iterdir())
    cli = subprocess.run([RUN_SH, "--backend", "slurm", "--slurm-opts=--comment='unclosed",
                          log, "true"], capture_output=True, text=True)
    assert cli.returncode == 1 and "cannot split --slurm-opts" in cli.stderr


def test_without_sbatch_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LauncherError, match="sbatch not found on PATH"):
        run_jobs(["true"], (1, 2), str(tmp_path / "log" / "x.JOB.log"), backend="slurm")
    assert not (tmp_path / "log").exists()


def test_array_task_logs_like_local_and_passes_sigterm_on(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    log, ready = tmp_path / "sleep.4.log", tmp_path / "ready"
    # The command says when it runs: by then the wrapper has its SIGTERM handler.
    command = [sys.executable, "-c", "import sys, time; open(sys.argv[1], 'w'); time.sleep(30)",
               str(ready)]
    (spool / SLURM_JOB_TABLE).write_text(json.dumps({"4": {"command": command,
                                                            "log": str(log)}}))
    task = [sys.executable, "-m", "xmodal.jobs.slurm_task", str(spool)]
    unset = subprocess.run(task, capture_output=True, text=True)
    assert unset.returncode == 2 and "SLURM_ARRAY_TASK_ID is not set" in unset.stderr
    wrong = subprocess.run(task, env=dict(os.environ, SLURM_ARRAY_TASK_ID="5"),
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and "array task 5 is not in" in wrong.stderr
    process = subprocess.Popen(task, env=dict(os.environ, SLURM_ARRAY_TASK_ID="4"))
    _poll(ready.exists, "the job running")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 128 + signal.SIGTERM
    lines = log.read_text().splitlines()
    assert lines[0] == f"# {shlex.join(command)}" and lines[1].startswith("# started at ")
    assert lines[-1].startswith("# exit status -15 after ")
    assert read_slurm_status(spool / SLURM_STATUS.format(index=4))[0] == -15


# With a real Slurm.

def launch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``utils/run.sh --backend slurm ARGS`` with this module's Slurm; fails if it hangs."""
    return subprocess.run([RUN_SH, "--backend", "slurm", *args], env=env, capture_output=True,
                          text=True, timeout=JOB_TIMEOUT_S)


def test_job_array_logs_statuses_and_the_failed_job(slurm_env, tmp_path):
    # In a file, not in the arguments, where the launcher would replace the JOB in its text.
    script = tmp_path / "job.py"
    script.write_text("import os, sys\n"
                      "print('job', sys.argv[1], 'in', os.environ['SLURM_JOB_NAME'],\n"
                      "      'task', os.environ['SLURM_ARRAY_TASK_ID'])\n"
                      "sys.exit(3 if sys.argv[1] == '2' else 0)\n")
    log_dir = tmp_path / "log"
    started = time.monotonic()
    result = launch(slurm_env, "--max-jobs-run", "2", "--slurm-opts=--job-name=probe --time=5",
                    "JOB=1:3", str(log_dir / "x.JOB.log"), sys.executable, str(script), "JOB")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert result.stderr == (f"error: 1 of 3 jobs failed: job 2 exited with status 3, "
                             f"see {log_dir / 'x.2.log'}\n")
    # Only the logs remain: the spool (job table, status files) is gone.
    assert sorted(p.name for p in log_dir.iterdir()) == ["x.1.log", "x.2.log", "x.3.log"]
    for job, status in ((1, 0), (2, 3), (3, 0)):
        log = (log_dir / f"x.{job}.log").read_text().splitlines()
        assert log[0] == f"# {sys.executable} {script} {job}"
        assert log[1].startswith("# started at ")
        assert log[2] == f"job {job} in probe task {job}"
        assert log[3].startswith(f"# exit status {status} after ")
        assert len(log) == 4
    assert elapsed < JOB_TIMEOUT_S


def test_task_that_reports_no_status_counts_as_failed(slurm_env, tmp_path):
    # The command SIGKILLs the task wrapper (its parent), as an OOM killer might.
    script = "import os, signal; print('killing'); os.kill(os.getppid(), signal.SIGKILL)"
    log = tmp_path / "lost.log"
    result = launch(slurm_env, str(log), sys.executable, "-c", script)
    assert result.returncode == 1
    assert f"job 1 exited with status 127, see {log}" in result.stderr
    lines = log.read_text().splitlines()
    assert lines[0].startswith(f"# {sys.executable} -c ") and lines[1].startswith("# started")
    assert lines[-1].startswith("# exit status 127: the job reported none")


def test_killing_the_launcher_cancels_the_array(slurm_env, tmp_path):
    logs = [tmp_path / f"sleep.{job}.log" for job in (1, 2)]
    ready = [tmp_path / f"ready.{job}" for job in (1, 2)]
    # Each command says when it runs: by then its task wrapper has its SIGTERM handler.
    sleeper = "import sys, time; open(sys.argv[1], 'w'); time.sleep(300)"
    launcher = subprocess.Popen([RUN_SH, "--backend", "slurm", "JOB=1:2",
                                 str(tmp_path / "sleep.JOB.log"), sys.executable, "-c", sleeper,
                                 str(tmp_path / "ready.JOB")],
                                env=slurm_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        _poll(lambda: all(path.exists() for path in ready), "both jobs running")
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=JOB_TIMEOUT_S) == 128 + signal.SIGTERM
    finally:
        launcher.kill()
        launcher.wait()
    queue = ["squeue", "--noheader"]
    _poll(lambda: not subprocess.run(queue, env=slurm_env, capture_output=True,
                                     text=True).stdout.strip(), "an empty queue")
    # Each task wrapper outlived Slurm's SIGTERM long enough to log how its command ended.
    _poll(lambda: all("# exit status -15 after" in log.read_text() for log in logs),
          "footers with SIGTERM")


def test_array_cancelled_by_someone_else_reports_the_signal_and_slurm_says_why(slurm_env,
                                                                              tmp_path):
    sleeper = "import sys, time; open(sys.argv[1], 'w'); time.sleep(300)"
    launcher = subprocess.Popen([RUN_SH, "--backend", "slurm", "--slurm-opts=--job-name=victim",
                                 "JOB=1:2", str(tmp_path / "sleep.JOB.log"), sys.executable,
                                 "-c", sleeper, str(tmp_path / "ready.JOB")],
                                env=slurm_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    try:
        _poll(lambda: all((tmp_path / f"ready.{job}").exists() for job in (1, 2)),
              "both jobs running")
        subprocess.run(["scancel", "--name=victim"], env=slurm_env, check=True)
        _, errors = launcher.communicate(timeout=JOB_TIMEOUT_S)
    finally:
        launcher.kill()
        launcher.wait()
    assert launcher.returncode == 1
    assert errors.startswith("error: 2 of 2 jobs failed: job 1 exited with status -15, see ")
    log = (tmp_path / "sleep.1.log").read_text()
    assert "# exit status -15 after " in log
    assert "# Slurm's output for this job:\n" in log and "CANCELLED" in log


def _poll(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)
