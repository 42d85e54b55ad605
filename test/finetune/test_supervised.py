"""The supervised baseline for real on the tiny corpus's dumped features (3 speakers x 2)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from xmodal.config import load_config
from xmodal.finetune.npair_layer import FinetuneError
from xmodal.finetune.supervised import (CropBatchSampler, CropDataset, LabelledUtterances,
                                        SupervisedConfig, SupervisedNetwork, train_supervised)
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import load_checkpoint
from xmodal.train.pretrained import load_pretrained

TINY_MODEL = ModelConfig(width=0.125, face_size=32, embed_dim=32, head_hidden=32, trunk_dim=32)
TINY = SupervisedConfig(model=TINY_MODEL, crop_frames=64, batch_size=4, steps_per_epoch=2,
                        epochs=2, lr=0.05, num_workers=0, seed=3)


# Tiny tensors: one intra-op thread is much faster than several on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def train_dir(tiny_dump: Path) -> Path:
    return tiny_dump / "ssl_train"


def test_cli_writes_an_experiment_load_pretrained_reads(train_dir: Path, tmp_path: Path):
    conf = tmp_path / "supervised.yaml"
    conf.write_text(yaml.safe_dump(dataclasses.asdict(
        dataclasses.replace(TINY, num_workers=1))))
    exp = tmp_path / "exp"
    args = [sys.executable, "-m", "xmodal.bin.train_supervised", "--config", str(conf),
            "--feats-dir", str(train_dir), "--utt2spk", str(train_dir / "utt2spk"),
            "--output-dir", str(exp), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    model, train_cfg = load_pretrained(exp)
    assert train_cfg.model == TINY_MODEL
    assert load_config(exp / "supervised.yaml", SupervisedConfig).num_workers == 1
    epochs = [json.loads(line) for line in (exp / "train_log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2]
    feats = kaldiio.load_scp(str(train_dir / "feats.scp"))
    first = next(iter(feats))
    emb = model.embed_utterance(torch.from_numpy(np.array(feats[first]))[None])
    assert emb.shape == (TINY_MODEL.embed_dim,) and torch.isfinite(emb).all()

    # A finished run is kept: the second call is a no-op.
    mtime = (exp / "model.pt").stat().st_mtime_ns
    assert train_supervised(TINY, train_dir, train_dir / "utt2spk", exp) is False
    assert (exp / "model.pt").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("loss", ["softmax", "npair"])
def test_loss_falls_when_overfitting_one_batch(train_dir: Path, loss: str):
    data = LabelledUtterances.load(train_dir, train_dir / "utt2spk")
    dataset = CropDataset(data, 64)
    # npair batches are anchors then positives: utterances 0, 2, 4 then 1, 3, 5.
    order = [0, 1, 2, 3, 4, 5] if loss == "softmax" else [0, 2, 4, 1, 3, 5]
    items = [dataset[(i, 0)] for i in order]
    feats = torch.stack([f for f, _ in items])
    labels = torch.tensor([label for _, label in items])
    torch.manual_seed(0)
    network = SupervisedNetwork(dataclasses.replace(TINY, loss=loss), len(data.speakers))
    optimizer = torch.optim.SGD(network.trainable_parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(15):
        value, _ = network(feats, labels)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        losses.append(float(value.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_same_seed_same_weights_and_visual_stream_untouched(train_dir: Path, tmp_path: Path):
    cfg = dataclasses.replace(TINY, loss="npair")
    utt2spk = train_dir / "utt2spk"
    for name, run_cfg in (("a", cfg), ("b", cfg), ("c", dataclasses.replace(cfg, seed=4))):
        assert train_supervised(run_cfg, train_dir, utt2spk, tmp_path / name, "cpu")
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


def test_short_utterances_are_tiled(train_dir: Path):
    data = LabelledUtterances.load(train_dir, train_dir / "utt2spk")
    feats = np.array(kaldiio.load_scp(str(train_dir / "feats.scp"))[data.keys[0]])
    crop, label = CropDataset(data, 2 * len(feats) + 40)[(0, 5)]
    assert crop.shape == (2 * len(feats) + 40, feats.shape[1]) and label == data.labels[0]
    offset = int(np.flatnonzero((feats == crop[0].numpy()).all(axis=1))[0])
    expected = feats[(offset + np.arange(len(crop))) % len(feats)]
    assert np.array_equal(crop.numpy(), expected)


def test_npair_batches_pair_distinct_speakers(train_dir: Path):
    data = LabelledUtterances.load(train_dir, train_dir / "utt2spk")
    sampler = CropBatchSampler(data.labels, "npair", batch_size=8, steps=20, seed=0)
    for batch in sampler:
        utts = [u for u, _ in batch]
        assert len(utts) == 6  # capped at the 3 speakers
        anchors, positives = utts[:3], utts[3:]
        assert len({data.labels[u] for u in anchors}) == 3
        assert all(data.labels[a] == data.labels[p] and a != p
                   for a, p in zip(anchors, positives))


def test_utterance_without_features_is_named(train_dir: Path, tmp_path: Path):
    utt2spk = tmp_path / "utt2spk"
    first = (train_dir / "utt2spk").read_text().splitlines()[0]
    utt2spk.write_text(f"{first}\nzz/ghost/00001 id00009\n")
    with pytest.raises(FinetuneError, match=r"utt2spk:2: utterance 'zz/ghost/00001' has no "
                                            r"features"):
        train_supervised(TINY, train_dir, utt2spk, tmp_path / "exp")
    assert not (tmp_path / "exp").exists()
