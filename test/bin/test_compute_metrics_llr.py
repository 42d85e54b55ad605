"""compute_metrics --llr, run as a real subprocess: the calibration keys appear only when
asked for, and the output without --llr keeps exactly its old keys."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from xmodal.eval.calibration import calibration_metrics

PLAIN_KEYS = ["scores", "eer", "mindcf_p0.01", "mindcf_p0.05", "n_target", "n_nontarget"]
CI_KEYS = ["eer_ci", "mindcf_p0.01_ci", "mindcf_p0.05_ci", "ci_level", "n_boot",
           "n_speakers", "n_redrawn"]
LLR_KEYS = ["actdcf_p0.01", "actdcf_p0.05", "cllr", "min_cllr"]


def compute_metrics(*args: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "xmodal.bin.compute_metrics", *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def llr_file(tmp_path, score_lines):
    """Scores N(2, 1) for targets and N(0, 1) for nontargets, written as their true LLRs
    2 s - 2, so the file holds calibrated LLRs."""
    lines = []
    for line in score_lines(np.random.default_rng(0), 2.0, n_spk=10, per_spk=12):
        enroll, test, score, label = line.split()
        lines.append(f"{enroll} {test} {2 * float(score) - 2:.6f} {label}\n")
    path = tmp_path / "llrs"
    path.write_text("".join(lines))
    return path


def test_llr_flag_adds_the_calibration_metrics_and_their_intervals(llr_file):
    fields = [line.split() for line in llr_file.read_text().splitlines()]
    expected = calibration_metrics(np.array([float(f[2]) for f in fields]),
                                   np.array([f[3] == "target" for f in fields]))

    (plain,) = compute_metrics(str(llr_file), "--llr")
    assert list(plain) == PLAIN_KEYS + LLR_KEYS
    for key in LLR_KEYS:
        assert plain[key] == pytest.approx(expected[key], rel=1e-12)

    (boot,) = compute_metrics(str(llr_file), "--llr", "--ci", "--n-boot", "200")
    assert set(boot) == set(PLAIN_KEYS + CI_KEYS + LLR_KEYS + [f"{k}_ci" for k in LLR_KEYS])
    assert (boot["n_boot"], boot["n_speakers"]) == (200, 10)
    for key in LLR_KEYS:
        assert boot[key] == plain[key]
        low, high = boot[f"{key}_ci"]
        assert low <= boot[key] <= high and low < high


def test_without_llr_the_output_keeps_its_keys(llr_file):
    (plain,) = compute_metrics(str(llr_file))
    assert list(plain) == PLAIN_KEYS
    (boot,) = compute_metrics(str(llr_file), "--ci", "--n-boot", "50")
    assert list(boot) == PLAIN_KEYS + CI_KEYS
