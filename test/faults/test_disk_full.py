"""A full disk or an unwritable output dir: a clear error naming the path, earlier results intact.

A full disk is simulated with a file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored): writes
past it fail with EFBIG ("File too large") as they would with ENOSPC. Read-only dirs are
mode 0o555; root, which ignores modes, runs the tool without CAP_DAC_OVERRIDE (the test is
skipped when root cannot drop it).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xmodal.bin import dump as dump_cli
from xmodal.bin import merge_dump as merge_dump_cli
from xmodal.data.datadir import split_data_dir
from xmodal.data.dump_merge import DumpError, JobOutputs, merge_dump
from xmodal.eval.embedding_sets import EmbeddingFiles, is_done, merge_embeddings
from xmodal.eval.extract import extract_embeddings
from xmodal.methods import load_pretrained


def run(cmd: list[str], preexec_fn) -> subprocess.CompletedProcess:
    """Run ``cmd`` with ``preexec_fn``; stderr to a pipe, which no file-size limit affects."""
    return subprocess.run(cmd, capture_output=True, text=True, preexec_fn=preexec_fn)


def assert_clear_error(proc: subprocess.CompletedProcess, *parts: str) -> None:
    """Exit status 1 and one ``error:`` line holding every part; no traceback."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(part in errors[0] for part in parts), proc.stderr[-3000:]


def test_full_disk_while_saving_a_checkpoint_keeps_the_last_one(tiny_dump: Path, trained_run,
                                                                 tmp_path: Path, faults):
    exp = tmp_path / "exp"
    shutil.copytree(trained_run.exp, exp)
    before = faults.file_bytes(exp)
    config = faults.train_config(tmp_path / "two_epochs.yaml", epochs=2, batches=1)
    limit = faults.file_size_limit((exp / "epoch1.pt").stat().st_size // 2)
    proc = run(faults.train_cmd(config, tiny_dump, exp, "--resume"), limit)
    assert_clear_error(proc, f"{exp / 'epoch2.pt'}: cannot write checkpoint (File too large)")
    after = faults.file_bytes(exp)
    for name in ("epoch1.pt", "model.pt", "model.json"):
        assert after[name] == before[name], name
    assert "epoch2.pt" not in after and faults.temporaries(exp) == []


def test_full_disk_in_a_dump_job_names_the_ark_and_spares_the_other_job(tiny_dump: Path,
                                                                        tmp_path: Path, faults,
                                                                        one_thread):
    data, out = tmp_path / "data", tmp_path / "dump"
    shutil.copytree(tiny_dump.parent / "data" / "ssl_train", data)
    split_data_dir(data, 2)
    config = str(tiny_dump.parent / "dump.yaml")
    assert dump_cli.main(["--config", config, "--data-dir", str(data / "split2" / "1"),
                          "--out-dir", str(out), "--job", "1"]) == 0
    job1 = faults.file_bytes(out)
    cmd = faults.module_cmd("xmodal.bin.dump", "--config", config, "--data-dir",
                            str(data / "split2" / "2"), "--out-dir", str(out), "--job", "2")
    proc = run(cmd, faults.file_size_limit(100_000))  # one utterance's faces: ~200 kB
    job2 = JobOutputs(out, 2)
    assert_clear_error(proc, "dump job 2", str(job2.faces_ark), "File too large")
    assert faults.file_bytes(out) == job1 and faults.temporaries(out) == []
    with pytest.raises(DumpError, match="dump job 2 did not complete"):
        merge_dump(data, out, 2)


def test_full_disk_while_merging_embeddings_keeps_the_merged_files(tiny_dump: Path,
                                                                   tiny_exp: Path,
                                                                   tmp_path: Path, faults,
                                                                   one_thread):
    dump, out = tmp_path / "dump", tmp_path / "emb"
    shutil.copytree(tiny_dump / "ssl_test", dump)
    split_data_dir(dump, 2)
    model = load_pretrained(tiny_exp)[0]
    for job in (1, 2):
        extract_embeddings(model, dump, out, job, dump / "split2" / str(job))
    merge_embeddings(out, 2, dump)
    before = faults.file_bytes(out)
    merged = EmbeddingFiles(out)
    limit = faults.file_size_limit(merged.ark("identity").stat().st_size // 2)
    proc = run(faults.module_cmd("xmodal.bin.merge_embeddings", "--out-dir", str(out),
                                 "--num-jobs", "2", "--data-dir", str(dump), "--force"), limit)
    assert_clear_error(proc, str(merged.ark("identity")), "File too large")
    assert not is_done(out)  # the set is not taken as complete ...
    after = faults.file_bytes(out)
    assert after == {name: data for name, data in before.items() if name != ".done"}  # ... intact


def test_full_disk_in_extraction_names_the_ark(tiny_dump: Path, tiny_exp: Path,
                                               tmp_path: Path, faults):
    out = tmp_path / "emb"
    proc = run(faults.module_cmd("xmodal.bin.extract", "--exp-dir", str(tiny_exp),
                                 "--feats-dir", str(tiny_dump / "ssl_test"), "--out-dir",
                                 str(out)), faults.file_size_limit(300))
    assert_clear_error(proc, str(out / "identity.ark"), "File too large")
    assert not is_done(out) and faults.temporaries(out) == []


def test_read_only_dump_dir_is_left_untouched(tiny_dump: Path, tmp_path: Path, faults,
                                              read_only, capsys):
    out = tmp_path / "dump"
    shutil.copytree(tiny_dump / "ssl_test", out)
    before = faults.file_bytes(out)
    read_only(out)
    data = tiny_dump.parent / "data" / "ssl_test"
    proc = run(faults.module_cmd("xmodal.bin.dump", "--config", str(tiny_dump.parent / "dump.yaml"),
                                 "--data-dir", str(data), "--out-dir", str(out), "--job", "1",
                                 "--force"), faults.obey_permissions)
    assert_clear_error(proc, "dump job 1", str(out), "Permission denied")
    assert faults.file_bytes(out) == before
    assert merge_dump_cli.main(["--data-dir", str(data), "--out-dir", str(out),
                                "--num-jobs", "1"]) == 0  # still complete: nothing to redo
    assert "is complete (.done); skipping" in capsys.readouterr().err
