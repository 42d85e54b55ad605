"""SIGKILL during training, then ``--resume``: the weights of a run that was never stopped.

``python -m xmodal.bin.train`` is killed at seeded-random moments: within an epoch's time
after epoch 1 was saved, then while the checkpoint of a later epoch is being written (its
temporary file has appeared in the experiment dir; that lasts 10-30 ms here, the directory
is polled every 0.2 ms). After every kill each ``epochN.pt`` present must be complete (equal
to the uninterrupted run's); the resumed run must start from the last complete one, never
from a partial file.
"""
from __future__ import annotations

import json

import random
import subprocess
import time
from pathlib import Path

import pytest
import torch

from xmodal.train.checkpoint import completed_epochs, load_checkpoint

EPOCHS = 3


def assert_same(a, b, where: str) -> None:
    """``a`` and ``b`` are equal; tensors bit for bit (``torch.equal``, same dtype)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def being_written(exp: Path, name: str) -> list[Path]:
    """The temporary files ``name`` is being written under (``xmodal.atomic`` names them)."""
    return sorted(exp.glob(f".{name}.*.tmp"))


def assert_checkpoints_complete(exp: Path, reference: Path) -> None:
    """Every checkpoint under its final name equals the uninterrupted run's."""
    names = [f"epoch{e}.pt" for e in completed_epochs(exp)]
    names += ["model.pt"] if (exp / "model.pt").exists() else []
    for name in names:
        assert_same(load_checkpoint(exp / name), load_checkpoint(reference / name), name)


@pytest.fixture(scope="module")
def straight(tiny_dump: Path, tmp_path_factory, faults) -> Path:
    """The uninterrupted run."""
    root = tmp_path_factory.mktemp("straight")
    config = faults.train_config(root / "train.yaml", epochs=EPOCHS)
    proc = subprocess.run(faults.train_cmd(config, tiny_dump, root / "exp"),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert completed_epochs(root / "exp") == list(range(1, EPOCHS + 1))
    return root / "exp"


def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(
        tiny_dump: Path, straight: Path, tmp_path: Path, faults):
    rng = random.Random(20261130)
    config = faults.train_config(tmp_path / "train.yaml", epochs=EPOCHS)
    exp = tmp_path / "exp"
    logs = iter(tmp_path / f"run{i}.log" for i in range(1, 4))

    def start(*extra: str) -> tuple[subprocess.Popen, Path]:
        log = next(logs)
        return faults.start(faults.train_cmd(config, tiny_dump, exp, *extra), log), log

    # 1. A random moment within an epoch's time after epoch 1 was saved.
    saved = [(straight / f"epoch{epoch}.pt").stat().st_mtime for epoch in (1, 2)]
    proc, _ = start()
    faults.wait_for(lambda: (exp / "epoch1.pt").exists(), proc, "epoch1.pt was written")
    # The straight run's epoch time is only a guide (the machine's load changes): the kill
    # comes at the drawn moment or when epoch 2's checkpoint starts, whichever is first.
    deadline = time.monotonic() + rng.uniform(0.0, saved[1] - saved[0])
    while time.monotonic() < deadline and not being_written(exp, "epoch2.pt"):
        time.sleep(0.0002)
    faults.sigkill(proc)
    assert_checkpoints_complete(exp, straight)
    last = completed_epochs(exp)[-1]
    assert last < EPOCHS, "killed too late: every epoch was already saved"

    # 2. While the checkpoint of a random later epoch is being written (1. may have left one).
    target = rng.randint(last + 1, EPOCHS)
    left = being_written(exp, f"epoch{target}.pt")
    proc, log = start("--resume")
    faults.wait_for(lambda: being_written(exp, f"epoch{target}.pt") != left, proc,
                    f"epoch{target}.pt was being written")
    faults.sigkill(proc)
    assert f"resuming from {exp / f'epoch{last}.pt'}" in log.read_text()
    assert being_written(exp, f"epoch{target}.pt") != left
    assert not (exp / f"epoch{target}.pt").exists()
    assert_checkpoints_complete(exp, straight)

    # 3. To the end, from the last complete checkpoint: the partial one is not picked up.
    proc, log = start("--resume")
    assert proc.wait() == 0, log.read_text()[-3000:]
    assert f"resuming from {exp / f'epoch{target - 1}.pt'}" in log.read_text()
    assert completed_epochs(exp) == list(range(1, EPOCHS + 1))
    assert_checkpoints_complete(exp, straight)
    final, reference = load_checkpoint(exp / "model.pt"), load_checkpoint(straight / "model.pt")
    assert final["model"].keys() == reference["model"].keys()
    for key, tensor in reference["model"].items():
        assert torch.equal(final["model"][key], tensor), key
    # Killed writes leave no temporary files behind once the run is complete.
    assert faults.temporaries(exp) == []
    # The training curve has each epoch once: the killed epoch was logged only when redone.
    logged = [json.loads(line)["epoch"] for line in (exp / "train_log.jsonl").read_text().splitlines()]
    assert logged == list(range(1, EPOCHS + 1))
