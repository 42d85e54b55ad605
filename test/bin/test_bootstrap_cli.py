"""compute_metrics --ci and compare_scores on generated VoxCeleb-style score files.

Each CLI runs once as a real subprocess; the other cases call ``main`` in-process.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xmodal.bin import compare_scores, compute_metrics
from xmodal.eval.metrics import metrics_dict

METRIC_KEYS = ("eer", "mindcf_p0.01", "mindcf_p0.05")


def write_scores(path: Path, rows: list[tuple[str, str, float, bool]]) -> Path:
    path.write_text("".join(f"{e} {t} {s:.6f} {'target' if lab else 'nontarget'}\n"
                            for e, t, s, lab in rows))
    return path


@pytest.fixture
def systems(tmp_path) -> dict[str, object]:
    """Systems A and B (A plus noise) on 600 trials of 20 speakers; B's file is shuffled."""
    rng = np.random.default_rng(0)
    offsets = rng.normal(size=20)
    rows_a, rows_b = [], []
    for i in range(600):
        a = int(rng.integers(20))
        target = rng.random() < 0.3
        b = a if target else (a + int(rng.integers(1, 20))) % 20
        score = 2.0 * target + offsets[a] * target + rng.normal()
        trial = (f"id{a:05d}/vid{i}/00001", f"id{b:05d}/vid{i}/00002")
        rows_a.append((*trial, score, target))
        rows_b.append((*trial, score + 1.5 * rng.normal(), target))
    shuffled = [rows_b[i] for i in rng.permutation(len(rows_b))]
    return {"dir": tmp_path, "rows_a": rows_a, "rows_b": rows_b,
            "a": write_scores(tmp_path / "a.scores", rows_a),
            "b": write_scores(tmp_path / "b.scores", shuffled)}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_compute_metrics_ci_adds_intervals(systems):
    result = subprocess.run([sys.executable, "-m", "xmodal.bin.compute_metrics",
                             str(systems["a"]), "--ci", "--n-boot", "200", "--seed", "3"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    [line] = json_lines(result.stdout)
    assert (line["ci_level"], line["n_boot"], line["n_speakers"]) == (0.95, 200, 20)
    for key in METRIC_KEYS:
        low, high = line[f"{key}_ci"]
        assert low <= line[key] <= high and low < high


def test_compute_metrics_without_ci_is_unchanged(systems, capsys):
    assert compute_metrics.main([str(systems["a"]), str(systems["b"])]) == 0
    lines = json_lines(capsys.readouterr().out)
    scores = np.array([row[2] for row in systems["rows_a"]])
    labels = np.array([row[3] for row in systems["rows_a"]])
    expected = metrics_dict(np.round(scores, 6), labels)
    assert list(lines[0]) == ["scores", "eer", "mindcf_p0.01", "mindcf_p0.05", "n_target",
                              "n_nontarget"]
    assert lines[0] == {"scores": str(systems["a"]), **expected}
    assert list(lines[1]) == list(lines[0])


def test_compute_metrics_ci_needs_speakers_for_plain_keys(systems, capsys):
    rows = [(f"u{i}", f"u{i + 1}", 0.1 * i, i % 2 == 1) for i in range(6)]
    plain = write_scores(systems["dir"] / "plain.scores", rows)
    assert compute_metrics.main([str(plain), "--ci"]) == 1
    assert f"error: {plain}:1: no speaker for utterance 'u0'" in capsys.readouterr().err
    # With utt2spk: u1 u2 are s1, u3 u4 s2, u5 u6 s3, so odd trials are the targets.
    utt2spk = systems["dir"] / "utt2spk"
    utt2spk.write_text("".join(f"u{i} s{(i + 1) // 2}\n" for i in range(7)))
    assert compute_metrics.main([str(plain), "--ci", "--utt2spk", str(utt2spk),
                                 "--n-boot", "50"]) == 0
    [line] = json_lines(capsys.readouterr().out)
    assert (line["n_boot"], line["n_speakers"]) == (50, 4)


def test_compute_metrics_label_contradicting_speakers_names_the_line(systems, capsys):
    rows = systems["rows_a"][:10] + [("id00001/v/1", "id00002/v/2", 0.5, True)]
    bad = write_scores(systems["dir"] / "bad.scores", rows)
    assert compute_metrics.main([str(bad), "--ci"]) == 1
    assert (f"error: {bad}:11: labelled target but its speakers are 'id00001' and 'id00002'"
            in capsys.readouterr().err)


def test_compute_metrics_bootstrap_options_need_ci(systems, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compute_metrics.main([str(systems["a"]), "--n-boot", "10"])
    assert exit_info.value.code == 2
    assert "need --ci" in capsys.readouterr().err


def test_compare_scores_aligns_trials_and_summarises(systems):
    result = subprocess.run([sys.executable, "-m", "xmodal.bin.compare_scores",
                             str(systems["a"]), str(systems["b"]), "--n-boot", "300"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["a"], out["b"], out["n_boot"], out["n_speakers"]) == (
        str(systems["a"]), str(systems["b"]), 300, 20)
    for key in METRIC_KEYS:
        assert set(out[key]) == {"a", "b", "difference", "ci", "p_value", "significant"}
        assert out[key]["difference"] == pytest.approx(out[key]["a"] - out[key]["b"])
    eer = out["eer"]
    assert eer["a"] < eer["b"] and eer["significant"]
    assert result.stderr.startswith(f"EER {eer['a']:.2f}% vs {eer['b']:.2f}%: difference "
                                    f"{eer['difference']:.2f} [")
    assert result.stderr.rstrip().endswith(", significant")


def test_compare_scores_in_process_matches_shuffled_result(systems, capsys):
    in_order = write_scores(systems["dir"] / "b_in_order.scores", systems["rows_b"])
    assert compare_scores.main([str(systems["a"]), str(systems["b"]), "--n-boot", "100"]) == 0
    shuffled = json.loads(capsys.readouterr().out)
    assert compare_scores.main([str(systems["a"]), str(in_order), "--n-boot", "100"]) == 0
    ordered = json.loads(capsys.readouterr().out)
    assert {k: ordered[k] for k in METRIC_KEYS} == {k: shuffled[k] for k in METRIC_KEYS}


def test_compare_scores_of_a_file_with_itself_is_not_significant(systems, capsys):
    assert compare_scores.main([str(systems["a"]), str(systems["a"]), "--n-boot", "50"]) == 0
    captured = capsys.readouterr()
    eer = json.loads(captured.out)["eer"]
    assert (eer["difference"], eer["ci"], eer["p_value"]) == (0.0, [0.0, 0.0], 1.0)
    assert captured.err.rstrip().endswith("p=1.000, not significant")


@pytest.mark.parametrize("change,where,message", [
    (lambda rows: rows[:-1], "a:600", "is not in"),
    (lambda rows: rows + [("id00001/x/1", "id00002/x/2", 0.0, False)], "b:601", "is not in"),
    (lambda rows: rows + rows[:1], "b:601", "repeats line 1"),
    (lambda rows: [(*rows[0][:3], not rows[0][3])] + rows[1:], "b:1", "here but"),
])
def test_compare_scores_mismatched_trials_name_file_and_line(systems, capsys, change, where,
                                                             message):
    other = write_scores(systems["dir"] / "b", change(systems["rows_b"]))
    assert compare_scores.main([str(systems["a"]), str(other), "--n-boot", "10"]) == 1
    err = capsys.readouterr().err
    path = systems["a"] if where.startswith("a:") else other
    assert err.startswith(f"error: {path}:{where.split(':')[1]}: trial '") and message in err
