"""Shared fixtures: a tiny synthetic corpus generated once per test session by the real CLI."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Small but complete: every pool, two videos per speaker (target trials need two).
TINY_CORPUS_ARGS = [
    "--seed", "7", "--size", "64", "--vox2-dev-speakers", "3", "--vox2-test-speakers", "2",
    "--vox1-dev-speakers", "2", "--vox1-test-speakers", "3", "--videos-per-speaker", "2",
    "--utts-per-video", "1", "--min-words", "5", "--max-words", "7", "--topic-bias", "0.5",
]


def make_corpus(root: Path, *extra: str, nj: int = 2) -> Path:
    """Run ``xmodal.bin.make_synth_corpus`` for real and return the corpus root."""
    subprocess.run([sys.executable, "-m", "xmodal.bin.make_synth_corpus", "--out-dir", str(root),
                    "--nj", str(nj), *TINY_CORPUS_ARGS, *extra], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return root


@contextlib.contextmanager
def one_torch_thread():
    """One intra-op torch thread inside the block (restored afterwards)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """Run a test with one intra-op torch thread (restored afterwards)."""
    with one_torch_thread():
        yield


# The smallest training config that runs every loss (content, identity, disentanglement) on
# the tiny dump; tests change what they need with ``section__key=value`` overrides.
TINY_TRAIN = {
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


def write_train_config(path: Path, **overrides) -> Path:
    """Write ``TINY_TRAIN`` with ``section__key=value`` overrides as yaml at ``path``."""
    import yaml

    cfg = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY_TRAIN.items()}
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        cfg[section][key] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def train_config():
    """``write_train_config(path, **overrides)``: the tiny training config, as a file."""
    return write_train_config


@pytest.fixture(scope="session")
def corpus_factory():
    """``make_corpus`` for tests that need a variant of the tiny corpus."""
    return make_corpus


@pytest.fixture(scope="session")
def dump_factory():
    """``make_dump(corpus, root)`` for tests that dump a variant corpus."""
    return make_dump


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus (generated once; tests must not modify it)."""
    return make_corpus(tmp_path_factory.mktemp("corpus") / "corpus")


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` for real; raise with its stderr if it fails."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def tiny_dump(tiny_corpus: Path, tmp_path_factory) -> Path:
    """Stages 1-2 of the recipe on the tiny corpus: ``dump/{ssl_train,ssl_test}`` (32 px faces)."""
    return make_dump(tiny_corpus, tmp_path_factory.mktemp("recipe"))


@pytest.fixture(scope="session")
def learning_dump(tmp_path_factory) -> Path:
    """A dump big enough to learn from in seconds: 40 training face-tracks of 40 people, and
    held-out tracks of 6 others (2 videos each); 32 px, 4-7 word sentences."""
    root = tmp_path_factory.mktemp("learning")
    corpus = make_corpus(root / "corpus", "--size", "32", "--vox2-dev-speakers", "40",
                         "--vox2-dev-videos", "1", "--vox2-test-speakers", "6",
                         "--vox1-dev-speakers", "0", "--vox1-test-speakers", "0",
                         "--min-words", "4")
    return make_dump(corpus, root)


@pytest.fixture(scope="session")
def facegen_demo_run(learning_dump, tmp_path_factory):
    """The demo's face-generation config as shipped, trained on ``learning_dump``'s 40 training
    tracks, validated on its 6 held-out people; (exp dir, log entries, seconds)."""
    import json
    import time

    from xmodal.methods import load_run_config
    from xmodal.train.method import TrainingData
    from xmodal.train.trainer import train

    out = tmp_path_factory.mktemp("facegen") / "exp"
    method, cfg = load_run_config(REPO / "egs/mini_voxceleb/v1/conf/demo/facegen.yaml")
    start = time.time()
    with one_torch_thread():
        train(method, cfg, TrainingData(learning_dump / "ssl_train", learning_dump / "ssl_test"),
              out, device="cpu")
    seconds = time.time() - start
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return out, log, seconds


def make_dump(corpus: Path, root: Path) -> Path:
    """``root/dump/{ssl_train,ssl_test}`` of ``corpus``'s VoxCeleb2 dev and test tracks, with
    their per-frame phone labels (``frame_phones``, ``phones.txt``)."""
    conf = root / "dump.yaml"
    conf.write_text("face_size: 32\nface_gray: false\nn_mels: 40\nav_tolerance_s: 0.1\n")
    for name, subset in (("ssl_train", "dev"), ("ssl_test", "test")):
        data = root / "data" / name
        run_module("xmodal.bin.prepare_voxceleb", "vox2", "--root", str(corpus / "voxceleb2"),
                   "--subset", subset, "--out-dir", str(data),
                   "--text", str(corpus / "annotations" / "text"))
        run_module("xmodal.bin.ctm_to_frame_labels", "--ctm",
                   str(corpus / "annotations" / "phones.ctm"), "--data-dir", str(data))
        run_module("xmodal.bin.dump", "--config", str(conf), "--data-dir", str(data),
                   "--out-dir", str(root / "dump" / name), "--job", "1")
        run_module("xmodal.bin.merge_dump", "--data-dir", str(data), "--out-dir",
                   str(root / "dump" / name), "--num-jobs", "1")
    return root / "dump"


def speaker_score_lines(rng, shift: float, n_spk: int = 12, per_spk: int = 8) -> list[str]:
    """Labelled score lines of ``n_spk`` speakers (VoxCeleb-style keys, so the speaker is the
    key's first part); target scores are drawn ``shift`` higher than non-target ones."""
    lines = []
    for s in range(n_spk):
        for i in range(per_spk):
            other = (s + 1 + i % (n_spk - 1)) % n_spk
            lines.append(f"id{s:05d}/v/{i:05d} id{s:05d}/w/{i:05d} "
                         f"{rng.normal(shift):.4f} target")
            lines.append(f"id{s:05d}/v/{i:05d} id{other:05d}/w/{i:05d} "
                         f"{rng.normal(0.0):.4f} nontarget")
    return lines


@pytest.fixture(scope="session")
def score_lines():
    """``speaker_score_lines(rng, shift, n_spk, per_spk)``: a scored trial list, as lines."""
    return speaker_score_lines
