"""Calibration and calibration-sensitive metrics against known answers and independent
references: planted Gaussians (whose true LLR is known), plain-Python Cllr and DCF loops,
a plain-Python pool-adjacent-violators fit, and explicitly resampled trial lists."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
from scipy.integrate import quad
from scipy.stats import norm

from xmodal.eval.bootstrap import (calibrated_speaker_bootstrap, calibration_replicates,
                                   speaker_replicates)
from xmodal.eval.calibration import (CALIBRATION_KEYS, Calibration, actual_dcf,
                                     calibration_metrics, cllr, fit_calibration, min_cllr)
from xmodal.eval.metrics import compute_min_dcf

# Planted scores: targets ~ N(MU1, SIGMA), nontargets ~ N(MU0, SIGMA). Their true LLR is
# log N(s; MU1) - log N(s; MU0) = TRUE_SCALE * s + TRUE_OFFSET.
MU0, MU1, SIGMA = 0.5, 2.5, 1.0
TRUE_SCALE = (MU1 - MU0) / SIGMA ** 2
TRUE_OFFSET = -(MU1 ** 2 - MU0 ** 2) / (2 * SIGMA ** 2)


def planted(seed: int, n: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """``n`` target and ``n`` nontarget scores from the planted Gaussians."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(MU1, SIGMA, n), rng.normal(MU0, SIGMA, n)])
    return scores, np.arange(2 * n) < n


def random_trials(seed: int, n: int, decimals: int = 1):
    """Overlapping classes with many ties (within and across classes), integer weights."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    scores = np.round(rng.normal(size=n) + 1.5 * labels, decimals)
    return scores, labels, rng.integers(0, 4, n)


def reference_cllr(llrs, labels) -> float:
    """Cllr in bits, one trial at a time: 0.5/log 2 (mean_t log(1+e^-l) + mean_n log(1+e^l))."""
    target = [math.log1p(math.exp(-l)) for l, y in zip(llrs, labels) if y]
    nontarget = [math.log1p(math.exp(l)) for l, y in zip(llrs, labels) if not y]
    return 0.5 / math.log(2) * (sum(target) / len(target) + sum(nontarget) / len(nontarget))


def reference_dcf(llrs, labels, p, c_miss, c_fa) -> float:
    """Normalised DCF of accepting LLRs at or above log(c_fa (1-p) / (c_miss p)), counted
    one trial at a time."""
    threshold = math.log(c_fa * (1 - p) / (c_miss * p))
    misses = targets = false_alarms = nontargets = 0
    for llr, label in zip(llrs, labels):
        if label:
            targets += 1
            misses += llr < threshold
        else:
            nontargets += 1
            false_alarms += llr >= threshold
    cost = c_miss * p * misses / targets + c_fa * (1 - p) * false_alarms / nontargets
    return cost / min(c_miss * p, c_fa * (1 - p))


def reference_min_cllr(scores, labels, weights) -> float:
    """minCllr by a plain pool-adjacent-violators loop over tie-pooled sorted scores.

    Each block keeps its (target weight, nontarget weight). Its optimal LLR is
    log(T/N) - log(T_all/N_all), so a target of the block costs
    log(1 + (N/T)(T_all/N_all)) and a nontarget log(1 + (T/N)(N_all/T_all)).
    """
    pooled: dict[float, list[float]] = {}
    for score, label, weight in zip(scores, labels, weights):
        if weight > 0:
            block = pooled.setdefault(float(score), [0.0, 0.0])
            block[0 if label else 1] += weight
    blocks: list[list[float]] = []
    for score in sorted(pooled):
        blocks.append(list(pooled[score]))
        # Merge while the previous block's target fraction exceeds the last one's.
        while len(blocks) > 1 and (blocks[-2][0] * sum(blocks[-1])
                                   > blocks[-1][0] * sum(blocks[-2])):
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1]]
    t_all, n_all = sum(b[0] for b in blocks), sum(b[1] for b in blocks)
    target_cost = sum(t * math.log1p(n / t * t_all / n_all) for t, n in blocks if t > 0)
    nontarget_cost = sum(n * math.log1p(t / n * n_all / t_all) for t, n in blocks if n > 0)
    return 0.5 / math.log(2) * (target_cost / t_all + nontarget_cost / n_all)


# --- fitting -------------------------------------------------------------------------------

@pytest.mark.parametrize("p_target", [0.01, 0.05, 0.5])
def test_fit_recovers_the_true_llr_of_planted_gaussians_at_any_prior(p_target):
    scores, labels = planted(0)
    fitted = fit_calibration(scores, labels, p_target)
    # The true LLR is linear in the score, so every prior's fit estimates the same map.
    # Over 20 seeds at p_target 0.01 (the noisiest) the estimates' sd is 0.045 (scale) and
    # 0.065 (offset): 0.25 is about 4 sd. Without the logit(p_target) shift in the fit,
    # the 0.01 offset would be off by logit(0.01) = -4.6.
    assert fitted.scale == pytest.approx(TRUE_SCALE, abs=0.25)
    assert fitted.offset == pytest.approx(TRUE_OFFSET, abs=0.25)
    assert fitted.p_target == p_target


def test_true_llrs_are_calibrated():
    scores, labels = planted(1)
    true_llrs = TRUE_SCALE * scores + TRUE_OFFSET
    # The population Cllr: by symmetry, E over target LLRs ~ N(d^2/2, d^2) of log2(1+e^-L).
    d = (MU1 - MU0) / SIGMA
    population = quad(lambda v: norm.pdf(v, d * d / 2, d) * np.logaddexp(0, -v),
                      -np.inf, np.inf)[0] / math.log(2)
    assert cllr(true_llrs, labels) == pytest.approx(population, abs=0.01)
    # Calibrated LLRs lose almost nothing to the best monotone map (PAV overfits ~0.003
    # here); shifting them by 1 nat would cost 0.08.
    best = min_cllr(scores, labels)
    assert best <= cllr(true_llrs, labels) <= best + 0.01
    assert cllr(true_llrs + 1.0, labels) > best + 0.05
    # Bayes thresholds on calibrated LLRs (true, or fitted at that prior) land near the best
    # ones: over 20 seeds the largest excess was 0.03 at p 0.01 (few errors decide it) and
    # 0.01 at p 0.05. A 1-nat shift of the LLRs costs over 0.1 at either prior.
    for p_target, margin in ((0.01, 0.04), (0.05, 0.02)):
        minimum = compute_min_dcf(scores, labels, p_target)
        fitted_llrs = fit_calibration(scores, labels, p_target).llr(scores)
        for llrs in (true_llrs, fitted_llrs):
            assert minimum - 1e-12 <= actual_dcf(llrs, labels, p_target) <= minimum + margin
        assert actual_dcf(true_llrs + 1.0, labels, p_target) > minimum + 0.1


def test_fit_is_invariant_to_a_positive_affine_change_of_the_scores():
    scores, labels = planted(2, n=3000)
    fitted = fit_calibration(scores, labels)
    moved_scores = 7.5 + 0.02 * scores
    moved = fit_calibration(moved_scores, labels)
    np.testing.assert_allclose(moved.llr(moved_scores), fitted.llr(scores), rtol=0, atol=1e-7)
    assert moved.threshold_score == pytest.approx(7.5 + 0.02 * fitted.threshold_score,
                                                  abs=1e-8)


def test_calibration_thresholds_and_dict_round_trip():
    c = Calibration(scale=2.0, offset=-1.0, p_target=0.01)
    assert c.threshold_llr == pytest.approx(math.log(99.0), rel=1e-15)
    assert c.threshold_score == pytest.approx((math.log(99.0) + 1.0) / 2.0, rel=1e-15)
    np.testing.assert_array_equal(c.llr([0.0, 1.5]), [-1.0, 2.0])
    assert c.to_dict() == {"scale": 2.0, "offset": -1.0, "p_target": 0.01}
    assert Calibration.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("d,message", [
    ({"scale": 1.0, "p_target": 0.05}, r"missing \['offset'\]"),
    ({"scale": 1.0, "offset": 0.0, "p_target": 0.05, "bias": 1.0}, r"unexpected \['bias'\]"),
    ({"scale": float("nan"), "offset": 0.0, "p_target": 0.05}, "scale must be a finite"),
    ({"scale": 1.0, "offset": float("inf"), "p_target": 0.05}, "offset must be a finite"),
    ({"scale": 1.0, "offset": "0", "p_target": 0.05}, "offset must be a finite"),
    ({"scale": 0.0, "offset": 0.0, "p_target": 0.05}, "scale must be > 0"),
    ({"scale": 1.0, "offset": 0.0, "p_target": 1.0}, r"p_target must be in \(0, 1\)"),
])
def test_bad_calibration_dict_is_a_value_error(d, message):
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(d)


@pytest.mark.parametrize("scores,labels,p_target,message", [
    ([0.1, 0.2, 0.3], [1, 1, 1], 0.05, "nontarget trials are absent"),
    ([0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0], 0.05, "at least 2 target and 2 nontarget"),
    ([0.1, np.nan, 0.3, 0.4], [1, 1, 0, 0], 0.05, "NaN or infinity"),
    ([0.1, np.inf, 0.3, 0.4], [1, 1, 0, 0], 0.05, "NaN or infinity"),
    ([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], 0.0, r"p_target must be in \(0, 1\)"),
    ([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], 1.5, r"p_target must be in \(0, 1\)"),
    ([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], 0.05, "do not separate targets from nontargets"),
    ([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], 0.05, "do not separate targets from nontargets"),
])
def test_fit_rejects_bad_input(scores, labels, p_target, message):
    with pytest.raises(ValueError, match=message):
        fit_calibration(np.array(scores), np.array(labels), p_target)


def test_fit_that_does_not_converge_is_an_error(monkeypatch):
    real = scipy.optimize.minimize

    def one_step(*args, **kwargs):
        kwargs["options"] = {**kwargs["options"], "maxiter": 1}
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", one_step)
    scores, labels = planted(3, n=200)
    with pytest.raises(RuntimeError, match="did not converge"):
        fit_calibration(scores, labels)


# --- Cllr and actual DCF -------------------------------------------------------------------

LLRS = np.array([2.0, -0.5, 0.3, 1.0, 4.2, -1.0, 0.2, -3.0, 0.0, 1.7])
LABELS = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
REPEATS = np.array([2, 1, 3, 1, 0, 1, 4, 1, 2, 1])


def test_cllr_matches_the_formula_and_weights_repeat_trials():
    assert cllr(LLRS, LABELS) == pytest.approx(reference_cllr(LLRS, LABELS), rel=1e-14)
    repeated = np.repeat(LLRS, REPEATS), np.repeat(LABELS, REPEATS)
    assert cllr(LLRS, LABELS, REPEATS) == pytest.approx(reference_cllr(*repeated), rel=1e-14)
    assert cllr(*repeated) == pytest.approx(reference_cllr(*repeated), rel=1e-14)
    # The uninformative LLR 0 costs exactly 1 bit.
    assert cllr(np.zeros(4), [1, 0, 1, 0]) == 1.0


def test_cllr_of_infinite_llrs():
    assert cllr([np.inf, 1.0, -np.inf], [1, 1, 0]) == pytest.approx(
        0.25 / math.log(2) * math.log1p(math.exp(-1.0)), rel=1e-14)
    assert cllr([-np.inf, 1.0, 0.0], [1, 1, 0]) == np.inf
    assert cllr([0.0, 1.0, np.inf], [1, 1, 0]) == np.inf
    # A wrong infinite LLR counted zero times costs nothing.
    assert cllr([0.0, 0.0, np.inf], [1, 0, 0], weights=[1, 1, 0]) == 1.0


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("p_target,c_miss,c_fa", [(0.01, 1, 1), (0.05, 1, 1), (0.3, 1, 1),
                                                  (0.05, 10, 1), (0.5, 1, 3)])
def test_actual_dcf_matches_a_trial_by_trial_count(seed, p_target, c_miss, c_fa):
    rng = np.random.default_rng(seed)
    labels = rng.random(500) < 0.3
    llrs = rng.normal(size=500) * 3 + 3 * labels - 2
    weights = rng.integers(0, 4, 500)
    expected = reference_dcf(llrs, labels, p_target, c_miss, c_fa)
    assert actual_dcf(llrs, labels, p_target, c_miss, c_fa) == pytest.approx(expected,
                                                                             rel=1e-12)
    repeated = reference_dcf(np.repeat(llrs, weights), np.repeat(labels, weights), p_target,
                             c_miss, c_fa)
    assert actual_dcf(llrs, labels, p_target, c_miss, c_fa, weights) == pytest.approx(
        repeated, rel=1e-12)


def test_actual_dcf_accepts_an_llr_exactly_at_the_threshold():
    # p 0.5, equal costs: threshold 0. A target at 0 is accepted (no miss)...
    assert actual_dcf([0.0, -1.0], [1, 0], 0.5) == 0.0
    # ...and so is a nontarget at 0 (a false alarm).
    assert actual_dcf([1.0, 0.0], [1, 0], 0.5) == 1.0
    # c_miss 2, c_fa 1 at p 0.5: threshold log(1/2); swapped costs would put it at log 2.
    threshold = math.log(0.5)
    assert actual_dcf([threshold, -1.0], [1, 0], 0.5, c_miss=2.0, c_fa=1.0) == 0.0
    assert actual_dcf([1.0, threshold], [1, 0], 0.5, c_miss=2.0, c_fa=1.0) == 1.0


# --- minCllr -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("decimals", [0, 1, 3])
def test_min_cllr_matches_a_plain_pav(seed, decimals):
    scores, labels, weights = random_trials(seed, 400, decimals)
    ones = np.ones(len(scores))
    assert min_cllr(scores, labels) == pytest.approx(
        reference_min_cllr(scores, labels, ones), rel=1e-12)
    assert min_cllr(scores, labels, weights) == pytest.approx(
        reference_min_cllr(scores, labels, weights), rel=1e-12)
    # Integer weights are repeated trials.
    assert min_cllr(scores, labels, weights) == pytest.approx(
        min_cllr(np.repeat(scores, weights), np.repeat(labels, weights)), rel=1e-12)


def test_min_cllr_depends_only_on_the_order_of_the_scores():
    scores, labels, _ = random_trials(7, 500, decimals=1)
    base = min_cllr(scores, labels)
    order = np.random.default_rng(0).permutation(len(scores))
    assert min_cllr(scores[order], labels[order]) == base
    assert min_cllr(np.exp(3 * scores), labels) == pytest.approx(base, rel=1e-14)
    # Infinite scores keep their place in the order.
    extreme = np.where(scores == scores.max(), np.inf, np.where(scores == scores.min(),
                                                                -np.inf, scores))
    assert min_cllr(extreme, labels) == pytest.approx(base, rel=1e-14)


def test_min_cllr_known_answers():
    assert min_cllr([-2.0, -1.0, 0.5, 0.6, 3.0], [0, 0, 0, 1, 1]) == 0.0
    # One value for all scores: no information, exactly 1 bit, with or without weights.
    assert min_cllr(np.full(7, 0.3), [1, 0, 0, 1, 0, 0, 0]) == 1.0
    assert min_cllr(np.full(4, 0.3), [1, 0, 0, 1], weights=[1, 2, 3, 4]) == pytest.approx(
        1.0, abs=1e-15)
    # Never above the Cllr of any monotone map of the scores, fitted or planted.
    scores, labels = planted(4, n=2000)
    best = min_cllr(scores, labels)
    assert best <= cllr(fit_calibration(scores, labels).llr(scores), labels)
    for scale, offset in ((TRUE_SCALE, TRUE_OFFSET), (0.5, 0.0), (5.0, -3.0)):
        assert best <= cllr(scale * scores + offset, labels)


def test_calibration_metrics_keys_and_values():
    scores, labels = planted(5, n=500)
    llrs = TRUE_SCALE * scores + TRUE_OFFSET
    result = calibration_metrics(llrs, labels)
    assert tuple(result) == CALIBRATION_KEYS == ("actdcf_p0.01", "actdcf_p0.05", "cllr",
                                                 "min_cllr")
    assert result["actdcf_p0.01"] == pytest.approx(reference_dcf(llrs, labels, 0.01, 1, 1),
                                                   rel=1e-12)
    assert result["actdcf_p0.05"] == pytest.approx(reference_dcf(llrs, labels, 0.05, 1, 1),
                                                   rel=1e-12)
    assert result["cllr"] == pytest.approx(reference_cllr(llrs, labels), rel=1e-12)
    assert result["min_cllr"] == pytest.approx(
        reference_min_cllr(scores, labels, np.ones(len(scores))), rel=1e-12)


@pytest.mark.parametrize("function", [cllr, min_cllr, calibration_metrics,
                                      lambda v, y, **kw: actual_dcf(v, y, 0.05, **kw)])
@pytest.mark.parametrize("values,labels,weights,message", [
    ([0.1, 0.2], [1, 1], None, "nontarget trials are absent"),
    ([0.1, 0.2], [0, 0], None, "target trials are absent"),
    ([0.1, 0.2], [1, 0], [1, 0], "nontarget trials are of zero total weight"),
    ([0.1, np.nan], [1, 0], None, "NaN"),
    ([0.1, 0.2, 0.3], [1, 0], None, "3 scores but 2 labels"),
    ([0.1, 0.2], [1, 2], None, "labels must be boolean or 0/1"),
    ([0.1, 0.2], [1, 0], [1, -1], "weights must be finite and non-negative"),
])
def test_metrics_reject_bad_input(function, values, labels, weights, message):
    with pytest.raises(ValueError, match=message):
        function(np.array(values), np.array(labels), weights=weights)


def test_actual_dcf_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"p_target must be in \(0, 1\)"):
        actual_dcf([0.0, 1.0], [1, 0], 1.0)
    with pytest.raises(ValueError, match="costs must be positive"):
        actual_dcf([0.0, 1.0], [1, 0], 0.05, c_fa=0.0)


# --- speaker bootstrap ---------------------------------------------------------------------

# LLRs of the shared trial design (conftest.small_design): targets about +1, nontargets -2.
LLR_DESIGN = dict(scale=2.0, shift=3.0, offset=-2.0)


def test_replicates_are_the_metrics_of_explicitly_resampled_trial_lists(small_design,
                                                                        explicit_replicate):
    llrs, labels, enroll, test = small_design(0, **LLR_DESIGN)
    boot = calibration_replicates(llrs, labels, enroll, test, n_boot=10, seed=3)
    for r in range(10):
        expected = calibration_metrics(*explicit_replicate(llrs, labels, enroll, test,
                                                           boot.speakers,
                                                           boot.multiplicities[r]))
        for key in CALIBRATION_KEYS:
            assert boot.values[0][key][r] == pytest.approx(expected[key], rel=1e-12)
    # The very draws of speaker_replicates for that seed: intervals pair with EER's.
    same = speaker_replicates([llrs], labels, enroll, test, n_boot=10, seed=3)
    np.testing.assert_array_equal(boot.multiplicities, same.multiplicities)
    assert boot.n_redrawn == same.n_redrawn


def test_calibrated_bootstrap_adds_intervals_around_the_point_values(small_design):
    llrs, labels, enroll, test = small_design(1, **LLR_DESIGN)
    result = calibrated_speaker_bootstrap(llrs, labels, enroll, test, n_boot=200, seed=5)
    point = calibration_metrics(llrs, labels)
    assert {key: result[key] for key in point} == point
    for key in CALIBRATION_KEYS:
        low, high = result[f"{key}_ci"]
        assert low <= point[key] <= high and low < high
    assert (result["n_boot"], result["n_speakers"], result["ci_level"]) == (200, 8, 0.95)
    assert calibrated_speaker_bootstrap(llrs, labels, enroll, test, n_boot=200,
                                        seed=5) == result
    assert calibrated_speaker_bootstrap(llrs, labels, enroll, test, n_boot=200,
                                        seed=6) != result


def test_calibrated_bootstrap_rejects_bad_trials_before_drawing(small_design):
    llrs, labels, enroll, test = small_design(2, n=40, **LLR_DESIGN)
    bad_labels = labels.astype(int) * 2  # 2 for a target: not a label
    with pytest.raises(ValueError, match="labels must be boolean or 0/1"):
        calibration_replicates(llrs, bad_labels, enroll, test, n_boot=5)
    with pytest.raises(ValueError, match="NaN"):
        calibrated_speaker_bootstrap(np.where(labels, np.nan, llrs), labels, enroll, test,
                                     n_boot=5)
