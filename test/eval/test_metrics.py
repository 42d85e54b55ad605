"""Metrics against independent references: sklearn's ROC for EER, a threshold loop for minDCF."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from xmodal.eval.metrics import compute_eer, compute_min_dcf, det_curve, metrics_dict


def sklearn_eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """EER (percent) where sklearn's ROC polyline crosses fnr == fpr, found by root search."""
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1.0 - tpr
    # Parametrise the polyline by point index: fnr - fpr then falls monotonically from 1 to -1.
    u = np.arange(len(fpr), dtype=float)
    root = brentq(lambda x: np.interp(x, u, fnr) - np.interp(x, u, fpr), 0.0, u[-1], xtol=1e-13)
    return 100.0 * float(np.interp(root, u, fpr))


def brute_force_min_dcf(scores, labels, p_target, c_miss=1.0, c_fa=1.0) -> float:
    """Normalised minDCF by trying every threshold (accept score >= t) one at a time."""
    target, nontarget = scores[labels], scores[~labels]
    best = np.inf
    for t in list(np.unique(scores)) + [np.inf]:
        p_miss = np.mean(target < t)
        p_fa = np.mean(nontarget >= t)
        best = min(best, c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa)
    return best / min(c_miss * p_target, c_fa * (1 - p_target))


def random_trials(seed: int, n: int, decimals: int | None = 1):
    """Overlapping target/nontarget scores; rounding makes many ties, across classes too."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    scores = rng.normal(size=n) + 1.5 * labels
    return (np.round(scores, decimals) if decimals is not None else scores), labels


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decimals", [None, 2, 1, 0])
def test_eer_matches_sklearn_roc_with_ties(seed, decimals):
    scores, labels = random_trials(seed, 3000, decimals)
    # Both are exact interpolations of the same polyline: only root-finding error remains.
    assert compute_eer(scores, labels) == pytest.approx(sklearn_eer(scores, labels), abs=1e-6)


def test_eer_does_not_depend_on_order_of_tied_scores():
    scores, labels = random_trials(0, 2000, decimals=0)
    order = np.random.default_rng(1).permutation(len(scores))
    assert compute_eer(scores[order], labels[order]) == compute_eer(scores, labels)
    assert compute_min_dcf(scores[order], labels[order], 0.01) == compute_min_dcf(
        scores, labels, 0.01)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("p_target,c_miss,c_fa", [(0.01, 1, 1), (0.05, 1, 1), (0.3, 1, 1),
                                                  (0.05, 10, 1), (0.5, 1, 3)])
def test_min_dcf_matches_brute_force(seed, p_target, c_miss, c_fa):
    scores, labels = random_trials(seed, 400, decimals=1)
    expected = brute_force_min_dcf(scores, labels, p_target, c_miss, c_fa)
    assert compute_min_dcf(scores, labels, p_target, c_miss, c_fa) == pytest.approx(expected,
                                                                                   abs=1e-12)


def test_perfect_separation_gives_zero_errors():
    labels = np.array([0, 0, 0, 1, 1], dtype=bool)
    scores = np.array([-2.0, -1.0, 0.5, 0.6, 3.0])
    assert compute_eer(scores, labels) == 0.0
    assert compute_min_dcf(scores, labels, 0.01) == 0.0


def test_reversed_separation_gives_full_error():
    labels = np.array([1, 1, 0, 0], dtype=bool)
    assert compute_eer(np.array([0.0, 1.0, 2.0, 3.0]), labels) == pytest.approx(100.0)


def test_identical_distributions_give_about_half():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=200_000), rng.random(200_000) < 0.5
    assert compute_eer(scores, labels) == pytest.approx(50.0, abs=0.5)
    # All scores tied: the only operating points are accept-all and reject-all.
    assert compute_eer(np.zeros(10), labels[:10]) == pytest.approx(50.0)
    assert compute_min_dcf(np.zeros(10), labels[:10], 0.01) == pytest.approx(1.0)


def test_interpolates_between_det_points():
    # Classes alternate: rejecting scores 0 and 1 gives the DET point p_miss = p_fa = 0.5.
    assert compute_eer([0.0, 1.0, 2.0, 3.0], [0, 1, 0, 1]) == pytest.approx(50.0)
    # One target and one nontarget tied: the segment (0,1)->(1,0) crosses at 0.5.
    assert compute_eer([1.0, 1.0], [0, 1]) == pytest.approx(50.0)
    # 2 nontargets, 1 target tied with one of them: segment (0,0.5)->(1,0) crosses at 1/3.
    assert compute_eer([0.0, 1.0, 1.0], [0, 0, 1]) == pytest.approx(100.0 / 3)


def test_det_curve_shape_and_ends():
    scores, labels = random_trials(3, 500, decimals=1)
    p_miss, p_fa = det_curve(scores, labels)
    assert (p_miss[0], p_fa[0], p_miss[-1], p_fa[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert (np.diff(p_miss) >= 0).all() and (np.diff(p_fa) <= 0).all()
    # One point per distinct score, plus the accept-all start.
    assert len(p_miss) == len(np.unique(scores)) + 1


def test_metrics_dict_agrees_with_single_functions():
    scores, labels = random_trials(2, 1000, decimals=2)
    result = metrics_dict(scores, labels.astype(int))
    assert set(result) == {"eer", "mindcf_p0.01", "mindcf_p0.05", "n_target", "n_nontarget"}
    assert result["eer"] == compute_eer(scores, labels)
    assert result["mindcf_p0.01"] == compute_min_dcf(scores, labels, 0.01)
    assert result["mindcf_p0.05"] == compute_min_dcf(scores, labels, 0.05)
    assert (result["n_target"], result["n_nontarget"]) == (labels.sum(), (~labels).sum())


@pytest.mark.parametrize("scores,labels,message", [
    ([1.0, 2.0], [1, 1], "both target and nontarget"),
    ([1.0, 2.0], [0, 0], "both target and nontarget"),
    ([], [], "both target and nontarget"),
    ([1.0, 2.0], [0, 1, 1], "2 scores but 3 labels"),
    ([1.0, np.nan], [0, 1], "NaN"),
    ([1.0, 2.0], [0, 2], "boolean or 0/1"),
])
def test_bad_input_is_a_clear_value_error(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        compute_eer(scores, labels)
    with pytest.raises(ValueError, match=message):
        metrics_dict(scores, labels)


def test_min_dcf_rejects_bad_parameters():
    with pytest.raises(ValueError, match="p_target"):
        compute_min_dcf([0.0, 1.0], [0, 1], 1.5)
    with pytest.raises(ValueError, match="costs"):
        compute_min_dcf([0.0, 1.0], [0, 1], 0.01, c_miss=0)
