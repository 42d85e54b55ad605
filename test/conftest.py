"""Shared fixtures: a tiny synthetic corpus generated once per test session by the real CLI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def corpus_factory():
    """``make_corpus`` for tests that need a variant of the tiny corpus."""
    return make_corpus


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The tiny corpus (generated once; tests must not modify it)."""
    return make_corpus(tmp_path_factory.mktemp("corpus") / "corpus")
