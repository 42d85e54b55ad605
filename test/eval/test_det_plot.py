"""DET plot: a valid PNG is written atomically, for small and large score sets."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal.eval.det_plot import plot_det

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def system(seed: int, n: int, shift: float):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.2
    return rng.normal(size=n) + shift * labels, labels


def test_writes_png_with_several_systems(tmp_path):
    path = tmp_path / "plots" / "det.png"
    plot_det({"good": system(0, 2000, 3.0), "poor": system(1, 2000, 0.5),
              "large": system(2, 300_000, 1.5)}, path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 5000
    # Only the final file remains: the temporary name was renamed onto it.
    assert [p.name for p in path.parent.iterdir()] == ["det.png"]


def test_replaces_existing_file_and_honours_suffix(tmp_path):
    path = tmp_path / "det.pdf"
    path.write_text("old")
    plot_det({"a": system(0, 500, 2.0)}, path)
    assert path.read_bytes().startswith(b"%PDF")


def test_bad_systems_raise_and_leave_no_file(tmp_path):
    with pytest.raises(ValueError, match="no systems"):
        plot_det({}, tmp_path / "det.png")
    with pytest.raises(ValueError, match="both target and nontarget"):
        plot_det({"one class": (np.arange(5.0), np.ones(5, bool))}, tmp_path / "det.png")
    assert list(tmp_path.iterdir()) == []
