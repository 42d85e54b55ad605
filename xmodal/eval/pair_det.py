"""The DET curve of every pair of a set of embeddings, in memory that does not grow with pairs.

Paper Table 2's track-level EER scores every pair of tracks from different videos: about
6.6e8 pairs for VoxCeleb2 test, far too many to hold. Scores are computed here in blocks of
rows by matrix products, twice: the first pass keeps the target (same-speaker) scores, which
grow only with the tracks per speaker; the second counts the non-target scores that fall on
or between the distinct target scores. Those counts give the DET curve at every target score,
which is the full curve less points that differ only in p_fa at a constant p_miss: its EER
(linear interpolation) and minimum DCF are exactly those of ``metrics.det_curve`` on all
pairs.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _blocks(x: np.ndarray, speakers: np.ndarray, videos: np.ndarray, block_rows: int
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(scores, is_target)`` of the pairs ``i < j`` from different videos, a block of ``i`` at a time."""
    n = len(x)
    for start in range(0, n - 1, block_rows):
        rows = slice(start, min(start + block_rows, n))
        scores = x[rows] @ x[start:].T
        i = np.arange(rows.start, rows.stop)[:, None]
        j = np.arange(start, n)[None, :]
        valid = (j > i) & (videos[rows, None] != videos[None, start:])
        target = speakers[rows, None] == speakers[None, start:]
        yield scores[valid], target[valid]


def all_pairs_det_curve(x: np.ndarray, speakers, videos, block_rows: int = 512
                        ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """DET curve ``(p_miss, p_fa)`` of dot-product scores of all pairs from different videos.

    ``x`` is (n, d), one row per item (normalise rows first for cosine scores); ``speakers``
    and ``videos`` label the rows. Returns the curve, as ``metrics.det_curve`` orders it, and
    the numbers of target and non-target pairs. Memory: ``block_rows * n`` scores plus the
    target scores.
    """
    x = np.asarray(x, dtype=np.float64)
    speakers, videos = np.asarray(speakers), np.asarray(videos)
    if not len(x) == len(speakers) == len(videos):
        raise ValueError(f"{len(x)} embeddings, {len(speakers)} speakers, {len(videos)} videos")
    if block_rows < 1:
        raise ValueError(f"block_rows must be >= 1, got {block_rows}")
    target_scores = np.concatenate(
        [s[t] for s, t in _blocks(x, speakers, videos, block_rows)] or [np.empty(0)])
    values, per_value = np.unique(target_scores, return_counts=True)
    k = len(values)
    # equal[m]: non-targets scoring values[m]; between[m]: strictly between values[m - 1]
    # and values[m] (between[0] below them all, between[k] above them all).
    equal, between = np.zeros(k, np.int64), np.zeros(k + 1, np.int64)
    for scores, target in _blocks(x, speakers, videos, block_rows):
        s = scores[~target]
        left, right = np.searchsorted(values, s, "left"), np.searchsorted(values, s, "right")
        on = right > left
        equal += np.bincount(left[on], minlength=k)
        between += np.bincount(left[~on], minlength=k + 1)
    n_target, n_nontarget = len(target_scores), int(equal.sum() + between.sum())
    if n_target == 0 or n_nontarget == 0:
        raise ValueError(f"need target and non-target pairs, got {n_target} and {n_nontarget}")
    # Accepting scores >= values[m] (point A) and > values[m] (point B), for every m.
    ge = np.cumsum((equal + between[1:])[::-1])[::-1]
    gt = ge - equal
    below = np.concatenate([[0], np.cumsum(per_value)[:-1]])
    p_miss = np.concatenate([[0.0], np.stack([below, below + per_value], 1).ravel() / n_target, [1.0]])
    p_fa = np.concatenate([[1.0], np.stack([ge, gt], 1).ravel() / n_nontarget, [0.0]])
    return p_miss, p_fa, n_target, n_nontarget
