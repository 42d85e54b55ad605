"""The downstream table: cells from result files, marks from paired comparisons with the
floors on the same test utterances, floors matched to each encoder's architecture."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from xmodal.eval.downstream_classifier import MIN_TEST_SPEAKERS
from xmodal.eval.downstream_report import downstream_section, downstream_table

SPEAKERS = [f"s{i:02d}" for i in range(30) for _ in range(4)]
KEYS = [f"{s}-u{j}" for j, s in enumerate(SPEAKERS)]


def write_result(exp: Path, tag: str, task: str, head: str, right: list[int],
                 method: str | None = None, speaker_normalised: bool = False) -> None:
    """A result whose test utterance i is right when ``right[i]``."""
    out = exp / tag / "downstream"
    out.mkdir(parents=True, exist_ok=True)
    if method is not None:
        (exp / tag / "config.yaml").write_text(f"method: {method}\n")
    acc = sum(right) / len(right)
    (out / f"{task}_{head}.json").write_text(json.dumps({
        "task": task, "head": head, "accuracy": acc, "ci": [acc - 0.05, acc + 0.05],
        "chance": 0.25, "speaker_normalised": speaker_normalised,
        "outcomes": dict(zip(KEYS, right)),
        "speakers": dict(zip(KEYS, SPEAKERS))}))


def test_marks_compare_with_the_floors_of_the_same_architecture(tmp_path: Path):
    half = [i % 2 for i in range(len(KEYS))]
    everything = [1] * len(KEYS)
    write_result(tmp_path, "mean_logmel", "crema_d", "content", half)
    write_result(tmp_path, "random_init", "crema_d", "identity", everything)
    write_result(tmp_path, "random_init_xvector", "crema_d", "identity", half)
    write_result(tmp_path, "ssl_identity", "crema_d", "identity", everything)
    write_result(tmp_path, "recon_phones", "crema_d", "identity", everything,
                 method="reconstruction")
    write_result(tmp_path, "bad", "crema_d", "identity", [0] * len(KEYS))
    # The recipe passes the floors among the encoders it ran: each gets one row, unmarked.
    table = downstream_table(tmp_path, ["ssl_identity", "recon_phones", "bad", "random_init",
                                        "random_init_xvector"], ["crema_d", "lrw"],
                             {"ssl_identity": "identity only",
                              "random_init": "Untrained encoder (floor)"}, n_boot=200)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    # All right vs half right: better than log-mel; equal to its own random init (all right).
    assert "| identity only | identity | 100.0 [95.0, 105.0] += | - |" in table
    # The x-vector's floor is random_init_xvector (half right): better than both.
    assert rows["recon_phones"].endswith("| 100.0 [95.0, 105.0] ++ | - |")
    # All wrong vs the floors: worse than both.
    assert rows["bad"].endswith("| 0.0 [-5.0, 5.0] -- | - |")
    assert "| log-mel frames (floor) | - | 50.0 [45.0, 55.0] | - |" in table
    assert [line for line in table.splitlines() if "random_init" in line or "Untrained" in line
            ] == ["| Untrained encoder (floor) | identity | 100.0 [95.0, 105.0] | - |",
                  "| random_init_xvector (floor) | identity | 50.0 [45.0, 55.0] | - |"]
    assert table.splitlines()[-1] == "| chance (majority class) | - | 25.0 | - |"


def test_too_few_test_speakers_get_no_mark(tmp_path: Path):
    """One test speaker: every bootstrap replicate is the same, so any difference would look
    significant; below MIN_TEST_SPEAKERS there is no mark."""
    for n_speakers, mark in ((MIN_TEST_SPEAKERS - 1, "??"), (MIN_TEST_SPEAKERS, "++")):
        exp = tmp_path / str(n_speakers)
        n = 4 * n_speakers
        keys = KEYS[:n]
        for tag, right in (("mean_logmel", [i % 2 for i in range(n)]),
                           ("random_init", [0] * n), ("ssl_identity", [1] * n)):
            out = exp / tag / "downstream"
            out.mkdir(parents=True)
            head = "content" if tag == "mean_logmel" else "identity"
            (out / f"crema_d_{head}.json").write_text(json.dumps({
                "task": "crema_d", "head": head, "accuracy": sum(right) / n, "ci": [0, 1],
                "chance": 0.25, "outcomes": dict(zip(keys, right)),
                "speakers": dict(zip(keys, SPEAKERS[:n]))}))
        table = downstream_table(exp, ["ssl_identity"], ["crema_d"], {}, n_boot=200)
        assert f"| ssl_identity | identity | 100.0 [0.0, 100.0] {mark} |" in table


def test_results_on_different_utterances_cannot_be_compared(tmp_path: Path):
    write_result(tmp_path, "mean_logmel", "lrw", "content", [1] * len(KEYS))
    write_result(tmp_path, "m", "lrw", "identity", [1] * len(KEYS))
    path = tmp_path / "m" / "downstream" / "lrw_identity.json"
    result = json.loads(path.read_text())
    result["outcomes"] = {k + "x": v for k, v in result["outcomes"].items()}
    path.write_text(json.dumps(result))
    with pytest.raises(ValueError, match="different utterances"):
        downstream_table(tmp_path, ["m"], ["lrw"], {}, n_boot=50)


def test_section_names_the_speaker_normalised_tasks(tmp_path: Path):
    half = [i % 2 for i in range(len(KEYS))]
    for tag in ("mean_logmel", "ssl"):
        write_result(tmp_path, tag, "crema_d", "content", half, speaker_normalised=True)
        write_result(tmp_path, tag, "lrw", "content", half)
    section = downstream_section(tmp_path, ["ssl"], ["crema_d", "lrw"], {}, n_boot=50)
    assert "Speaker-normalised (emotion (CREMA-D)): each speaker's features" in section
    write_result(tmp_path, "mean_logmel", "crema_d", "content", half)
    write_result(tmp_path, "ssl", "crema_d", "content", half)
    assert "Speaker-normalised" not in downstream_section(tmp_path, ["ssl"], ["crema_d", "lrw"],
                                                          {}, n_boot=50)
