"""RESULTS.md: our numbers where a stage wrote them, the paper's beside, '-' where missing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xmodal.eval.report import (System, check_hypotheses, comparison_table, hypothesis_table,
                                write_report)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_report_tables_and_plots(tmp_path: Path, score_lines):
    exp = tmp_path / "exp"
    ssl = {"content_acc_identity": 0.2, "content_acc_content": 0.5, "identity_acc_identity": 0.4,
           "identity_acc_content": 0.1, "chance_content": 1 / 26, "chance_identity": 1 / 16,
           "content_acc_content_ci": [0.45, 0.55], "identity_acc_identity_ci": [0.05, 0.6],
           "track_eer_identity": 21.5, "track_eer_content": 40.0}
    probe = {"leak_sync_from_identity": 0.3, "leak_sync_from_identity_ci": [0.25, 0.35],
             "leak_identity_from_content": 0.1, "chance_sync": 1 / 26, "chance_identity": 1 / 16}
    floor = {**probe, "leak_sync_from_identity": 0.05, "leak_sync_from_identity_ci": [0.04, 0.06]}
    write_json(exp / "ssl_id_content_dis" / "ssl_eval.json",
               {**ssl, "leakage": {"trained": probe, "untrained": floor}})
    write_json(exp / "ssl_content" / "ssl_eval.json", ssl)
    (exp / "ssl_content" / "config.yaml").write_text("loss: {content: true, identity: false}\n")
    (exp / "ssl_id_content_dis" / "config.yaml").write_text(
        "loss: {content: true, identity: true, disentangle: true}\n")
    rng = np.random.default_rng(0)
    for tag, shift in (("ssl_id_content_dis", 2.0), ("mean_logmel", 0.2)):
        scores = exp / tag / "scores"
        scores.mkdir(parents=True, exist_ok=True)
        (scores / "trials.scores").write_text("\n".join(score_lines(rng, shift)) + "\n")
    write_json(exp / "ssl_id_content_dis" / "scores" / "trials.metrics.json",
               {"eer": 31.25, "mindcf_p0.01": 0.9, "mindcf_p0.05": 0.8, "n_target": 100,
                "n_nontarget": 100, "eer_ci": [25.0, 37.5], "mindcf_p0.01_ci": [0.8, 1.0],
                "mindcf_p0.05_ci": [0.7, 0.9]})
    write_json(exp / "ssl_id_content_dis" / "finetune" / "spk_dev_all" / "scores" /
               "trials.metrics.json", {"eer": 12.5, "mindcf_p0.01": 0.5, "mindcf_p0.05": 0.4})
    write_json(exp / "ssl_id_content_dis" / "finetune" / "spk_dev_100_1228" / "scores" /
               "trials.metrics.json", {"eer": 20.5, "mindcf_p0.01": 0.5, "mindcf_p0.05": 0.4})
    write_json(exp / "ssl_id_content_dis" / "probe.json",
               {"content": {"uer": 0.4}, "identity": {"uer": 0.9}, "chance_uer": 1.0})
    log = [{"epoch": e, "train": {"loss": 3.0 - e, "content_loss": 2.0}, "valid":
            {"content_acc": 0.1 * e, "loss": 2.0, "leak_content_in_identity_acc": 0.1 * e}}
           for e in (1, 2)]
    (exp / "ssl_id_content_dis" / "train_log.jsonl").write_text(
        "\n".join(json.dumps(e) for e in log) + "\n")

    write_json(exp / "ssl_id_content_dis" / "channel_probe.json",
               {"mean_r2": 0.12, "mean_r2_ci": [0.05, 0.2],
                "params": {"channel_snr_db": {"r2": 0.5}, "channel_noise_slope": {"r2": 0.7}}})
    write_json(exp / "content_input_noisy.json", {"accuracy": 0.04, "ci": [0.01, 0.08],
                                                   "chance": 0.01})
    # A reconstruction run: its last epoch's held-out loss beside the mean-frame loss.
    recon_log = {"epoch": 3, "train": {"loss": 0.5, "accuracy": 0.25, "accuracy_chance": 0.01},
                 "valid": {"reconstruction": 0.6, "reconstruction_mean_frame": 1.2}}
    (exp / "recon_phones_classify").mkdir()
    (exp / "recon_phones_classify" / "train_log.jsonl").write_text(json.dumps(recon_log) + "\n")

    md = write_report(exp, ["ssl_content", "ssl_identity", "ssl_id_content_dis"], ["trials"],
                      ["ssl_id_content_dis"], ["10", "100_1228", "all"], ["ssl_id_content_dis"],
                      ["mean_logmel"], n_boot=200, recon_tags=["recon_phones_classify"])
    assert md == (exp / "RESULTS.md").read_text()
    assert "| Con., Id. and Dis. loss | 31.25 [25.00, 37.50] | 0.12 [0.05, 0.20] | 0.50 | 0.70 |" in md
    assert "| noisy | 4.0 [1.0, 8.0] | 1.0 |" in md
    assert "| Classification + reconstruction (phones) | 0.600 | 1.200 | 0.50 | 25.0 | 1.00 |" in md
    # Ours with its interval, then the paper's value in parentheses (Table 2, full model).
    assert ("| identity | Con., Id. and Dis. loss | 20.0 (12.0) | 40.0 [5.0, 60.0] (49.6) | "
            "21.5 (18.9) |") in md
    assert "| Con., Id. and Dis. loss | 31.25 [25.00, 37.50] (22.1) | 0.900 [0.800, 1.000] |" in md
    assert "| Identity loss only | - | - | - |" in md  # not run: shown as missing
    # A content-only model's identity head was never trained: its row is "-" as in the paper.
    assert "| identity | Content loss only | - | - | - |" in md
    assert "| content | Content loss only | 50.0 [45.0, 55.0] (" in md
    assert "| Mean log-mel (floor) | - | - | - |" in md  # scored, no metrics yet
    # Post-hoc leakage: probe, its untrained floor, and the last epoch's in-training adversary
    # (the content-only model trained one head: no row).
    assert ("| Con., Id. and Dis. loss | 30.0 [25.0, 35.0] | 5.0 [4.0, 6.0] | 20.0 | 10.0 | "
            "10.0 | - |") in md
    assert "| chance | 3.8 | | | 6.2 | | |" in md
    # Table 4: a label budget of N speakers (all their utterances) or N speakers / M
    # utterances, the paper's beside its own budgets only.
    assert "| model | 10 spk | 100 spk / 1228 utt | all spk |" in md
    assert "| Con., Id. and Dis. loss | - | 20.50 (14.3) | 12.50 (9.4) |" in md
    assert "| Con., Id. and Dis. loss | 40.0 | 90.0 | 100.0 |" in md
    assert "random | | 3.8 | 6.2 | 50.0" in md
    # Each trained loss: left chance or not (identity's interval reaches down to 5% < 6.25%).
    assert "| Con., Id. and Dis. loss | content | 50.0 [45.0, 55.0] | 3.8 | yes |" in md
    assert "| Con., Id. and Dis. loss | identity | 40.0 [5.0, 60.0] | 6.2 | no |" in md
    # A clearly better model against the floor: a significant paired difference.
    [row] = [line for line in md.splitlines()
             if line.startswith("| Con., Id. and Dis. loss | Mean log-mel (floor) |")]
    assert row.endswith("| **yes** |")
    for png in (exp / "det.png", exp / "ssl_id_content_dis" / "curves.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_table_calls_noise_noise(tmp_path: Path, score_lines):
    """Two systems drawn from the same distribution: the difference is not significant."""
    rng = np.random.default_rng(1)
    systems = []
    for label in ("A", "B"):
        path = tmp_path / f"{label}.scores"
        path.write_text("\n".join(score_lines(rng, 1.0)) + "\n")
        systems.append(System(label, path))
    table = comparison_table([tuple(systems)], None, 300)
    assert table.splitlines()[2].startswith("| A | B |") and table.endswith("| no (noise) |")


def test_recon_hypotheses_hold_and_fail_by_their_own_rule(tmp_path: Path, score_lines):
    """"beats" needs a significantly lower EER; "at least as good" only no significantly higher
    one: a clearly better A passes both, an equal A only the second, a worse A neither."""
    def scores(tag: str, shift: float, seed: int) -> None:
        path = tmp_path / tag / "scores" / "trials.scores"
        path.parent.mkdir(parents=True)
        path.write_text("\n".join(score_lines(np.random.default_rng(seed), shift, 40)) + "\n")

    scores("recon_phones", 3.0, 1)           # beats recon_none
    scores("recon_none", 0.5, 2)
    scores("recon_phones_classify", 1.5, 3)  # as good as classification alone (same shift)
    scores("xvector_classify", 1.5, 4)
    scores("recon_phones_semisup", 0.5, 5)   # worse than classification on the labelled set
    scores("xvector_semisup", 3.0, 6)
    results = {(h.a, h.b): h for h in check_hypotheses(tmp_path, "trials", None, 300)}
    assert results[("recon_phones", "recon_none")].holds
    assert results[("recon_phones_classify", "xvector_classify")].holds
    assert not results[("recon_phones_semisup", "xvector_semisup")].holds
    # The equal pair would fail a "beats" claim: "at least as good" is the weaker rule.
    assert not results[("recon_phones_classify", "xvector_classify")].eer["significant"]
    table = hypothesis_table(tmp_path, "trials", None, 300)
    assert table.count("**holds**") == 2 and table.count("**fails**") == 1
