"""Metrics against independent references: sklearn's ROC for EER, a threshold loop for minDCF,
and explicitly repeated trials for weighted metrics."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from xmodal.eval.metrics import (compute_eer, compute_min_dcf, det_curve, metrics_dict,
                                 metrics_from_det, sort_trials, weighted_error_rates)


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


def distinct_points(p_miss: np.ndarray, p_fa: np.ndarray) -> np.ndarray:
    """DET points without repeats (a zero-weight score value repeats its neighbour)."""
    return np.unique(np.stack([p_miss, p_fa]), axis=1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_integer_weights_equal_repeated_trials(seed, decimals):
    scores, labels = random_trials(seed, 1500, decimals)
    weights = np.random.default_rng(seed + 10).integers(0, 4, len(scores))
    repeated = np.repeat(scores, weights), np.repeat(labels, weights)
    weighted = metrics_dict(scores, labels, weights)
    unweighted = metrics_dict(*repeated)
    for key in ("eer", "mindcf_p0.01", "mindcf_p0.05"):
        assert weighted[key] == pytest.approx(unweighted[key], rel=1e-12, abs=1e-12)
    # Trial counts stay those of the trials given, whatever their weights.
    assert (weighted["n_target"], weighted["n_nontarget"]) == (labels.sum(), (~labels).sum())
    assert compute_min_dcf(scores, labels, 0.3, 2.0, 1.0, weights=weights) == pytest.approx(
        brute_force_min_dcf(*repeated, 0.3, 2.0, 1.0), abs=1e-12)
    np.testing.assert_allclose(distinct_points(*det_curve(scores, labels, weights)),
                               distinct_points(*det_curve(*repeated)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("decimals", [None, 1])
def test_unit_weights_are_bit_identical_to_no_weights(decimals):
    scores, labels = random_trials(5, 2000, decimals)
    ones = np.ones(len(scores))
    for weighted, plain in zip(det_curve(scores, labels, ones), det_curve(scores, labels)):
        assert np.array_equal(weighted, plain)
    assert metrics_dict(scores, labels, ones) == metrics_dict(scores, labels)
    assert compute_eer(scores, labels, ones) == compute_eer(scores, labels)


def test_weighted_ties_known_answer():
    # Nontargets 0.0 (weight 1) and 1.0 (weight 3), a target tied at 1.0 (weight 2): the DET
    # points are (0, 1), (0, 3/4), (1, 0), and p_fa - p_miss = 3/4 - 7t/4 is 0 at t = 3/7.
    assert compute_eer([0.0, 1.0, 1.0], [0, 0, 1], weights=[1, 3, 2]) == pytest.approx(
        300.0 / 7)
    # Reject-all costs 0.01 (p_miss 1); rejecting 0.0 only costs 0.99 * 3/4.
    assert compute_min_dcf([0.0, 1.0, 1.0], [0, 0, 1], 0.01, weights=[1, 3, 2]) == 1.0
    assert compute_min_dcf([0.0, 1.0, 1.0], [0, 0, 1], 0.5, weights=[1, 3, 2]) == (
        pytest.approx(0.5 * 0.75 / 0.5))


def test_scaling_all_weights_changes_nothing():
    scores, labels = random_trials(6, 1000, decimals=1)
    weights = np.random.default_rng(0).random(len(scores))
    a, b = metrics_dict(scores, labels, weights), metrics_dict(scores, labels, 0.37 * weights)
    assert a == pytest.approx(b, rel=1e-12)


def test_corner_points_keep_eer_and_min_dcf_for_any_weights():
    scores, labels = random_trials(7, 3000, decimals=2)
    full, corners = sort_trials(scores, labels), sort_trials(scores, labels, corners_only=True)
    assert len(corners.targets_below) < len(full.targets_below)
    rng = np.random.default_rng(1)
    weights = rng.integers(0, 4, (5, len(scores)))
    weights[:, np.argmax(labels)] = weights[:, np.argmax(~labels)] = 1  # both classes weigh > 0
    for row in weights:
        expected = metrics_dict(scores, labels, row)
        rates = weighted_error_rates(corners, row[corners.target_order],
                                     row[corners.nontarget_order])
        got = metrics_from_det(*rates)
        assert float(got["eer"]) == pytest.approx(expected["eer"], rel=1e-12)
        assert float(got["mindcf_p0.01"]) == expected["mindcf_p0.01"]
        assert float(got["mindcf_p0.05"]) == expected["mindcf_p0.05"]


def test_weighted_rates_of_stacked_rows_equal_each_row_alone():
    scores, labels = random_trials(8, 500, decimals=1)
    trials = sort_trials(scores, labels)
    weights = np.random.default_rng(2).integers(1, 5, (3, len(scores)))
    p_miss, p_fa = weighted_error_rates(trials, weights[:, trials.target_order],
                                        weights[:, trials.nontarget_order])
    for row, miss, fa in zip(weights, p_miss, p_fa):
        expected_miss, expected_fa = det_curve(scores, labels, row)
        assert np.array_equal(miss, expected_miss) and np.array_equal(fa, expected_fa)


@pytest.mark.parametrize("weights,message", [
    ([1.0, 1.0], "weights of shape"),
    ([1.0, -1.0, 1.0], "non-negative"),
    ([1.0, np.nan, 1.0], "finite"),
    ([0.0, 1.0, 1.0], "the target trials have zero total weight"),
    ([1.0, 0.0, 0.0], "the nontarget trials have zero total weight"),
])
def test_bad_weights_are_value_errors(weights, message):
    with pytest.raises(ValueError, match=message):
        metrics_dict([0.5, 0.1, 0.2], [1, 0, 0], weights)
