"""Content probe: the metric on known cases, deterministic units, a probe that learns what is
there and nothing more, and the CLI on a real (random) experiment."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal.config import save_config
from xmodal.eval.probe import (ProbeConfig, constant_hypothesis_uer, ctc_feasible,
                               edit_distance, run_probe, train_sentencepiece, unit_error_rate)
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import save_checkpoint
from xmodal.methods.cross_modal import CrossModalConfig

TINY_MODEL = ModelConfig(width=0.125, face_size=32, embed_dim=32, head_hidden=32, trunk_dim=32)
N_UNITS, DIM = 8, 16


# Tiny tensors: one intra-op thread is much faster than several on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def test_unit_error_rate_known_cases():
    ref = [3, 1, 4, 1]
    assert unit_error_rate([ref], [ref]) == 0.0
    assert unit_error_rate([[]], [ref]) == 1.0
    assert unit_error_rate([[3, 1, 5, 1]], [ref]) == 0.25
    assert edit_distance([3, 1, 4, 1, 5], ref) == 1 and edit_distance([1, 4, 1], ref) == 1
    # Pooled over the corpus, not averaged per utterance: (0 + 2) / (4 + 2).
    assert unit_error_rate([ref, [9, 9]], [ref, [1, 2]]) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="empty"):
        unit_error_rate([[1]], [[]])


def test_chance_is_the_best_repeated_majority_unit():
    train = [[1, 2, 1, 3], [1, 1, 4], [2, 1]]
    test = [[1, 5, 1, 1, 6], [7]]
    # Brute force with the edit distance itself: k copies of unit 1, k fitted on train.
    best_k = min(range(6), key=lambda k: unit_error_rate([[1] * k] * 3, train))
    expected = unit_error_rate([[1] * best_k] * 2, test)
    assert constant_hypothesis_uer(train, test) == pytest.approx(expected)
    assert expected < 1.0


def write_text(path: Path, n: int, seed: int = 0) -> Path:
    """A Kaldi ``text`` of ``n`` upper-case sentences over a small lexicon."""
    words = ["RIVER", "ENERGY", "THE", "GUITAR", "ALWAYS", "MARKET", "PLANET", "BREAD"]
    rng = np.random.default_rng(seed)
    path.write_text("".join(f"utt{i:03d} {' '.join(rng.choice(words, size=5))}\n"
                            for i in range(n)))
    return path


def test_sentencepiece_is_deterministic_and_lower_cased(tmp_path: Path):
    text = write_text(tmp_path / "text", 60)
    models = [train_sentencepiece(text, tmp_path / run / "spm", 30) for run in ("a", "b")]
    assert models[0].read_bytes() == models[1].read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["spm.model", "spm.vocab"]
    vocab = (tmp_path / "a" / "spm.vocab").read_text().splitlines()
    pieces = [line.split("\t")[0] for line in vocab]
    assert pieces[0] == "<unk>" and not any(c.isupper() for p in pieces[1:] for c in p)


def synthetic(n: int, rng: np.random.Generator, noise_only: bool = False):
    """Unit sequences and frames: one-hot unit (2-4 steps) after 1-2 blank steps, plus noise."""
    embs, refs = [], []
    for _ in range(n):
        units = rng.integers(0, N_UNITS, size=rng.integers(3, 7)).tolist()
        steps = [N_UNITS] * 2
        for u in units:
            steps += [u] * int(rng.integers(2, 5)) + [N_UNITS] * int(rng.integers(1, 3))
        x = np.eye(DIM)[steps] + 0.3 * rng.normal(size=(len(steps), DIM))
        if noise_only:
            x = rng.normal(size=x.shape)
        embs.append(torch.tensor(x, dtype=torch.float32))
        refs.append(units)
    return embs, refs


CFG = ProbeConfig(vocab_size=N_UNITS, hidden=32, kernel_size=3, epochs=12, batch_size=8,
                  lr=5e-3, seed=0)


def test_probe_reads_units_that_are_there():
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = synthetic(100, rng), synthetic(30, rng)
    r = run_probe(train_x, train_y, test_x, test_y, N_UNITS, CFG)
    assert r["uer"] < 0.2 and r["n_test"] == 30 and r["n_train_skipped"] == 0
    assert r == run_probe(train_x, train_y, test_x, test_y, N_UNITS, CFG)  # seeded


def test_probe_on_noise_stays_near_chance():
    rng = np.random.default_rng(1)
    (train_x, train_y), (test_x, test_y) = (synthetic(100, rng, noise_only=True),
                                            synthetic(30, rng, noise_only=True))
    chance = constant_hypothesis_uer(train_y, test_y)
    r = run_probe(train_x, train_y, test_x, test_y, N_UNITS, CFG)
    assert 0.7 < chance < 1.0
    # Nothing to read: the probe learns to emit (almost) nothing, no better than a guess.
    assert chance - 0.1 < r["uer"] <= 1.05


def test_targets_too_long_for_their_steps_are_skipped_and_counted():
    assert ctc_feasible(3, [1, 2, 3]) and not ctc_feasible(3, [1, 1, 2])  # repeat needs a blank
    rng = np.random.default_rng(2)
    train_x, train_y = synthetic(20, rng)
    train_x[0] = train_x[0][:len(train_y[0]) - 1]
    train_x[1] = torch.zeros(0, DIM)  # an utterance too short for one output step
    r = run_probe(train_x, train_y, train_x, train_y, N_UNITS,
                  ProbeConfig(vocab_size=N_UNITS, hidden=0, epochs=1))
    assert r["n_train_skipped"] == 2 and r["n_train"] == 18 and r["n_test"] == 20


@pytest.fixture
def exp_dir(tmp_path: Path) -> Path:
    """A random tiny model saved as a trained experiment."""
    torch.manual_seed(0)
    exp = tmp_path / "exp" / "tiny"
    exp.mkdir(parents=True)
    save_config(CrossModalConfig(model=TINY_MODEL), exp / "config.yaml")
    save_checkpoint({"model": TwoStreamModel(TINY_MODEL).state_dict()}, exp / "model.pt")
    (tmp_path / "probe.yaml").write_text("vocab_size: 40\nhidden: 16\nepochs: 3\nbatch_size: 4\n")
    return exp


def probe_cli(exp: Path, train: Path, test: Path, out: Path, *extra: str):
    return subprocess.run([sys.executable, "-m", "xmodal.bin.probe_content", "--exp-dir",
                           str(exp), "--train-dir", str(train), "--test-dir", str(test),
                           "--config", str(exp.parents[1] / "probe.yaml"), "--out", str(out),
                           *extra], capture_output=True, text=True)


def test_cli_probes_both_heads(tiny_dump: Path, exp_dir: Path):
    out = exp_dir / "probe.json"
    proc = probe_cli(exp_dir, tiny_dump / "ssl_train", tiny_dump / "ssl_test", out)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    n_test = len((tiny_dump / "ssl_test" / "feats.scp").read_text().splitlines())
    for head in ("content", "identity"):
        assert r[head]["n_test"] == n_test
    assert 0.0 < r["chance_uer"] <= 1.0 and 2 <= r["vocab_size"] <= 40
    spm_model = exp_dir.parent / "probe_spm" / "unigram40.model"
    assert r["spm_model"] == str(spm_model)
    assert proc.stdout.startswith("probe tiny: content UER ") and proc.stdout.count("\n") == 1
    # The shared sentencepiece model is reused, not retrained.
    before = spm_model.stat().st_mtime_ns
    proc = probe_cli(exp_dir, tiny_dump / "ssl_train", tiny_dump / "ssl_test", out)
    assert proc.returncode == 0 and spm_model.stat().st_mtime_ns == before
    assert json.loads(out.read_text()) == r  # deterministic


def test_cli_names_a_missing_transcript(tiny_dump: Path, exp_dir: Path, tmp_path: Path):
    test = tmp_path / "ssl_test"
    shutil.copytree(tiny_dump / "ssl_test", test)
    lines = (test / "text").read_text().splitlines(keepends=True)
    (test / "text").write_text("".join(lines[1:]))
    missing = lines[0].split()[0]
    proc = probe_cli(exp_dir, tiny_dump / "ssl_train", test, tmp_path / "p.json")
    assert proc.returncode == 1 and proc.stderr.startswith("error: ")
    assert f"no transcript for utterance '{missing}'" in proc.stderr and str(test) in proc.stderr
    (test / "text").unlink()
    proc = probe_cli(exp_dir, tiny_dump / "ssl_train", test, tmp_path / "p.json")
    assert proc.returncode == 1 and f"{test / 'text'}: file not found" in proc.stderr
    assert not (tmp_path / "p.json").exists()
