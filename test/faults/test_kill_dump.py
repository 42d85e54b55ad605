"""SIGKILL during a dump job (``python -m xmodal.bin.dump``), then a rerun.

The kill comes at a deterministic moment in the middle of the ark: the wav.scp entry of a
seeded-random utterance is a Kaldi pipe (run by ``sh``, as every pipe entry is) that
SIGKILLs its parent, the dump job, while the utterances before it are being written.
"""
from __future__ import annotations

import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from xmodal.data.dump import temporary
from xmodal.data.dump_merge import DumpError, JobOutputs, merge_dump


def assert_equal_files(out: Path, reference: Path, names: list[str]) -> None:
    """Each named file of ``out`` equals ``reference``'s; scps name their own dir's arks."""
    for name in names:
        want = (reference / name).read_bytes()
        if name.endswith(".scp"):
            want = want.replace(str(reference).encode(), str(out).encode())
        assert (out / name).read_bytes() == want, name


def test_sigkill_mid_ark_then_rerun_gives_the_uninterrupted_dump(tiny_dump: Path,
                                                                 tmp_path: Path, faults):
    reference = tiny_dump / "ssl_train"  # dumped by the same job and config, never killed
    data, out = tmp_path / "data", tmp_path / "dump"
    shutil.copytree(tiny_dump.parent / "data" / "ssl_train", data)
    dump = faults.module_cmd("xmodal.bin.dump", "--config", str(tiny_dump.parent / "dump.yaml"),
                             "--data-dir", str(data), "--out-dir", str(out), "--job", "1")
    wav_scp = (data / "wav.scp").read_text()
    lines = wav_scp.splitlines()
    victim = random.Random(5).randrange(1, len(lines))
    killer = lines[:victim] + [f"{lines[victim].split()[0]} kill -9 $PPID |"] + lines[victim + 1:]
    (data / "wav.scp").write_text("".join(f"{line}\n" for line in killer))

    killed = subprocess.run(dump, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    job = JobOutputs(out, 1)
    assert temporary(job.feats_ark).stat().st_size > 0  # killed part-way through the ark
    assert [p for p in job.all_files() if p.exists()] == []
    with pytest.raises(DumpError, match="dump job 1 did not complete"):
        merge_dump(data, out, 1)

    (data / "wav.scp").write_text(wav_scp)
    rerun = subprocess.run(dump, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    merge_dump(data, out, 1)
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names  # no temporary files either
    assert_equal_files(out, reference, names)
