"""The trainer for real on the tiny corpus: resume equals a straight run, DDP ranks agree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xmodal.train.checkpoint import load_checkpoint

TINY = {
    "model": {"width": 0.125, "face_size": 32, "face_channels": 3, "n_mels": 40,
              "embed_dim": 32, "head_hidden": 32, "trunk_dim": 32},
    "data": {"n_frames": 12, "batch_size": 4, "batches_per_epoch": 3, "valid_batches": 2,
             "num_workers": 1},
    "optim": {"epochs": 2, "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-5, "lr_decay": 0.9,
              "adversary_lr": 0.05},
    "loss": {"content": True, "identity": True, "disentangle": True, "alpha": 1.0,
             "similarity": "cosine", "adversary_dim": 16},
    "seed": 3,
    "average_last": 2,
}


def write_config(path: Path, **overrides) -> Path:
    cfg = json.loads(json.dumps(TINY))
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        cfg[section][key] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


def train(config: Path, dump: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmodal.bin.train", "--config", str(config),
                           "--train-dir", str(dump / "ssl_train"), "--valid-dir",
                           str(dump / "ssl_test"), "--output-dir", str(out), "--device", "cpu",
                           *extra], capture_output=True, text=True)


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)
    return {**{f"model.{k}": v for k, v in state["model"].items()},
            **{f"adv.{k}": v for k, v in state["adversaries"].items()},
            **{f"obj.{k}": v for k, v in state["objective"].items()}}


def test_resume_gives_the_weights_of_an_uninterrupted_run(tiny_dump: Path, tmp_path: Path):
    straight = train(write_config(tmp_path / "two.yaml"), tiny_dump, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    first = train(write_config(tmp_path / "one.yaml", optim__epochs=1), tiny_dump, tmp_path / "cut")
    assert first.returncode == 0, first.stderr
    resumed = train(write_config(tmp_path / "two.yaml"), tiny_dump, tmp_path / "cut", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "straight" / "epoch2.pt"), weights(tmp_path / "cut" / "epoch2.pt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # The training curve is reproduced too, and the log says what a user needs to see.
    logs = [[json.loads(line) for line in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]
            for d in ("straight", "cut")]
    assert [e["train"] for e in logs[0]] == [e["train"] for e in logs[1]]
    for key in ("content_acc", "identity_acc", "leak_content_in_identity_acc", "adversary_loss"):
        assert key in logs[0][-1]["train"]
    assert (tmp_path / "straight" / "model.pt").exists()
    assert json.loads((tmp_path / "straight" / "model.json").read_text())["averaged_epochs"] == [1, 2]
    saved = yaml.safe_load((tmp_path / "straight" / "config.yaml").read_text())
    assert saved["loss"]["disentangle"] is True and saved["data"]["n_frames"] == 12
    assert list((tmp_path / "straight" / "tensorboard").iterdir())


def test_existing_run_is_not_overwritten_without_resume(tiny_dump: Path, tmp_path: Path):
    config = write_config(tmp_path / "c.yaml", optim__epochs=1, data__batches_per_epoch=1)
    assert train(config, tiny_dump, tmp_path / "x").returncode == 0
    again = train(config, tiny_dump, tmp_path / "x")
    assert again.returncode == 1 and "--resume" in again.stderr


def test_config_errors_name_the_key(tiny_dump: Path, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "optim": {**TINY["optim"], "lr_decy": 0.9}}))
    proc = train(bad, tiny_dump, tmp_path / "y")
    assert proc.returncode == 1 and "optim.lr_decy" in proc.stderr
    bad.write_text(yaml.safe_dump({**TINY, "loss": {**TINY["loss"], "similarity": "dot"}}))
    proc = train(bad, tiny_dump, tmp_path / "y")
    assert proc.returncode == 1 and "loss.similarity" in proc.stderr
    assert not (tmp_path / "y").exists()


@pytest.mark.parametrize("loss", [{"content": True, "identity": False, "disentangle": False},
                                  {"content": True, "identity": True, "disentangle": True}])
def test_torchrun_two_ranks_stay_in_sync(tiny_dump: Path, tmp_path: Path, loss: dict):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    cfg = write_config(tmp_path / "ddp.yaml", optim__epochs=1, data__batches_per_epoch=4,
                       data__num_workers=0, **{f"loss__{k}": v for k, v in loss.items()})
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "xmodal.bin.train",
         "--config", str(cfg), "--train-dir", str(tiny_dump / "ssl_train"),
         "--valid-dir", str(tiny_dump / "ssl_test"), "--output-dir", str(tmp_path / "ddp"),
         "--device", "cpu"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    entry = json.loads((tmp_path / "ddp" / "train_log.jsonl").read_text().splitlines()[-1])
    sums = entry["rank_param_sums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    assert entry["samples_per_s"] > 0 and (tmp_path / "ddp" / "model.pt").exists()
