"""The trainer for real on the tiny corpus: resume equals a straight run; two torchrun nodes
compute what one process does."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import load_checkpoint

def train(config: Path, dump: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmodal.bin.train", "--config", str(config),
                           "--train-dir", str(dump / "ssl_train"), "--valid-dir",
                           str(dump / "ssl_test"), "--output-dir", str(out), "--device", "cpu",
                           *extra], capture_output=True, text=True)


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)
    return {**{f"model.{k}": v for k, v in state["model"].items()},
            **{f"adv.{k}": v for k, v in state["auxiliary"].items()},
            **{f"obj.{k}": v for k, v in state["objective"].items()}}


def test_resume_gives_the_weights_of_an_uninterrupted_run(tiny_dump: Path, tmp_path: Path,
                                                          train_config):
    straight = train(train_config(tmp_path / "two.yaml"), tiny_dump, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    first = train(train_config(tmp_path / "one.yaml", optim__epochs=1), tiny_dump, tmp_path / "cut")
    assert first.returncode == 0, first.stderr
    resumed = train(train_config(tmp_path / "two.yaml"), tiny_dump, tmp_path / "cut", "--resume")
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


def test_existing_run_is_not_overwritten_without_resume(tiny_dump: Path, tmp_path: Path,
                                                        train_config):
    config = train_config(tmp_path / "c.yaml", optim__epochs=1, data__batches_per_epoch=1)
    assert train(config, tiny_dump, tmp_path / "x").returncode == 0
    again = train(config, tiny_dump, tmp_path / "x")
    assert again.returncode == 1 and "--resume" in again.stderr


def test_config_errors_name_the_key(tiny_dump: Path, tmp_path: Path, train_config):
    bad = tmp_path / "bad.yaml"
    tiny = yaml.safe_load(train_config(bad).read_text())
    bad.write_text(yaml.safe_dump({**tiny, "optim": {**tiny["optim"], "lr_decy": 0.9}}))
    proc = train(bad, tiny_dump, tmp_path / "y")
    assert proc.returncode == 1 and "optim.lr_decy" in proc.stderr
    bad.write_text(yaml.safe_dump({**tiny, "loss": {**tiny["loss"], "similarity": "dot"}}))
    proc = train(bad, tiny_dump, tmp_path / "y")
    assert proc.returncode == 1 and "loss.similarity" in proc.stderr
    assert not (tmp_path / "y").exists()


def test_adam_and_a_seed_override(tiny_dump: Path, tmp_path: Path, train_config):
    """optim.name picks the optimiser (its state is what the checkpoint keeps); --seed
    replaces the config's seed, is recorded in config.yaml and changes the initial weights."""
    config = train_config(tmp_path / "adam.yaml", optim__epochs=1, data__batches_per_epoch=1,
                          optim__name="adam", optim__lr=1e-3)
    runs = {}
    for seed in ("0", "5"):
        proc = train(config, tiny_dump, tmp_path / seed, "--seed", seed)
        assert proc.returncode == 0, proc.stderr
        runs[seed] = load_checkpoint(tmp_path / seed / "epoch1.pt")
        assert yaml.safe_load((tmp_path / seed / "config.yaml").read_text())["seed"] == int(seed)
    assert "exp_avg_sq" in next(iter(runs["0"]["optimizer"]["state"].values()))  # Adam's
    key = "audio_trunk.layers.0.weight"
    assert not torch.equal(runs["0"]["model"][key], runs["5"]["model"][key])
    bad = train(train_config(tmp_path / "bad.yaml", optim__name="adagrad"), tiny_dump,
                tmp_path / "bad")
    assert bad.returncode == 1 and "optim.name must be one of ('sgd', 'adam')" in bad.stderr


def test_confusion_warmup_and_adversary_steps(tiny_dump: Path, tmp_path: Path, train_config):
    """No confusion term during the warm-up epochs, though its adversaries train; with
    adversary_steps k, the adversaries are updated k times per model update."""
    config = train_config(tmp_path / "w.yaml", optim__epochs=2, data__batches_per_epoch=2,
                          optim__name="adam", optim__lr=1e-3, loss__confusion_warmup_epochs=1,
                          loss__adversary_steps=3)
    proc = train(config, tiny_dump, tmp_path / "w")
    assert proc.returncode == 0, proc.stderr
    log = [json.loads(line) for line in (tmp_path / "w" / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["train"]["confusion_loss"] == 0.0 < log[1]["train"]["confusion_loss"]
    assert log[0]["train"]["adversary_loss"] > 0.0
    state = load_checkpoint(tmp_path / "w" / "epoch2.pt")
    steps = {int(v["step"]) for v in state["auxiliary_optimizer"]["state"].values()}
    model_steps = {int(v["step"]) for v in state["optimizer"]["state"].values()}
    assert model_steps == {4} and steps == {3 * 4}
    bad = train(train_config(tmp_path / "bad.yaml", loss__adversary_steps=0), tiny_dump,
                tmp_path / "bad")
    assert bad.returncode == 1 and "loss.adversary_steps >= 1" in bad.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_train_cmd(launcher: list[str], cfg: Path, dump: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*launcher, "-m", "xmodal.bin.train", "--config", str(cfg), "--train-dir",
         str(dump / "ssl_train"), "--valid-dir", str(dump / "ssl_test"), "--output-dir", str(out),
         "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})


def finish(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]


@pytest.mark.parametrize("loss", [{"content": True, "identity": False, "disentangle": False},
                                  {"content": True, "identity": True, "disentangle": True}])
def test_two_nodes_compute_what_one_process_does(tiny_dump: Path, tmp_path: Path, train_config,
                                                loss: dict):
    """Two torchrun "nodes" on localhost (c10d rendezvous, 1 process each) split the global
    batch and end with the weights of a single process that trained on the whole batch."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    # One step (SGD with momentum, adversary step, checkpoint, model.pt): the two runs sum in
    # different orders, and on a 4-track batch each further step amplifies that float noise
    # ~50x (content only) to ~1000x (with the confusion loss), measured against the same
    # run with another thread count; a longer run would drift apart however exact the code.
    cfg = train_config(tmp_path / "ddp.yaml", optim__epochs=1,
                       data__batches_per_epoch=1, data__num_workers=0,
                       **{f"loss__{k}": v for k, v in loss.items()})
    single = run_train_cmd([sys.executable], cfg, tiny_dump, tmp_path / "single")
    finish(single)
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [run_train_cmd([torchrun, "--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d",
                            f"--rdzv_endpoint={endpoint}", f"--rdzv_id=test-{endpoint}",
                            f"--node_rank={rank}"], cfg, tiny_dump, tmp_path / "nodes")
             for rank in (0, 1)]
    for node in nodes:
        finish(node)
    entry = json.loads((tmp_path / "nodes" / "train_log.jsonl").read_text().splitlines()[-1])
    sums = entry["rank_param_sums"]
    assert len(sums) == 2 and sums[0] == sums[1]
    one = load_checkpoint(tmp_path / "single" / "model.pt")["model"]
    two = load_checkpoint(tmp_path / "nodes" / "model.pt")["model"]
    tiny = yaml.safe_load(cfg.read_text())
    torch.manual_seed(tiny["seed"])
    initial = TwoStreamModel(ModelConfig(**tiny["model"])).state_dict()
    learnt = [k for k in one if one[k].is_floating_point() and "running" not in k]

    def distance(a: dict, b: dict) -> float:
        return sum(float((a[k].double() - b[k].double()).norm()) ** 2 for k in learnt) ** 0.5

    gap, moved = distance(one, two), distance(one, initial)
    assert moved > 0.1 and gap < 1e-4 * moved, (gap, moved)
    logs = [json.loads((tmp_path / d / "train_log.jsonl").read_text().splitlines()[-1])["train"]
            for d in ("single", "nodes")]
    for key in logs[0]:
        assert logs[1][key] == pytest.approx(logs[0][key], rel=1e-3, abs=1e-4), key


def test_global_batch_must_split_evenly(tiny_dump: Path, tmp_path: Path, train_config):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    cfg = train_config(tmp_path / "odd.yaml", optim__epochs=1, data__batch_size=3,
                       data__num_workers=0)
    proc = run_train_cmd([torchrun, "--standalone", "--nproc_per_node=2"], cfg, tiny_dump,
                         tmp_path / "odd")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert ("data.batch_size: a global batch of 3 tracks cannot be split evenly over 2 "
            "processes; with 2 processes use 2 or 4") in output
