"""The claims over seeds: each checked on each seed from what stages 4 and 6 wrote."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def seed_dir(root: Path, identity_acc: float, shift: float, floor_shift: float,
             score_lines) -> Path:
    """One seed's exp dir: a content-only and an identity-only model, and a floor."""
    rng = np.random.default_rng(int(100 * identity_acc))
    for tag, losses, ssl in (
            ("ssl_content", "{content: true, identity: false}",
             {"content_acc_content": 0.5, "content_acc_content_ci": [0.45, 0.55]}),
            ("ssl_identity", "{content: false, identity: true}",
             {"identity_acc_identity": identity_acc,
              "identity_acc_identity_ci": [identity_acc - 0.03, identity_acc + 0.03]})):
        (root / tag).mkdir(parents=True)
        (root / tag / "config.yaml").write_text(f"loss: {losses}\n")
        ssl = {"content_acc_content": 0.06, "content_acc_content_ci": [0.05, 0.07],
               "identity_acc_identity": 0.06, "identity_acc_identity_ci": [0.05, 0.07], **ssl,
               "chance_content": 1 / 16, "chance_identity": 1 / 16}
        (root / tag / "ssl_eval.json").write_text(json.dumps(ssl))
    for tag, s in (("ssl_identity", shift), ("mean_logmel", floor_shift)):
        (root / tag / "scores").mkdir(parents=True, exist_ok=True)
        (root / tag / "scores" / "trials.scores").write_text(
            "\n".join(score_lines(rng, s, n_spk=20)) + "\n")
    return root


def test_every_claim_on_every_seed(tmp_path: Path, score_lines):
    seeds = {"0": seed_dir(tmp_path / "s0", 0.25, 2.5, 0.3, score_lines),  # all claims hold
             "1": seed_dir(tmp_path / "s1", 0.15, 0.35, 0.3, score_lines)}  # 2.4x, = floor
    proc = subprocess.run(
        [sys.executable, "-m", "xmodal.bin.report_seeds", "--out", str(tmp_path / "R.md"),
         "--seed-dirs", f"0={seeds['0']} 1={seeds['1']}", "--ssl-tags",
         "ssl_content ssl_identity", "--baseline-tags", "mean_logmel", "--n-boot", "200"],
        capture_output=True, text=True)
    md = (tmp_path / "R.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| 0 |") or
            line.startswith("| 1 |")]
    held = {(r.split(" | ")[0][2:], r.split(" | ")[1], r.split(" | ")[2]): r.endswith("| yes |")
            for r in rows if r.count("|") == 6}
    assert held == {
        ("0", "Content loss only", "content accuracy >= 5x chance"): True,  # 8x
        ("0", "Identity loss only", "identity accuracy >= 3x chance"): True,  # 4x
        ("0", "Identity loss only", "EER significantly below Mean log-mel (floor)"): True,
        ("1", "Content loss only", "content accuracy >= 5x chance"): True,
        ("1", "Identity loss only", "identity accuracy >= 3x chance"): False,  # 2.4x
        ("1", "Identity loss only", "EER significantly below Mean log-mel (floor)"): False,
    }
    assert "4 of 6 hold" in md
    # Heads a model never trained are "-", not numbers.
    assert "| 0 | Content loss only | 50.0 [45.0, 55.0] | - |" in md
    assert "| 0 | Identity loss only | - | 25.0 [22.0, 28.0] |" in md
    assert proc.returncode == 2 and "claim failed: seed 1: Identity loss only" in proc.stderr


def test_reconstruction_claims_on_every_seed(tmp_path: Path, score_lines):
    """``report_seeds --recon-tags``: Stafylakis et al.'s claims tested per seed by the same
    rules as RESULTS.md; a claim that fails is a finding (exit 0), and each seed's EERs are
    listed."""
    seeds = {}
    for seed, phones_shift in (("0", 3.0), ("1", 0.5)):  # seed 1: phones no better than none
        exp = tmp_path / f"s{seed}"
        for tag, shift in (("recon_phones", phones_shift), ("recon_none", 0.5)):
            scores = exp / tag / "scores"
            scores.mkdir(parents=True)
            rng = np.random.default_rng(len(tag) + int(seed))
            (scores / "trials.scores").write_text("\n".join(score_lines(rng, shift, 40)) + "\n")
            (scores / "trials.metrics.json").write_text(json.dumps(
                {"eer": 10.0 + len(tag), "mindcf_p0.01": 0.5, "eer_ci": [9.0, 30.0]}))
        seeds[seed] = exp
    proc = subprocess.run(
        [sys.executable, "-m", "xmodal.bin.report_seeds", "--out", str(tmp_path / "R.md"),
         "--seed-dirs", f"0={seeds['0']} 1={seeds['1']}", "--recon-tags",
         "recon_phones recon_none", "--baseline-tags", "", "--n-boot", "200"],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "R.md").read_text()
    claim = "Reconstruction, phones beats Reconstruction, no content input"
    assert [line.endswith("| yes |") for line in md.splitlines()
            if line.startswith(("| 0 | " + claim, "| 1 | " + claim))] == [True, False]
    assert "1 of 2 hold" in md
    # Over seeds: the mean of the two seeds' differences, each as its own row says.
    differences = [line.split(" | ")[4].split()[0] for line in md.splitlines()
                   if line.startswith(("| 0 | " + claim, "| 1 | " + claim))]
    over = [line for line in md.splitlines() if line.startswith("| " + claim + " | 2 | ")]
    assert len(over) == 1 and over[0].split(" | ")[2] == " ".join(differences)
    mean = sum(float(d) for d in differences) / 2
    assert float(over[0].split(" | ")[3].split()[0]) == pytest.approx(mean, abs=0.006)
    assert "| 1 | Reconstruction, no content input | 20.00 [9.00, 30.00] | 0.500 |" in md


def generation_eval(copy_diff: float, shuffled_diff: float, argmin: int) -> dict:
    """A stage-4 generation_eval.json with the given differences (intervals +-0.001)."""
    def diff(d):
        low, high = d - 0.001, d + 0.001
        return {"difference": d, "ci": [low, high], "p_value": 0.0 if high < 0 else 0.5,
                "significant": bool(low > 0 or high < 0)}
    return {"still_frame": "outside_window", "sync_argmin": argmin,
            "mouth_l1": {"model": {"mean": 0.033, "ci": [0.032, 0.034]}},
            "model_minus": {"copy_still": diff(copy_diff), "shuffled_audio": diff(shuffled_diff)}}


def test_generation_checks_on_every_seed(tmp_path: Path, score_lines):
    """Seed 0's generator passes every held-out test; seed 1's ties with another identity's
    audio and is lowest off sync; the CLI says which and exits 2. The EER columns are the
    paired comparisons with the floor."""
    rng = np.random.default_rng(5)
    for seed, evaluation in (("0", generation_eval(-0.008, -0.006, 0)),
                             ("1", generation_eval(-0.008, 0.0005, 1))):
        exp = tmp_path / f"s{seed}"
        (exp / "facegen" / "scores").mkdir(parents=True)
        (exp / "facegen" / "generation_eval.json").write_text(json.dumps(evaluation))
        (exp / "mean_logmel" / "scores").mkdir(parents=True)
        for tag, shift in (("facegen", 2.5), ("mean_logmel", 0.3)):
            (exp / tag / "scores" / "trials.scores").write_text(
                "\n".join(score_lines(rng, shift, n_spk=20)) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "xmodal.bin.report_seeds", "--out", str(tmp_path / "F.md"),
         "--seed-dirs", f"0={tmp_path / 's0'} 1={tmp_path / 's1'}", "--facegen-tags", "facegen",
         "--baseline-tags", "mean_logmel", "--n-boot", "200"], capture_output=True, text=True)
    md = (tmp_path / "F.md").read_text()
    assert proc.returncode == 2, proc.stderr
    assert "4 of 6 checks hold" in md
    assert ("| 0 | Face generation | outside window | 0.0330 [0.0320, 0.0340] | "
            "-0.0080 [-0.0090, -0.0070] yes | -0.0060 [-0.0070, -0.0050] yes | +0 |") in md
    assert "| 1 | Face generation | outside window |" in md and "+0.0005 [-0.0005, +0.0015] **NO** | +1 |" in md
    assert "seed 1: Face generation: mouth L1 below shuffled_audio" in proc.stderr
    assert "seed 1: Face generation: sync curve lowest at shift 0 (minimum at +1)" in proc.stderr
    eer_rows = [line for line in md.splitlines() if line.startswith("| 0 | Face generation | ")
                and line.count("|") == 6]
    assert len(eer_rows) == 1
    difference = eer_rows[0].split(" | ")[3]
    assert float(difference.split()[0]) < -5  # far better than the floor: negative
