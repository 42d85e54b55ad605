"""Re-running a finished stage changes nothing; ``--force`` redoes it.

Tools skip output that is marked complete (``.done`` of a dump or embedding dir; for training
the final ``model.pt`` of all configured epochs, recorded in ``model.json``). Redone output
is written afresh, with the same content: the tests backdate the files first, so a rewritten
file is one whose modification time is new.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from xmodal.bin import dump as dump_cli
from xmodal.bin import extract as extract_cli
from xmodal.bin import merge_dump as merge_dump_cli
from xmodal.bin import train as train_cli


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``directory``: (modification time in ns, content)."""
    return {str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(directory.rglob("*")) if p.is_file()}


def backdate(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Set every file's modification time to 1970; return the snapshot."""
    for path in directory.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(0, 0))
    return snapshot(directory)


def assert_rewritten(before: dict, after: dict, names: list[str]) -> None:
    """The named (backdated) files were written again, with the same content."""
    for name in names:
        assert after[name][0] != before[name][0], f"{name} was not rewritten"
        assert after[name][1] == before[name][1], name


def test_dump_and_merge_skip_a_finished_set_and_force_redoes_them(tiny_dump: Path,
                                                                  tmp_path: Path, capsys,
                                                                  one_thread):
    data, out = tmp_path / "data", tmp_path / "dump"
    shutil.copytree(tiny_dump.parent / "data" / "ssl_test", data)
    dump = ["--config", str(tiny_dump.parent / "dump.yaml"), "--data-dir", str(data),
            "--out-dir", str(out), "--job", "1"]
    merge = ["--data-dir", str(data), "--out-dir", str(out), "--num-jobs", "1"]
    assert dump_cli.main(dump) == 0 and merge_dump_cli.main(merge) == 0
    before = snapshot(out)

    assert dump_cli.main(dump) == 0 and merge_dump_cli.main(merge) == 0
    assert snapshot(out) == before
    assert capsys.readouterr().err.count(f"{out} is complete (.done); skipping") == 2

    # The job redoes its files and withdraws the set's mark until the merge.
    before = backdate(out)
    assert dump_cli.main([*dump, "--force"]) == 0
    assert not (out / ".done").exists()
    assert merge_dump_cli.main(merge) == 0
    assert_rewritten(before, snapshot(out), ["feats.1.ark", "faces.1.scp", "skipped.1",
                                             "feats.scp"])
    before = backdate(out)
    assert merge_dump_cli.main([*merge, "--force"]) == 0
    assert_rewritten(before, snapshot(out), ["feats.scp", "utt2spk", ".done"])


def test_extract_skips_a_finished_set_and_force_redoes_it(tiny_dump: Path, tiny_exp: Path,
                                                          tmp_path: Path, capsys, one_thread):
    out = tmp_path / "emb"
    extract = ["--exp-dir", str(tiny_exp), "--feats-dir", str(tiny_dump / "ssl_test"),
               "--out-dir", str(out)]
    assert extract_cli.main(extract) == 0
    before = snapshot(out)
    assert extract_cli.main(extract) == 0
    assert snapshot(out) == before
    assert f"{out} is complete (.done); skipping" in capsys.readouterr().err
    before = backdate(out)
    assert extract_cli.main([*extract, "--force"]) == 0
    assert_rewritten(before, snapshot(out), list(before))


def test_resuming_a_finished_training_run_changes_nothing(tiny_dump: Path, trained_run,
                                                          tmp_path: Path, capsys):
    exp = tmp_path / "exp"
    shutil.copytree(trained_run.exp, exp)
    before = snapshot(exp)
    args = ["--config", str(trained_run.config), "--train-dir", str(tiny_dump / "ssl_train"),
            "--valid-dir", str(tiny_dump / "ssl_test"), "--output-dir", str(exp),
            "--device", "cpu"]
    assert train_cli.main([*args, "--resume"]) == 0
    assert f"{exp} is complete (model.pt of epoch 1); skipping" in capsys.readouterr().err
    # Without --resume the run is refused; a new --output-dir trains again.
    assert train_cli.main(args) == 1
    assert "--resume" in capsys.readouterr().err
    assert snapshot(exp) == before
