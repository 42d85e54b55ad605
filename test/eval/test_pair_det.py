"""All-pairs DET curve in blocks: exactly the all-pairs metrics, in memory bounded by blocks."""
from __future__ import annotations

import tracemalloc
from itertools import combinations

import numpy as np
import pytest

from xmodal.eval.metrics import compute_eer, compute_min_dcf, eer_from_det_curve
from xmodal.eval.pair_det import all_pairs_det_curve


def labelled_embeddings(rng: np.random.Generator, n_spk: int, per_spk: int, dim: int,
                        quantise: float = 0.0):
    """Speaker-clustered unit vectors, two videos per speaker; ``quantise`` makes tied scores."""
    centres = rng.standard_normal((n_spk, dim))
    speakers = np.repeat(np.arange(n_spk), per_spk)
    x = centres[speakers] + 1.5 * rng.standard_normal((len(speakers), dim))
    if quantise:
        x = np.round(x / quantise) * quantise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    videos = np.array([f"{s}/{i % 2}" for i, s in enumerate(speakers)])
    return x, speakers, videos


@pytest.mark.parametrize("quantise,block_rows", [(0.0, 7), (0.0, 1000), (1.0, 5)])
def test_metrics_equal_those_of_the_explicit_pair_list(quantise: float, block_rows: int):
    rng = np.random.default_rng(0)
    # Integer-valued vectors (quantise=1) give many tied scores, across the two classes too.
    x, speakers, videos = labelled_embeddings(rng, 12, 9, 4, quantise)
    if quantise:
        x = np.round(rng.standard_normal((len(x), 3)))
    pairs = [(i, j) for i, j in combinations(range(len(x)), 2) if videos[i] != videos[j]]
    i, j = np.array(pairs).T
    scores, labels = (x[i] * x[j]).sum(axis=1), speakers[i] == speakers[j]
    if quantise:
        assert len(np.unique(scores)) < len(scores) / 10
    p_miss, p_fa, n_target, n_nontarget = all_pairs_det_curve(x, speakers, videos, block_rows)
    assert (n_target, n_nontarget) == (labels.sum(), (~labels).sum())
    assert eer_from_det_curve(p_miss, p_fa) == pytest.approx(compute_eer(scores, labels), abs=1e-9)
    c_det = 0.05 * p_miss + 0.95 * p_fa
    assert c_det.min() / 0.05 == pytest.approx(compute_min_dcf(scores, labels, 0.05), abs=1e-9)
    assert np.all(np.diff(p_miss) >= 0) and np.all(np.diff(p_fa) <= 0)


def test_memory_stays_bounded_where_the_pair_list_would_not():
    """8,000 tracks: 3.2e7 pairs, whose index arrays alone would take 512 MB."""
    rng = np.random.default_rng(1)
    x, speakers, videos = labelled_embeddings(rng, 400, 20, 8)
    tracemalloc.start()
    p_miss, p_fa, n_target, n_nontarget = all_pairs_det_curve(x, speakers, videos, block_rows=256)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n_target + n_nontarget == 400 * 10 * 10 + (8000 * 7999 // 2 - 400 * 190)
    # Two blocks of 256 x 8,000 scores and masks (about 16 MB each) and the target scores.
    assert peak < 120e6, f"peak {peak / 1e6:.0f} MB"
    assert 0.0 < eer_from_det_curve(p_miss, p_fa) < 50.0


def test_bad_input_is_refused():
    x = np.eye(3)
    with pytest.raises(ValueError, match="3 embeddings, 2 speakers"):
        all_pairs_det_curve(x, [0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="need target and non-target pairs"):
        all_pairs_det_curve(x, [0, 1, 2], ["a", "b", "c"])
