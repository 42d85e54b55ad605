"""RESULTS.md: our numbers where a stage wrote them, the paper's beside, '-' where missing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xmodal.eval.report import write_report


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_report_tables_and_plots(tmp_path: Path):
    exp = tmp_path / "exp"
    ssl = {"content_acc_identity": 0.2, "content_acc_content": 0.5, "identity_acc_identity": 0.4,
           "identity_acc_content": 0.1, "chance_content": 1 / 26, "chance_identity": 1 / 16,
           "track_eer_identity": 21.5, "track_eer_content": 40.0}
    write_json(exp / "ssl_id_content_dis" / "ssl_eval.json", ssl)
    rng = np.random.default_rng(0)
    lines = [f"a{i} b{i} {rng.normal(1.0 if i % 2 else 0.0):.4f} "
             f"{'target' if i % 2 else 'nontarget'}" for i in range(200)]
    scores = exp / "ssl_id_content_dis" / "scores"
    scores.mkdir(parents=True)
    (scores / "trials.scores").write_text("\n".join(lines) + "\n")
    write_json(scores / "trials.metrics.json", {"eer": 31.25, "mindcf_p0.01": 0.9,
                                               "mindcf_p0.05": 0.8, "n_target": 100,
                                               "n_nontarget": 100})
    write_json(exp / "ssl_id_content_dis" / "finetune" / "spk_dev_all" / "scores" /
               "trials.metrics.json", {"eer": 12.5, "mindcf_p0.01": 0.5, "mindcf_p0.05": 0.4})
    write_json(exp / "ssl_id_content_dis" / "probe.json",
               {"content": {"uer": 0.4}, "identity": {"uer": 0.9}, "chance_uer": 1.0})
    log = [{"epoch": e, "train": {"loss": 3.0 - e, "content_loss": 2.0}, "valid":
            {"content_acc": 0.1 * e, "loss": 2.0}} for e in (1, 2)]
    (exp / "ssl_id_content_dis" / "train_log.jsonl").write_text(
        "\n".join(json.dumps(e) for e in log) + "\n")

    md = write_report(exp, ["ssl_identity", "ssl_id_content_dis"], ["trials"],
                      ["ssl_id_content_dis"], ["10", "all"], ["ssl_id_content_dis"])
    assert md == (exp / "RESULTS.md").read_text()
    # Ours, then the paper's value in parentheses (Table 2, identity embeddings, full model).
    assert "| identity | Con., Id. and Dis. loss | 20.0 (12.0) | 40.0 (49.6) | 21.5 (18.9) |" in md
    assert "| Con., Id. and Dis. loss | 31.25 (22.1) | 0.900 | 0.800 |" in md
    assert "| Identity loss only | - | - | - |" in md  # not run: shown as missing
    assert "| Con., Id. and Dis. loss | - | 12.50 (9.4) |" in md
    assert "| Con., Id. and Dis. loss | 40.0 | 90.0 | 100.0 |" in md
    assert "random | | 3.8 | 6.2 | 50.0" in md
    for png in (exp / "det.png", exp / "ssl_id_content_dis" / "curves.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
