"""Speaker-verification metrics: pure numpy functions of (scores, labels), no I/O.

Conventions: a trial is accepted when its score is at or above the threshold; ``labels`` are
booleans (or 0/1) with True meaning a target trial. Operating points are taken only between
distinct score values, so tied scores move together and the result does not depend on the
order of equal scores. Every score is sorted once (within its class); the rest is linear.
"""
from __future__ import annotations

import numpy as np

# (key in metrics_dict, p_target): both conventions of the field, always labelled.
MINDCF_P_TARGETS = (("mindcf_p0.01", 0.01), ("mindcf_p0.05", 0.05))


def _check_inputs(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and labels as bool, 1-D, same length, both classes present."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 1 or labels.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {scores.shape} and "
                         f"{labels.shape}")
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels")
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be boolean or 0/1")
        labels = labels == 1
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    n_target = int(np.count_nonzero(labels))
    if n_target == 0 or n_target == len(labels):
        raise ValueError(f"need both target and nontarget trials, got {n_target} target and "
                         f"{len(labels) - n_target} nontarget")
    return scores, labels


def _run_ends(sorted_values: np.ndarray) -> np.ndarray:
    """Index of the last element of each run of equal values in a sorted array."""
    return np.append(np.flatnonzero(sorted_values[1:] != sorted_values[:-1]),
                     len(sorted_values) - 1)


def _error_rates(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every threshold between distinct scores, plus both ends.

    Point 0 accepts everything (p_miss 0, p_fa 1); point j > 0 rejects every score up to and
    including the j-th smallest distinct value; the last point rejects everything (1, 0).
    """
    # Sorting each class on its own (np.sort, no argsort) is the one sort and the main cost.
    target = np.sort(scores[labels])
    nontarget = np.sort(scores[~labels])
    n_target, n_nontarget = len(target), len(nontarget)
    # (targets, nontargets) at or below each distinct score of either class; searching by
    # value keeps ties together, so a threshold never splits a run of equal scores.
    target_ends, nontarget_ends = _run_ends(target), _run_ends(nontarget)
    points = (
        (target_ends + 1, np.searchsorted(nontarget, target[target_ends], side="right")),
        (np.searchsorted(target, nontarget[nontarget_ends], side="right"), nontarget_ends + 1),
    )
    # Both counts grow with the threshold, so their sum (1..n) orders the points: scatter by
    # it instead of merging by a second sort. A score present in both classes gives the same
    # point twice, written to the same slot.
    targets_below = np.full(n_target + n_nontarget + 1, -1, dtype=np.int64)
    nontargets_below = np.zeros(n_target + n_nontarget + 1, dtype=np.int64)
    targets_below[0] = 0
    for tar, non in points:
        targets_below[tar + non] = tar
        nontargets_below[tar + non] = non
    present = targets_below >= 0
    p_miss = targets_below[present] / n_target
    p_fa = (n_nontarget - nontargets_below[present]) / n_nontarget
    return p_miss, p_fa


def det_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """The DET curve ``(p_miss, p_fa)`` as fractions, p_miss rising and p_fa falling.

    One point per threshold between distinct score values, plus the accept-all (0, 1) and
    reject-all (1, 0) end points.
    """
    return _error_rates(*_check_inputs(scores, labels))


def eer_from_det_curve(p_miss: np.ndarray, p_fa: np.ndarray) -> float:
    """EER in percent where the piecewise-linear DET curve crosses p_miss == p_fa.

    ``p_miss`` and ``p_fa`` as ``det_curve`` returns them.
    """
    gap = p_fa - p_miss  # non-increasing, from 1 at the first point to -1 at the last
    i = int(np.argmax(gap <= 0))
    before, after = gap[i - 1], gap[i]
    t = before / (before - after)
    return 100.0 * float(p_miss[i - 1] + t * (p_miss[i] - p_miss[i - 1]))


def compute_eer(scores, labels) -> float:
    """Equal error rate in percent, linearly interpolated between the two DET points around it.

    Raises ValueError for empty input, a single class, mismatched lengths or non-finite scores.
    """
    return eer_from_det_curve(*det_curve(scores, labels))


def _min_dcf_from_rates(p_miss: np.ndarray, p_fa: np.ndarray, p_target: float,
                        c_miss: float, c_fa: float) -> float:
    """Normalised minimum detection cost over the given operating points."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")
    c_det = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    # Normalise by the cost of the better trivial system (accept all or reject all).
    c_default = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return float(c_det.min() / c_default)


def compute_min_dcf(scores, labels, p_target: float, c_miss: float = 1.0,
                    c_fa: float = 1.0) -> float:
    """Normalised minimum DCF (NIST SRE / Kaldi ``compute_min_dcf.py`` definition).

    ``min_t [c_miss p_target P_miss(t) + c_fa (1 - p_target) P_fa(t)]`` divided by
    ``min(c_miss p_target, c_fa (1 - p_target))``; at most 1 since the trivial systems are
    among the operating points.
    """
    return _min_dcf_from_rates(*det_curve(scores, labels), p_target, c_miss, c_fa)


def metrics_dict(scores, labels) -> dict[str, float | int]:
    """EER (percent), minDCF at p_target 0.01 and 0.05 (c_miss = c_fa = 1) and trial counts.

    Computes the DET curve once for all three numbers.
    """
    scores, labels = _check_inputs(scores, labels)
    p_miss, p_fa = _error_rates(scores, labels)
    result: dict[str, float | int] = {"eer": eer_from_det_curve(p_miss, p_fa)}
    for key, p_target in MINDCF_P_TARGETS:
        result[key] = _min_dcf_from_rates(p_miss, p_fa, p_target, 1.0, 1.0)
    n_target = int(np.count_nonzero(labels))
    result["n_target"] = n_target
    result["n_nontarget"] = len(labels) - n_target
    return result
