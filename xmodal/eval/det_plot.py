"""DET plots: miss rate against false-alarm rate on normal-deviate (probit) axes."""
from __future__ import annotations

import os
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from xmodal.atomic import atomic_path
from xmodal.eval.metrics import det_curve, eer_from_det_curve

TICKS_PERCENT = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 50)
LIMITS_PERCENT = (0.1, 50.0)
# Points kept per axis when thinning a curve: finer than a figure's pixels.
GRID_POINTS = 1000

# The standard library's normal quantile, vectorised: only thinned points pass through it.
_probit = np.vectorize(NormalDist().inv_cdf, otypes=[float])
_cdf = np.vectorize(NormalDist().cdf, otypes=[float])


def _thin(p_miss: np.ndarray, p_fa: np.ndarray) -> np.ndarray:
    """Indices of DET points to draw, at most ~2 * GRID_POINTS of them.

    A curve of millions of trials has millions of points; one point per grid step of each
    axis (in probit space) inside the visible range draws the same picture.
    """
    z_lo, z_hi = _probit(np.array(LIMITS_PERCENT) / 100.0)
    grid = _cdf(np.linspace(z_lo, z_hi, GRID_POINTS))
    along_miss = np.searchsorted(p_miss, grid)           # p_miss rises along the curve
    along_fa = len(p_fa) - 1 - np.searchsorted(p_fa[::-1], grid)  # p_fa falls
    ends = [0, len(p_miss) - 1]
    return np.unique(np.clip(np.concatenate([along_miss, along_fa, ends]), 0, len(p_miss) - 1))


def plot_det(systems: dict[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike,
             title: str = "DET") -> None:
    """Draw one DET curve per system ``name -> (scores, labels)`` and save it to ``path``.

    Axes are normal deviates labelled in percent (0.1% to 50%); each curve's EER point is
    marked and quoted in the legend. The format follows the file suffix (default PNG); the
    file is written atomically.
    """
    if not systems:
        raise ValueError("no systems to plot")
    # Values of exactly 0 or 1 (curve ends) have infinite deviates: clip just outside view.
    eps = 1e-6
    fig = Figure(figsize=(5.5, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, (scores, labels) in systems.items():
        p_miss, p_fa = det_curve(scores, labels)
        keep = _thin(p_miss, p_fa)
        x = _probit(np.clip(p_fa[keep], eps, 1 - eps))
        y = _probit(np.clip(p_miss[keep], eps, 1 - eps))
        eer = eer_from_det_curve(p_miss, p_fa)
        line, = ax.plot(x, y, label=f"{name} (EER {eer:.2f}%)")
        z = _probit(np.clip(eer / 100.0, eps, 1 - eps))
        ax.plot([z], [z], "o", color=line.get_color(), markersize=5)
    lo, hi = _probit(np.array(LIMITS_PERCENT) / 100.0)
    ax.plot([lo, hi], [lo, hi], ":", color="grey", linewidth=0.8)
    ticks = _probit(np.array(TICKS_PERCENT) / 100.0)
    labels_text = [f"{t:g}" for t in TICKS_PERCENT]
    ax.set_xticks(ticks, labels_text)
    ax.set_yticks(ticks, labels_text)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("false alarm rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title)
    ax.grid(True, linewidth=0.5, alpha=0.5)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    file_format = path.suffix.lstrip(".") or "png"
    # The temporary name has no image suffix, so the format is passed explicitly.
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=file_format, dpi=120)
