"""The supervised baseline on the one trainer, for real on the tiny corpus's dumped features
(3 speakers x 2 utterances): CLI, resume, DDP, batches, and what it trains."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from xmodal.config import ConfigError
from xmodal.data.datadir import DataDirError
from xmodal.methods import load_pretrained, load_run_config
from xmodal.methods.supervised import (CropBatchSampler, CropDataset, LabelledUtterances,
                                       SupervisedConfig, SupervisedData, SupervisedLoss,
                                       SupervisedNetwork)
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import load_checkpoint
from xmodal.train.config import OptimConfig
from xmodal.train.method import TrainingData
from xmodal.train.trainer import train

TINY_MODEL = ModelConfig(width=0.125, face_size=32, embed_dim=32, head_hidden=32, trunk_dim=32)
TINY = SupervisedConfig(model=TINY_MODEL,
                        data=SupervisedData(crop_frames=64, batch_size=4, batches_per_epoch=2,
                                            num_workers=0),
                        optim=OptimConfig(epochs=2, lr=0.05), seed=3)


# Tiny tensors: one intra-op thread is much faster than several on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def train_dir(tiny_dump: Path) -> Path:
    return tiny_dump / "ssl_train"


def write(cfg: SupervisedConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    return path


def run_train(launcher: list[str], config: Path, train_dir: Path, out: Path,
              *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*launcher, "-m", "xmodal.bin.train", "--config", str(config), "--train-dir",
         str(train_dir), "--utt2spk", str(train_dir / "utt2spk"), "--output-dir", str(out),
         "--device", "cpu", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})


def finish(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]
    return output


def test_cli_trains_an_experiment_that_extraction_reads(train_dir: Path, tmp_path: Path):
    config = write(dataclasses.replace(TINY, data=dataclasses.replace(TINY.data, num_workers=1)),
                   tmp_path / "supervised.yaml")
    exp = tmp_path / "exp"
    output = finish(run_train([sys.executable], config, train_dir, exp))
    assert "training supervised on cpu" in output
    model, cfg = load_pretrained(exp)
    assert isinstance(cfg, SupervisedConfig) and cfg.model == TINY_MODEL
    assert cfg.data.num_workers == 1
    epochs = [json.loads(line) for line in (exp / "train_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert set(epochs[0]["train"]) == {"loss", "accuracy"} and epochs[0]["valid"] == {}
    feats = kaldiio.load_scp(str(train_dir / "feats.scp"))
    first = next(iter(feats))
    emb = model.embed_utterance(torch.from_numpy(np.array(feats[first]))[None])
    assert emb.shape == (TINY_MODEL.embed_dim,) and torch.isfinite(emb).all()
    # A finished run is kept: --resume is then a no-op.
    mtime = (exp / "model.pt").stat().st_mtime_ns
    finish(run_train([sys.executable], config, train_dir, exp, "--resume"))
    assert (exp / "model.pt").stat().st_mtime_ns == mtime


def test_resume_gives_the_weights_of_an_uninterrupted_run(train_dir: Path, tmp_path: Path):
    two = write(TINY, tmp_path / "two.yaml")
    one = write(dataclasses.replace(TINY, optim=dataclasses.replace(TINY.optim, epochs=1)),
                tmp_path / "one.yaml")
    finish(run_train([sys.executable], two, train_dir, tmp_path / "straight"))
    finish(run_train([sys.executable], one, train_dir, tmp_path / "cut"))
    finish(run_train([sys.executable], two, train_dir, tmp_path / "cut", "--resume"))
    a, b = (load_checkpoint(tmp_path / d / "epoch2.pt") for d in ("straight", "cut"))
    for part in ("model", "objective"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert "classifier.weight" in a["objective"]  # the classifier is resumed too


@pytest.mark.parametrize("loss", ["softmax", "npair"])
def test_two_processes_compute_what_one_does(train_dir: Path, tmp_path: Path, loss: str):
    """torchrun with 2 processes splits each global batch (whole pairs for n-pair, whose loss
    gathers them back) and ends with the weights one process reaches."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    cfg = dataclasses.replace(TINY, loss=SupervisedLoss(kind=loss),
                              optim=dataclasses.replace(TINY.optim, epochs=1))
    config = write(cfg, tmp_path / "ddp.yaml")
    finish(run_train([sys.executable], config, train_dir, tmp_path / "one"))
    finish(run_train([torchrun, "--standalone", "--nproc_per_node=2"], config, train_dir,
                     tmp_path / "two"))
    one = load_checkpoint(tmp_path / "one" / "model.pt")["model"]
    two = load_checkpoint(tmp_path / "two" / "model.pt")["model"]
    torch.manual_seed(cfg.seed)
    initial = TwoStreamModel(TINY_MODEL).state_dict()
    learnt = [k for k in one if k.startswith(("audio_trunk.", "audio_identity."))
              and one[k].is_floating_point() and "running" not in k]

    def distance(a: dict, b: dict) -> float:
        return sum(float((a[k].double() - b[k].double()).norm()) ** 2 for k in learnt) ** 0.5

    gap, moved = distance(one, two), distance(one, initial)
    assert moved > 0.01 and gap < 1e-4 * moved, (gap, moved)


def test_same_seed_same_weights_and_visual_stream_untouched(train_dir: Path, tmp_path: Path):
    cfg = dataclasses.replace(TINY, loss=SupervisedLoss(kind="npair"))
    data = TrainingData(train_dir, utt2spk=train_dir / "utt2spk")
    method, _ = load_run_config(write(cfg, tmp_path / "c.yaml"))
    for name, run_cfg in (("a", cfg), ("b", cfg), ("c", dataclasses.replace(cfg, seed=4))):
        train(method, run_cfg, data, tmp_path / name, device="cpu")
    a, b, c = (load_checkpoint(tmp_path / n / "model.pt")["model"] for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.allclose(a["audio_identity.layers.3.weight"],
                              c["audio_identity.layers.3.weight"])

    torch.manual_seed(cfg.seed)
    init = TwoStreamModel(cfg.model).state_dict()
    for key in init:
        unchanged = torch.equal(a[key], init[key])
        if key.startswith(("visual_", "audio_content.")):
            assert unchanged, f"{key} was trained"
        elif key.endswith(".weight") and a[key].dim() > 1:
            assert not unchanged, f"{key} was not trained"


@pytest.mark.parametrize("loss", ["softmax", "npair"])
def test_loss_falls_when_overfitting_one_batch(train_dir: Path, loss: str):
    data = LabelledUtterances.load(train_dir, train_dir / "utt2spk")
    dataset = CropDataset(data, 64)
    # npair batches are anchors then positives: utterances 0, 2, 4 then 1, 3, 5.
    order = [0, 1, 2, 3, 4, 5] if loss == "softmax" else [0, 2, 4, 1, 3, 5]
    items = [dataset[(i, 0)] for i in order]
    batch = (torch.stack([f for f, _ in items]), torch.tensor([label for _, label in items]))
    torch.manual_seed(0)
    network = SupervisedNetwork(dataclasses.replace(TINY, loss=SupervisedLoss(kind=loss)),
                                len(data.speakers))
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(15):
        terms, _ = network(batch, torch.Generator())
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(float(terms["loss"].detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_short_utterances_are_tiled(train_dir: Path):
    data = LabelledUtterances.load(train_dir, train_dir / "utt2spk")
    feats = np.array(kaldiio.load_scp(str(train_dir / "feats.scp"))[data.keys[0]])
    crop, label = CropDataset(data, 2 * len(feats) + 40)[(0, 5)]
    assert crop.shape == (2 * len(feats) + 40, feats.shape[1]) and label == data.labels[0]
    offset = int(np.flatnonzero((feats == crop[0].numpy()).all(axis=1))[0])
    expected = feats[(offset + np.arange(len(crop))) % len(feats)]
    assert np.array_equal(crop.numpy(), expected)


def test_npair_batches_pair_distinct_speakers_and_ranks_take_whole_pairs(train_dir: Path):
    data = LabelledUtterances.load(train_dir, train_dir / "utt2spk")
    sampler = CropBatchSampler(data.labels, "npair", batch_size=8, steps=20, seed=0)
    for batch in sampler:
        utts = [u for u, _ in batch]
        assert len(utts) == 6  # capped at the 3 speakers
        anchors, positives = utts[:3], utts[3:]
        assert len({data.labels[u] for u in anchors}) == 3
        assert all(data.labels[a] == data.labels[p] and a != p
                   for a, p in zip(anchors, positives))
    # Two ranks of a 2-pair batch: each gets one whole pair; together, the global batch.
    ranks = [CropBatchSampler(data.labels, "npair", 4, 5, 0, rank, 2) for rank in (0, 1)]
    whole = CropBatchSampler(data.labels, "npair", 4, 5, 0)
    for index, (r0, r1) in enumerate(zip(*ranks)):
        glob = whole.batch(index)
        assert r0 == [glob[0], glob[2]] and r1 == [glob[1], glob[3]]
    with pytest.raises(ValueError, match="3 anchor-positive pairs cannot be split evenly over 2 "
                       "processes; with 2 processes use 2 or 4"):
        CropBatchSampler(data.labels, "npair", 8, 5, 0, 0, 2)


def test_utterance_without_features_is_named(train_dir: Path, tmp_path: Path):
    utt2spk = tmp_path / "utt2spk"
    first = (train_dir / "utt2spk").read_text().splitlines()[0]
    utt2spk.write_text(f"{first}\nzz/ghost/00001 id00009\n")
    method, _ = load_run_config(write(TINY, tmp_path / "c.yaml"))
    with pytest.raises(DataDirError, match=r"utt2spk:2: utterance 'zz/ghost/00001' has no "
                                           r"features"):
        train(method, TINY, TrainingData(train_dir, utt2spk=utt2spk), tmp_path / "exp")
    assert not (tmp_path / "exp").exists()


def test_an_old_format_config_says_what_to_change(tmp_path: Path):
    old = tmp_path / "supervised.yaml"
    old.write_text("model: {width: 0.125}\ncrop_frames: 160\nbatch_size: 32\n"
                   "steps_per_epoch: 15\nlr: 0.05\nloss: softmax\n")
    with pytest.raises(ConfigError, match=r"add 'method: supervised'.*crop_frames -> "
                                          r"data.crop_frames.*steps_per_epoch -> "
                                          r"data.batches_per_epoch.*loss -> loss.kind"):
        load_run_config(old)
    # The recipes' own configs are of the new format.
    repo = Path(__file__).resolve().parents[2]
    for path in repo.glob("egs/*/v1/conf/**/supervised.yaml"):
        method, cfg = load_run_config(path)
        assert method.name == "supervised" and isinstance(cfg, SupervisedConfig), path
