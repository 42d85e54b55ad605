"""The coupling study's table and plot, from each point's stage-4 and stage-6 results."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_sweep_table_and_plot(tmp_path: Path):
    points = []
    for c, acc, eer in ((0.0, 0.06, 40.0), (1.0, 0.3, 20.0)):
        exp = tmp_path / f"c{c}" / "exp"
        (exp / "ssl_identity" / "scores").mkdir(parents=True)
        (exp / "ssl_identity" / "ssl_eval.json").write_text(json.dumps(
            {"identity_acc_identity": acc, "identity_acc_identity_ci": [acc - 0.02, acc + 0.02],
             "chance_identity": 1 / 16}))
        (exp / "ssl_identity" / "scores" / "trials.metrics.json").write_text(json.dumps(
            {"eer": eer, "eer_ci": [eer - 3, eer + 3]}))
        points.append(f"{c}={exp}")
    out = tmp_path / "sweep" / "RESULTS.md"
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.report_sweep", "--out", str(out),
                           "--points", " ".join(points), "--baseline-tags", "mean_logmel"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    md = out.read_text()
    assert "| 0 | 6.0 [4.0, 8.0] | 6.25 | 40.00 [37.00, 43.00] | - |" in md
    assert "| 1 | 30.0 [28.0, 32.0] | 6.25 | 20.00 [17.00, 23.00] | - |" in md
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run([sys.executable, "-m", "xmodal.bin.report_sweep", "--out", str(out),
                          "--points", "high=" + str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1 and "'high=" in bad.stderr
