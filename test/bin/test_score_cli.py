"""The score and compute_metrics CLIs run as real subprocesses on generated embeddings.

Bad trials and embeddings given to the score CLI are in test/bad_input/test_catalogue.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


@pytest.fixture
def data(tmp_path) -> Path:
    """6 speakers x 4 utterances of embeddings, a 20-vector cohort, all-pairs trials."""
    rng = np.random.default_rng(0)
    speakers = rng.normal(size=(6, 16))
    utts = {f"s{s}-u{u}": speakers[s] + 0.6 * rng.normal(size=16)
            for s in range(6) for u in range(4)}
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'emb.ark'},{tmp_path / 'emb.scp'}") as w:
        for key, vector in utts.items():
            w(key, vector.astype(np.float32))
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'coh.ark'},{tmp_path / 'coh.scp'}") as w:
        for i, vector in enumerate(rng.normal(size=(20, 16))):
            w(f"c{i}", vector.astype(np.float32))
    keys = sorted(utts)
    (tmp_path / "trials").write_text("".join(
        f"{a} {b} {'target' if a[:2] == b[:2] else 'nontarget'}\n"
        for i, a in enumerate(keys) for b in keys[i + 1:]))
    return tmp_path


def test_score_then_metrics_end_to_end(data):
    plain, normed = data / "scores_cos", data / "scores_asnorm"
    result = run("xmodal.bin.score", "--trials", str(data / "trials"),
                 "--enroll-scp", str(data / "emb.scp"), "--out", str(plain))
    assert result.returncode == 0, result.stderr
    assert "276 trials scored, 0 skipped" in result.stderr
    result = run("xmodal.bin.score", "--trials", str(data / "trials"),
                 "--enroll-scp", str(data / "emb.scp"), "--test-scp", str(data / "emb.scp"),
                 "--mean-scp", str(data / "emb.scp"), "--asnorm-cohort-scp",
                 str(data / "coh.scp"), "--asnorm-top-k", "5", "--out", str(normed))
    assert result.returncode == 0, result.stderr
    assert "AS-norm top-5" in result.stderr
    assert len(normed.read_text().splitlines()) == 276

    det = data / "det.png"
    result = run("xmodal.bin.compute_metrics", str(plain), str(normed), "--det-plot", str(det))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["scores"] for r in lines] == [str(plain), str(normed)]
    for r in lines:
        assert (r["n_target"], r["n_nontarget"]) == (36, 240)
        # Well-separated synthetic speakers: low but finite error, minDCF labelled by p_target.
        assert r["eer"] < 15.0
        # Normalised minDCF is min over thresholds of Pmiss + beta Pfa, beta 99 at p_target
        # 0.01 and 19 at 0.05: the 0.05 figure cannot exceed the 0.01 one (nor 1, the cost
        # of rejecting everything); two swapped keys would fail this.
        assert r["mindcf_p0.05"] <= r["mindcf_p0.01"] <= 1.0
    assert det.read_bytes().startswith(b"\x89PNG")


def test_metrics_on_unlabelled_scores_exits_1(data):
    (data / "scores").write_text("a b 0.100000 target\na c 0.200000\n")
    result = run("xmodal.bin.compute_metrics", str(data / "scores"))
    assert result.returncode == 1
    assert "scores:2: expected" in result.stderr
