"""The job launcher: JOB substitution, logs with header/footer, parallel limit, failures."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from xmodal.jobs.launcher import LauncherError, expand_jobs, parse_job_range, run_jobs

# Each job records when it ran, so the test can count how many ran at once.
RECORD_INTERVAL = ("import sys, time; t0 = time.time(); time.sleep(0.4); "
                   "open(sys.argv[1], 'w').write(f'{t0} {time.time()}'); print('job', sys.argv[2])")


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_runs_n_jobs_at_most_max_parallel_at_once(tmp_path):
    results = run_jobs([sys.executable, "-c", RECORD_INTERVAL, str(tmp_path / "t.JOB"), "JOB"],
                       parse_job_range("JOB=1:4"), str(tmp_path / "log" / "x.JOB.log"),
                       max_parallel=2)
    assert [r.index for r in results] == [1, 2, 3, 4] and all(r.exit_status == 0 for r in results)
    intervals = [tuple(map(float, (tmp_path / f"t.{j}").read_text().split())) for j in range(1, 5)]
    assert max_overlap(intervals) == 2
    log = (tmp_path / "log" / "x.3.log").read_text().splitlines()
    assert log[0].startswith(f"# {sys.executable} -c ") and log[0].endswith("t.3 3")
    assert log[1].startswith("# started at ")
    assert log[2] == "job 3"
    assert log[3].startswith("# exit status 0 after ")


def test_failed_jobs_are_named_with_their_logs(tmp_path):
    script = "import sys; print('working'); sys.exit(3 if sys.argv[1] in ('2', '3') else 0)"
    with pytest.raises(LauncherError) as info:
        run_jobs([sys.executable, "-c", script, "JOB"], (1, 3), str(tmp_path / "x.JOB.log"),
                 max_parallel=2)
    message = str(info.value)
    assert message.startswith("2 of 3 jobs failed: ")
    assert f"job 2 exited with status 3, see {tmp_path / 'x.2.log'}" in message
    assert f"job 3 exited with status 3, see {tmp_path / 'x.3.log'}" in message
    assert "job 1 " not in message
    assert (tmp_path / "x.1.log").read_text().splitlines()[-1].startswith("# exit status 0")
    assert (tmp_path / "x.2.log").read_text().splitlines()[-1].startswith("# exit status 3")


def test_command_that_cannot_start(tmp_path):
    with pytest.raises(LauncherError, match="job 1 exited with status 127"):
        run_jobs(["/nonexistent/tool", "JOB"], (1, 1), str(tmp_path / "x.log"))
    assert "cannot start '/nonexistent/tool'" in (tmp_path / "x.log").read_text()


def test_unknown_backend(tmp_path):
    with pytest.raises(LauncherError, match="unknown backend 'pbs'"):
        run_jobs(["true"], (1, 2), str(tmp_path / "x.JOB.log"), backend="pbs")


def test_job_range_and_substitution():
    assert parse_job_range("JOB=3:5") == (3, 5)
    for bad in ("JOB=0:2", "JOB=4:2", "N=1:2", "JOB=1"):
        with pytest.raises(LauncherError, match="bad job range"):
            parse_job_range(bad)
    jobs = expand_jobs(["cmd", "--in", "d/splitJOB/JOB", "--job=JOB"], (1, 2), "log/x.JOB.log")
    assert jobs[1].command == ["cmd", "--in", "d/split2/2", "--job=2"]
    assert jobs[1].log_path == Path("log/x.2.log")
    with pytest.raises(LauncherError, match="has no JOB"):
        expand_jobs(["cmd"], (1, 2), "log/x.log")


def test_cli(tmp_path):
    launch = [sys.executable, "-m", "xmodal.bin.launch", "--max-jobs-run", "2"]
    ok = subprocess.run([*launch, "JOB=1:2", str(tmp_path / "a.JOB.log"), sys.executable, "-c",
                         "import sys; print('arg', sys.argv[1:])", "--job", "JOB"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "arg ['--job', '2']" in (tmp_path / "a.2.log").read_text()
    single = subprocess.run([*launch, str(tmp_path / "one.log"), "echo", "hi"],
                            capture_output=True, text=True)
    assert single.returncode == 0 and "hi" in (tmp_path / "one.log").read_text()
    bad = subprocess.run([*launch, "JOB=1:2", str(tmp_path / "b.JOB.log"), "false"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: 2 of 2 jobs failed")
    assert str(tmp_path / "b.1.log") in bad.stderr and "Traceback" not in bad.stderr
