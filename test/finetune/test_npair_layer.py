"""The n-pair layer on synthetic embeddings whose speaker structure a linear map hides."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from xmodal.eval.metrics import compute_eer
from xmodal.eval.scoring import l2_normalise
from xmodal.finetune.npair_layer import (FinetuneConfig, FinetuneError, SpeakerGroups,
                                         finetune, load_layer, train_layer)

DIM, SPEAKER_DIM, UTTS = 16, 4, 6
TRAIN_SPEAKERS, TEST_SPEAKERS = 25, 15
CFG = FinetuneConfig(steps=200, batch_classes=16, lr=0.05, l2_reg=0.002, seed=0)


def make_embeddings(rng: np.random.Generator, n_speakers: int, first: int) -> dict[str, np.ndarray]:
    """Speaker clusters in 4 of 16 dims under strong nuisance noise, then a random linear mix.

    Raw cosine scores are dominated by the nuisance; a linear layer can project it out.
    """
    means = rng.normal(size=(n_speakers, SPEAKER_DIM))
    mix = np.random.default_rng(99).normal(size=(DIM, DIM))  # one distortion for every set
    utts = {}
    for s in range(n_speakers):
        for u in range(UTTS):
            v = np.concatenate([means[s] + 0.3 * rng.normal(size=SPEAKER_DIM),
                                1.5 * rng.normal(size=DIM - SPEAKER_DIM)])
            utts[f"spk{first + s:02d}-u{u}"] = mix @ v
    return utts


def write_scp(path: Path, utts: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{path.with_suffix('.ark')},{path}") as writer:
        for key in sorted(utts):
            writer(key, utts[key].astype(np.float32))
    return path


def write_utt2spk(path: Path, keys) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {k.split('-')[0]}\n" for k in sorted(keys)))
    return path


def all_pairs_eer(matrix: np.ndarray, keys: list[str]) -> float:
    """EER of cosine scores over every pair of utterances (same speaker = target)."""
    x = l2_normalise(matrix)
    i, j = np.triu_indices(len(keys), 1)
    labels = np.array([keys[a].split("-")[0] == keys[b].split("-")[0] for a, b in zip(i, j)])
    return compute_eer((x @ x.T)[i, j], labels)


# Tiny tensors: one intra-op thread is much faster than several on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def sets(tmp_path):
    """EMB/spk_dev (25 speakers + one with a single utterance), EMB/spk_test (15 others)."""
    rng = np.random.default_rng(0)
    dev = make_embeddings(rng, TRAIN_SPEAKERS, 0)
    dev["spk90-u0"] = rng.normal(size=DIM)
    test = make_embeddings(rng, TEST_SPEAKERS, TRAIN_SPEAKERS)
    return {"dev": dev, "test": test,
            "dev_scp": write_scp(tmp_path / "emb" / "spk_dev" / "identity.scp", dev),
            "test_scp": write_scp(tmp_path / "emb" / "spk_test" / "identity.scp", test),
            "utt2spk": write_utt2spk(tmp_path / "data" / "spk_dev" / "utt2spk", dev)}


def test_cli_layer_lowers_eer_of_held_out_speakers(sets, tmp_path):
    conf = tmp_path / "finetune.yaml"
    conf.write_text("steps: 200\nbatch_classes: 16\nlr: 0.05\nl2_reg: 0.002\nseed: 0\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "xmodal.bin.finetune_npair", "--config", str(conf),
         "--train-scp", str(sets["dev_scp"]), "--utt2spk", str(sets["utt2spk"]),
         "--apply-scp", str(sets["test_scp"]), "--apply-scp", str(sets["dev_scp"]),
         "--out-dir", str(out)], capture_output=True, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "of 25 speakers (1 single-utterance speakers skipped), N=16" in proc.stderr
    assert (out / "layer.pt").is_file() and (out / "finetune.yaml").is_file()
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 10

    scp = out / "spk_test" / "identity.scp"
    assert ".tmp" not in scp.read_text()  # points at the final ark, not the temporary one
    mapped = kaldiio.load_scp(str(scp))
    keys = sorted(sets["test"])
    assert list(mapped) == keys
    raw = all_pairs_eer(np.stack([sets["test"][k] for k in keys]), keys)
    tuned = all_pairs_eer(np.stack([mapped[k] for k in keys]), keys)
    assert raw > 35.0            # the distortion hides the speakers from cosine scoring
    assert tuned < raw - 15.0    # the layer, trained on other speakers, recovers them
    assert sorted(kaldiio.load_scp(str(out / "spk_dev" / "identity.scp"))) == sorted(sets["dev"])


def test_same_seed_gives_the_same_layer(sets):
    dev = sets["dev"]
    keys = sorted(dev)
    x, labels = np.stack([dev[k] for k in keys]), [k.split("-")[0] for k in keys]
    first, summary = train_layer(CFG, x, labels)
    again, _ = train_layer(CFG, x, labels)
    other, _ = train_layer(FinetuneConfig(**{**CFG.__dict__, "seed": 1}), x, labels)
    assert torch.equal(first.weight, again.weight) and torch.equal(first.bias, again.bias)
    assert not torch.allclose(first.weight, other.weight)
    assert summary.skipped_speakers == ["spk90"] and summary.n_speakers == TRAIN_SPEAKERS
    assert summary.log[-1]["loss"] < summary.log[0]["loss"]


def test_only_utt2spk_utterances_are_trained_on(sets, tmp_path):
    subset = [k for k in sets["dev"] if k < "spk10"]
    utt2spk = write_utt2spk(tmp_path / "data" / "spk_dev_10" / "utt2spk", subset)
    only_subset = write_scp(tmp_path / "emb_subset" / "spk_dev" / "identity.scp",
                            {k: sets["dev"][k] for k in subset})
    finetune(CFG, sets["dev_scp"], utt2spk, [], tmp_path / "a")
    finetune(CFG, only_subset, utt2spk, [], tmp_path / "b")
    finetune(CFG, sets["dev_scp"], sets["utt2spk"], [], tmp_path / "all")
    layer_a, layer_b, layer_all = (load_layer(tmp_path / d / "layer.pt") for d in ("a", "b", "all"))
    # Extra utterances in the scp change nothing; the labels of the subset choose the data.
    assert torch.equal(layer_a.weight, layer_b.weight)
    assert not torch.allclose(layer_a.weight, layer_all.weight)


def test_utt2spk_key_without_embedding_is_named(sets, tmp_path):
    utt2spk = tmp_path / "utt2spk"
    utt2spk.write_text("spk00-u0 spk00\nspk00-u1 spk00\nspk00-zz spk00\n")
    with pytest.raises(FinetuneError, match=r"utt2spk:3: utterance 'spk00-zz' has no embedding"):
        finetune(CFG, sets["dev_scp"], utt2spk, [sets["test_scp"]], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_two_applied_sets_of_one_name_are_refused(sets, tmp_path):
    clash = write_scp(tmp_path / "other" / "spk_test" / "identity.scp", sets["test"])
    with pytest.raises(FinetuneError, match="would both be written"):
        finetune(CFG, sets["dev_scp"], sets["utt2spk"], [sets["test_scp"], clash], tmp_path / "o")


def test_pairs_hold_distinct_speakers_and_two_different_utterances():
    labels = ["a"] * 2 + ["b"] * 5 + ["c"] + ["d"] * 3
    groups = SpeakerGroups.from_labels(labels)
    assert groups.speakers == ["a", "b", "d"] and groups.skipped == ["c"]
    rng = np.random.default_rng(0)
    for _ in range(200):
        anchors, positives = groups.draw(3, rng)
        assert sorted(labels[a] for a in anchors) == ["a", "b", "d"]
        assert all(labels[a] == labels[p] and a != p for a, p in zip(anchors, positives))
