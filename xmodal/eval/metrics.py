"""Speaker-verification metrics: pure numpy functions of (scores, labels), no I/O.

Conventions: a trial is accepted when its score is at or above the threshold; ``labels`` are
booleans (or 0/1) with True meaning a target trial. Operating points are taken only between
distinct score values, so tied scores move together and the result does not depend on the
order of equal scores. Every score is sorted once (within its class); the rest is linear.

Optional ``weights`` (one non-negative number per trial) make a trial of weight w count w
times in both error rates: integer weights give exactly the metrics of the trial list with
each trial repeated that many times. ``sort_trials`` and ``weighted_error_rates`` expose the
split between the one sort and the linear part, so that many weightings of the same trials
(bootstrap replicates) cost O(n) each.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (key in metrics_dict, p_target): both conventions of the field, always labelled.
MINDCF_P_TARGETS = (("mindcf_p0.01", 0.01), ("mindcf_p0.05", 0.05))


def scores_and_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and labels as bool (from bool or 0/1), both 1-D and of one length;
    a ValueError otherwise. Values and classes are the caller's to check."""
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
    return scores, labels


def _check_inputs(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float64 and labels as bool, 1-D, same length, both classes present."""
    scores, labels = scores_and_labels(scores, labels)
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    n_target = int(np.count_nonzero(labels))
    if n_target == 0 or n_target == len(labels):
        raise ValueError(f"need both target and nontarget trials, got {n_target} target and "
                         f"{len(labels) - n_target} nontarget")
    return scores, labels


def _check_weights(weights, labels: np.ndarray) -> np.ndarray:
    """Weights as float64, one finite non-negative value per trial, each class weighing > 0."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != labels.shape:
        raise ValueError(f"weights of shape {weights.shape} for {len(labels)} trials")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("weights must be finite and non-negative")
    for name, members in (("target", labels), ("nontarget", ~labels)):
        if not weights[members].sum() > 0:
            raise ValueError(f"the {name} trials have zero total weight")
    return weights


def _run_ends(sorted_values: np.ndarray) -> np.ndarray:
    """Index of the last element of each run of equal values in a sorted array."""
    return np.append(np.flatnonzero(sorted_values[1:] != sorted_values[:-1]),
                     len(sorted_values) - 1)


def _counts_below(target: np.ndarray, nontarget: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets and nontargets rejected at each DET point, from each class's sorted scores.

    Point 0 rejects nothing; point j > 0 rejects every score up to and including the j-th
    smallest distinct value of either class, so the last point rejects everything.
    """
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
    return targets_below[present], nontargets_below[present]


def _error_rates(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted miss and false-alarm rates at every DET point (see ``_counts_below``)."""
    # Sorting each class on its own (np.sort, no argsort) is the one sort and the main cost.
    target = np.sort(scores[labels])
    nontarget = np.sort(scores[~labels])
    targets_below, nontargets_below = _counts_below(target, nontarget)
    n_target, n_nontarget = len(target), len(nontarget)
    return targets_below / n_target, (n_nontarget - nontargets_below) / n_nontarget


@dataclass(frozen=True)
class SortedTrials:
    """One system's trials sorted by score within each class, and its DET points as counts.

    ``target_order`` (``nontarget_order``) lists the trial indices of the targets
    (nontargets) by ascending score; ``targets_below[j]`` and ``nontargets_below[j]`` are how
    many of each class DET point j rejects.
    """

    target_order: np.ndarray
    nontarget_order: np.ndarray
    targets_below: np.ndarray
    nontargets_below: np.ndarray


def sort_trials(scores, labels, corners_only: bool = False) -> SortedTrials:
    """Sort the trials once (O(n log n)) for any number of ``weighted_error_rates`` calls.

    With ``corners_only``, the DET points inside a run of steps that all reject trials of
    the same one class are dropped: whatever the weights, they lie on the straight segment
    between the run's ends, so EER is unchanged (up to rounding) and minDCF exactly.
    """
    return _sort_checked(*_check_inputs(scores, labels), corners_only)


def _sort_checked(scores: np.ndarray, labels: np.ndarray, corners_only: bool) -> SortedTrials:
    """``sort_trials`` of inputs that ``_check_inputs`` has passed."""
    target_idx, nontarget_idx = np.flatnonzero(labels), np.flatnonzero(~labels)
    target_order = target_idx[np.argsort(scores[target_idx], kind="stable")]
    nontarget_order = nontarget_idx[np.argsort(scores[nontarget_idx], kind="stable")]
    targets_below, nontargets_below = _counts_below(scores[target_order],
                                                    scores[nontarget_order])
    if corners_only:
        targets_only, nontargets_only = np.diff(nontargets_below) == 0, np.diff(targets_below) == 0
        inside = ((targets_only[:-1] & targets_only[1:])
                  | (nontargets_only[:-1] & nontargets_only[1:]))
        keep = np.concatenate([[True], ~inside, [True]])
        targets_below, nontargets_below = targets_below[keep], nontargets_below[keep]
    return SortedTrials(target_order, nontarget_order, targets_below, nontargets_below)


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Running sums along the last axis with a leading 0: entry k sums the first k weights."""
    sums = np.zeros(weights.shape[:-1] + (weights.shape[-1] + 1,), dtype=weights.dtype)
    np.cumsum(weights, axis=-1, out=sums[..., 1:])
    return sums


def weighted_error_rates(trials: SortedTrials, target_weights: np.ndarray,
                         nontarget_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ``(p_miss, p_fa)`` at the DET points of ``trials``, in O(n) per weighting.

    Weights are given in sorted order: ``target_weights[..., k]`` belongs to trial
    ``trials.target_order[k]``, likewise for nontargets. Leading axes index independent
    weightings (rows of bootstrap replicates); each class must weigh more than 0 in each.
    Sums are kept in the weights' dtype: integer weights are summed exactly, provided each
    class total fits that type.
    """
    cum_target = np.take(_cumulative(target_weights), trials.targets_below, axis=-1)
    cum_nontarget = np.take(_cumulative(nontarget_weights), trials.nontargets_below, axis=-1)
    total_target, total_nontarget = cum_target[..., -1:], cum_nontarget[..., -1:]
    return cum_target / total_target, (total_nontarget - cum_nontarget) / total_nontarget


def det_curve(scores, labels, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """The DET curve ``(p_miss, p_fa)`` as fractions, p_miss rising and p_fa falling.

    One point per threshold between distinct score values, plus the accept-all (0, 1) and
    reject-all (1, 0) end points. With ``weights``, a score value held only by trials of
    weight 0 repeats the previous point.
    """
    scores, labels = _check_inputs(scores, labels)
    if weights is None:
        return _error_rates(scores, labels)
    weights = _check_weights(weights, labels)
    trials = _sort_checked(scores, labels, corners_only=False)
    return weighted_error_rates(trials, weights[trials.target_order],
                                weights[trials.nontarget_order])


def _eer_rows(p_miss: np.ndarray, p_fa: np.ndarray) -> np.ndarray:
    """``eer_from_det_curve`` of each row (last axis) of stacked DET curves."""
    gap = p_fa - p_miss  # non-increasing, from 1 at the first point to -1 at the last
    i = np.argmax(gap <= 0, axis=-1)[..., None]
    before, after = np.take_along_axis(gap, i - 1, -1), np.take_along_axis(gap, i, -1)
    t = before / (before - after)
    miss_before, miss_after = np.take_along_axis(p_miss, i - 1, -1), np.take_along_axis(
        p_miss, i, -1)
    return 100.0 * (miss_before + t * (miss_after - miss_before))[..., 0]


def eer_from_det_curve(p_miss: np.ndarray, p_fa: np.ndarray) -> float:
    """EER in percent where the piecewise-linear DET curve crosses p_miss == p_fa.

    ``p_miss`` and ``p_fa`` as ``det_curve`` returns them.
    """
    return float(_eer_rows(p_miss, p_fa))


def compute_eer(scores, labels, weights=None) -> float:
    """Equal error rate in percent, linearly interpolated between the two DET points around it.

    Raises ValueError for empty input, a single class, mismatched lengths, non-finite scores
    or bad ``weights``.
    """
    return eer_from_det_curve(*det_curve(scores, labels, weights))


def _min_dcf_rows(p_miss: np.ndarray, p_fa: np.ndarray, p_target: float, c_miss: float,
                  c_fa: float) -> np.ndarray:
    """Normalised minimum detection cost over the operating points of each row (last axis)."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    if c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"costs must be positive, got c_miss={c_miss}, c_fa={c_fa}")
    c_det = c_miss * p_target * p_miss + c_fa * (1.0 - p_target) * p_fa
    # Normalise by the cost of the better trivial system (accept all or reject all).
    c_default = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return c_det.min(axis=-1) / c_default


def compute_min_dcf(scores, labels, p_target: float, c_miss: float = 1.0,
                    c_fa: float = 1.0, weights=None) -> float:
    """Normalised minimum DCF (NIST SRE / Kaldi ``compute_min_dcf.py`` definition).

    ``min_t [c_miss p_target P_miss(t) + c_fa (1 - p_target) P_fa(t)]`` divided by
    ``min(c_miss p_target, c_fa (1 - p_target))``; at most 1 since the trivial systems are
    among the operating points.
    """
    return float(_min_dcf_rows(*det_curve(scores, labels, weights), p_target, c_miss, c_fa))


def metrics_from_det(p_miss: np.ndarray, p_fa: np.ndarray) -> dict[str, np.ndarray]:
    """EER (percent) and minDCF at p_target 0.01 and 0.05 (c_miss = c_fa = 1) of DET curves.

    Rows (last axis) of stacked curves are evaluated independently; 1-D input gives 0-d arrays.
    """
    result = {"eer": _eer_rows(p_miss, p_fa)}
    for key, p_target in MINDCF_P_TARGETS:
        result[key] = _min_dcf_rows(p_miss, p_fa, p_target, 1.0, 1.0)
    return result


def metrics_dict(scores, labels, weights=None) -> dict[str, float | int]:
    """EER (percent), minDCF at p_target 0.01 and 0.05 (c_miss = c_fa = 1) and trial counts.

    Computes the DET curve once for all three numbers. The counts are of trials, whatever
    their ``weights``.
    """
    p_miss, p_fa = det_curve(scores, labels, weights)
    result: dict[str, float | int] = {key: float(value) for key, value in
                                      metrics_from_det(p_miss, p_fa).items()}
    n_target = int(np.count_nonzero(np.asarray(labels)))
    result["n_target"] = n_target
    result["n_nontarget"] = len(labels) - n_target
    return result
