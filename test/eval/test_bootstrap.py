"""Speaker and cluster bootstrap against explicit resampled trial lists and known truths."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from xmodal.eval import bootstrap
from xmodal.eval.bootstrap import (METRICS, TrialSpeakerError, cluster_bootstrap_accuracy,
                                   cluster_bootstrap_ratio, cluster_paired_difference,
                                   paired_bootstrap, seed_paired_bootstrap, speaker_bootstrap,
                                   speaker_replicates, trial_speakers, utterance_speaker)
from xmodal.eval.metrics import metrics_dict

# Speaker effects of the simulation: target scores shift by u_s ~ N(0, SIGMA_T^2), a
# nontarget trial (a, b) by v_a + v_b with v ~ N(0, SIGMA_N^2); noise N(0, 1) per trial.
SIGMA_T, SIGMA_N, MU = 1.0, 0.5, 3.4


def simulate(rng: np.random.Generator, n_speakers: int = 40, targets_per_speaker: int = 15):
    """Correlated trials: every pair of speakers once as nontarget, 15 targets per speaker."""
    target_spk = np.repeat(np.arange(n_speakers), targets_per_speaker)
    a, b = np.triu_indices(n_speakers, 1)
    u, v = rng.normal(0, SIGMA_T, n_speakers), rng.normal(0, SIGMA_N, n_speakers)
    scores = np.concatenate([MU + u[target_spk] + rng.normal(size=len(target_spk)),
                             v[a] + v[b] + rng.normal(size=len(a))])
    labels = np.arange(len(scores)) < len(target_spk)
    return scores, labels, np.concatenate([target_spk, a]), np.concatenate([target_spk, b])


def true_eer() -> float:
    """EER (percent) of the population: both classes are Gaussian over speakers and noise."""
    target_sd, nontarget_sd = np.sqrt(1 + SIGMA_T ** 2), np.sqrt(1 + 2 * SIGMA_N ** 2)
    return 100.0 * norm.cdf(-MU / (target_sd + nontarget_sd))


@pytest.mark.parametrize("chunk_elements", [1, 1 << 21])
def test_replicates_equal_metrics_of_explicitly_resampled_trial_lists(
        monkeypatch, chunk_elements, small_design, explicit_replicate):
    # One replicate per chunk, or all in one chunk: the bookkeeping must not matter.
    monkeypatch.setattr(bootstrap, "BOOT_CHUNK_ELEMENTS", chunk_elements)
    scores, labels, enroll, test = small_design(0)
    boot = speaker_replicates([scores], labels, enroll, test, n_boot=12, seed=3)
    assert list(boot.speakers) == sorted(set(enroll))
    assert (boot.multiplicities.sum(axis=1) == len(boot.speakers)).all()
    for r in range(12):
        expected = metrics_dict(*explicit_replicate(scores, labels, enroll, test,
                                                    boot.speakers, boot.multiplicities[r]))
        for key in METRICS:
            assert boot.values[0][key][r] == pytest.approx(expected[key], rel=1e-12, abs=1e-12)


def test_speaker_bootstrap_adds_intervals_around_the_point_estimate(small_design):
    scores, labels, enroll, test = small_design(1)
    result = speaker_bootstrap(scores, labels, enroll, test, n_boot=300, seed=5)
    point = metrics_dict(scores, labels)
    assert {k: result[k] for k in point} == point
    for key in METRICS:
        low, high = result[f"{key}_ci"]
        assert low <= point[key] <= high and low < high
    assert (result["n_boot"], result["n_speakers"], result["ci_level"]) == (300, 8, 0.95)
    # A narrower level nests inside; the same seed repeats, another seed differs.
    narrow = speaker_bootstrap(scores, labels, enroll, test, n_boot=300, seed=5, level=0.5)
    assert result["eer_ci"][0] <= narrow["eer_ci"][0] <= narrow["eer_ci"][1] <= result[
        "eer_ci"][1]
    assert speaker_bootstrap(scores, labels, enroll, test, n_boot=300, seed=5) == result
    assert speaker_bootstrap(scores, labels, enroll, test, n_boot=300, seed=6) != result


def test_interval_covers_the_true_eer_in_most_simulations():
    truth = true_eer()
    covered = 0
    for sim in range(50):
        scores, labels, enroll, test = simulate(np.random.default_rng(100 + sim))
        low, high = speaker_bootstrap(scores, labels, enroll, test, n_boot=200,
                                      seed=sim)["eer_ci"]
        covered += low <= truth <= high
    # Nominal 95%; a trial-level bootstrap, about 2.5 times narrower here, covers far less.
    assert covered >= 43


def test_speaker_interval_is_wider_than_a_trial_bootstrap_under_speaker_correlation():
    rng = np.random.default_rng(7)
    scores, labels, enroll, test = simulate(rng)
    speaker_low, speaker_high = speaker_bootstrap(scores, labels, enroll, test, n_boot=200,
                                                  seed=1)["eer_ci"]
    # The naive bootstrap: trials drawn with replacement, as weights (= repeated trials).
    trial_eers = []
    while len(trial_eers) < 200:
        counts = np.bincount(rng.integers(0, len(scores), len(scores)), minlength=len(scores))
        trial_eers.append(metrics_dict(scores, labels, counts)["eer"])
    trial_low, trial_high = np.percentile(trial_eers, [2.5, 97.5])
    assert speaker_high - speaker_low > 1.8 * (trial_high - trial_low)


def test_degenerate_draws_are_redrawn():
    # Speaker x has all the targets and the only nontarget partner is y: a draw of {x, x}
    # has no nontarget, {y, y} no target; only {x, y} (multiplicities 1, 1) is kept.
    labels = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    enroll = np.array(["x", "x", "x", "x", "x", "y"])
    test = np.array(["x", "x", "x", "y", "y", "x"])
    scores = np.array([0.9, 0.2, 0.5, 0.3, 0.1, 0.6])
    boot = speaker_replicates([scores], labels, enroll, test, n_boot=200, seed=0)
    assert (boot.multiplicities == 1).all()
    # Each draw fails with probability 1/2: about n_boot redraws in all.
    assert 120 < boot.n_redrawn < 300
    result = speaker_bootstrap(scores, labels, enroll, test, n_boot=200, seed=0)
    for key in METRICS:
        assert result[f"{key}_ci"] == [result[key], result[key]]
    assert (result["n_boot"], result["n_redrawn"]) == (200, boot.n_redrawn)


def test_paired_bootstrap_of_a_system_with_itself_is_exactly_zero(small_design):
    scores, labels, enroll, test = small_design(2)
    result = paired_bootstrap(scores, scores, labels, enroll, test, n_boot=200)
    for key in METRICS:
        assert result[key]["difference"] == 0.0 and result[key]["ci"] == [0.0, 0.0]
        assert result[key]["p_value"] == 1.0 and result[key]["significant"] is False


def test_paired_bootstrap_finds_a_real_difference_that_unpaired_resamples_miss():
    rng = np.random.default_rng(5)
    scores, labels, enroll, test = simulate(rng)
    worse = scores + 0.5 * rng.normal(size=len(scores))
    result = paired_bootstrap(scores, worse, labels, enroll, test, n_boot=500, seed=0)
    eer = result["eer"]
    assert eer["difference"] == pytest.approx(eer["a"] - eer["b"]) and eer["difference"] < 0
    assert eer["significant"] and eer["ci"][1] < 0 and eer["p_value"] < 0.05
    # The speaker effects dominate each system's spread; only pairing cancels them.
    a = speaker_replicates([scores], labels, enroll, test, n_boot=500, seed=1).values[0]
    b = speaker_replicates([worse], labels, enroll, test, n_boot=500, seed=2).values[0]
    low, high = np.percentile(a["eer"] - b["eer"], [2.5, 97.5])
    assert low < 0 < high


def test_paired_result_is_the_percentile_test_on_shared_replicates():
    rng = np.random.default_rng(8)
    scores, labels, enroll, test = simulate(rng)
    other = scores + 0.3 * rng.normal(size=len(scores))
    result = paired_bootstrap(scores, other, labels, enroll, test, n_boot=300, seed=4)
    boot = speaker_replicates([scores, other], labels, enroll, test, n_boot=300, seed=4)
    for key in METRICS:
        diffs = boot.values[0][key] - boot.values[1][key]
        tail = min(np.mean(diffs <= 0), np.mean(diffs >= 0))
        assert result[key]["p_value"] == min(1.0, 2 * tail)
        assert result[key]["ci"] == pytest.approx(np.percentile(diffs, [2.5, 97.5]), rel=1e-9)


def test_seeds_that_agree_give_the_per_seed_paired_test():
    """Seeds with identical models: drawing seeds changes nothing, so the interval is the
    paired bootstrap's (same speaker draws)."""
    rng = np.random.default_rng(8)
    scores, labels, enroll, test = simulate(rng)
    other = scores + 0.4 * rng.normal(size=len(scores))
    paired = paired_bootstrap(scores, other, labels, enroll, test, n_boot=300, seed=4)["eer"]
    over = seed_paired_bootstrap([scores] * 3, [other] * 3, labels, enroll, test, n_boot=300,
                                 seed=4)
    assert over["per_seed"] == [pytest.approx(paired["difference"])] * 3
    assert over["difference"] == pytest.approx(paired["difference"])
    assert over["ci"] == pytest.approx(paired["ci"], rel=1e-9)
    assert over["p_value"] == paired["p_value"] and over["n_seeds"] == 3


def test_seeds_that_disagree_are_not_a_significant_difference():
    """Seed 0's A is clearly better, seed 1's clearly worse: each seed's paired test is
    significant, the method's mean effect over seeds is not."""
    rng = np.random.default_rng(5)
    scores, labels, enroll, test = simulate(rng)
    worse = [scores + 0.6 * rng.normal(size=len(scores)) for _ in range(2)]
    a, b = [scores, worse[0]], [worse[1], scores]
    per_seed = [paired_bootstrap(x, y, labels, enroll, test, n_boot=400)["eer"]
                for x, y in zip(a, b)]
    assert [p["significant"] for p in per_seed] == [True, True]
    assert per_seed[0]["difference"] < 0 < per_seed[1]["difference"]
    over = seed_paired_bootstrap(a, b, labels, enroll, test, n_boot=400)
    low, high = over["ci"]
    assert low < 0 < high and not over["significant"] and over["p_value"] > 0.05
    assert high - low > max(p["ci"][1] - p["ci"][0] for p in per_seed)


def test_seed_bootstrap_needs_paired_seeds(small_design):
    scores, labels, enroll, test = small_design(2)
    with pytest.raises(ValueError, match="same number"):
        seed_paired_bootstrap([scores, scores], [scores], labels, enroll, test)
    with pytest.raises(ValueError, match=">= 2"):
        seed_paired_bootstrap([scores], [scores], labels, enroll, test)


def test_equally_good_systems_are_rarely_significant():
    significant, p_values = 0, []
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        base, labels, enroll, test = simulate(rng)
        a, b = (base + 0.5 * rng.normal(size=len(base)) for _ in range(2))
        result = paired_bootstrap(a, b, labels, enroll, test, n_boot=200, seed=seed)
        significant += sum(result[key]["significant"] for key in METRICS)
        p_values += [result[key]["p_value"] for key in METRICS]
    assert significant <= 3  # of 60 tests at the 5% level
    assert all(0.0 <= p <= 1.0 for p in p_values)


def test_cluster_interval_is_wider_than_binomial_when_outcomes_cluster():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(30), 40)
    correct = rng.random(len(clusters)) < rng.beta(2, 2, 30)[clusters]
    result = cluster_bootstrap_accuracy(correct, clusters, n_boot=500, seed=1)
    assert result["mean"] == correct.mean()
    assert (result["n_clusters"], result["n_outcomes"]) == (30, 1200)
    binomial_width = 2 * 1.96 * np.sqrt(correct.mean() * (1 - correct.mean()) / len(correct))
    assert result["low"] <= result["mean"] <= result["high"]
    assert result["high"] - result["low"] > 2 * binomial_width


def test_cluster_interval_matches_binomial_for_independent_outcomes():
    rng = np.random.default_rng(1)
    correct = rng.random(2000) < 0.7
    result = cluster_bootstrap_accuracy(correct, np.arange(2000), n_boot=1000, seed=2)
    binomial_width = 2 * 1.96 * np.sqrt(correct.mean() * (1 - correct.mean()) / 2000)
    assert result["high"] - result["low"] == pytest.approx(binomial_width, rel=0.15)


def test_identical_clusters_give_a_zero_width_interval():
    clusters = np.repeat(["spk_a", "spk_b", "spk_c", "spk_d"], 4)
    correct = np.tile([1, 1, 0, 1], 4)
    result = cluster_bootstrap_accuracy(correct, clusters, n_boot=100)
    assert result["low"] == result["high"] == result["mean"] == 0.75


def test_cluster_ratio_resamples_whole_clusters_of_items():
    # An error rate: edits over reference lengths per utterance, utterances of 6 speakers.
    rng = np.random.default_rng(3)
    clusters = np.repeat(["s0", "s1", "s2", "s3", "s4", "s5"], [3, 1, 4, 2, 5, 3])
    lengths = rng.integers(5, 30, len(clusters))
    edits = rng.binomial(lengths, 0.3)
    result = cluster_bootstrap_ratio(edits, lengths, clusters, n_boot=200, seed=4)
    assert result["mean"] == edits.sum() / lengths.sum()
    assert (result["n_clusters"], result["n_outcomes"]) == (6, 18)
    # The same draws by hand: each resample takes whole speakers, with all their items.
    names = np.unique(clusters)
    draws = np.random.default_rng(4).integers(0, 6, size=(200, 6))
    ratios = [sum(edits[clusters == names[d]].sum() for d in row)
              / sum(lengths[clusters == names[d]].sum() for d in row) for row in draws]
    assert (result["low"], result["high"]) == pytest.approx(
        tuple(np.percentile(ratios, [2.5, 97.5])))
    with pytest.raises(ValueError, match="positive sum"):
        cluster_bootstrap_ratio([0, 1], [0, 0], ["a", "b"])
    with pytest.raises(ValueError, match="equal-length"):
        cluster_bootstrap_ratio([1, 2], [3], ["a", "b"])


def test_cluster_paired_difference_resamples_whole_clusters_of_pairs():
    # Errors of two systems on the same windows of 8 identities: the hand-drawn resamples
    # take every window of a drawn identity, and the point estimate is the mean difference.
    rng = np.random.default_rng(5)
    clusters = np.repeat([f"id{k}" for k in range(8)], [2, 5, 3, 4, 1, 6, 2, 3])
    a = rng.normal(1.0, 0.3, len(clusters))
    b = a + rng.normal(0.2, 0.3, len(clusters))
    result = cluster_paired_difference(a, b, clusters, n_boot=300, seed=6)
    assert result["difference"] == pytest.approx(np.mean(a - b))
    assert (result["a"], result["b"]) == (pytest.approx(a.mean()), pytest.approx(b.mean()))
    assert (result["n_clusters"], result["n_items"]) == (8, len(a))
    names = np.unique(clusters)
    draws = np.random.default_rng(6).integers(0, 8, size=(300, 8))
    diffs = np.array([np.concatenate([(a - b)[clusters == names[d]] for d in row]).mean()
                      for row in draws])
    assert result["ci"] == pytest.approx(list(np.percentile(diffs, [2.5, 97.5])))
    tail = min(np.mean(diffs <= 0), np.mean(diffs >= 0))
    assert result["p_value"] == pytest.approx(min(1.0, 2 * tail))
    assert result["significant"] == (result["ci"][1] < 0)


def test_cluster_paired_difference_of_a_constant_shift_and_of_noise():
    clusters = np.repeat(np.arange(10), 5)
    a = np.random.default_rng(7).normal(size=50)
    shifted = cluster_paired_difference(a + 0.5, a, clusters, n_boot=200)
    assert shifted["ci"] == pytest.approx([0.5, 0.5]) and shifted["significant"]
    assert shifted["p_value"] == 0.0
    # Per-identity offsets shared by the pair cancel; pure noise is rarely significant.
    significant = 0
    for k in range(40):
        rng = np.random.default_rng(100 + k)
        offsets = rng.normal(0, 3, 10)[clusters]
        significant += cluster_paired_difference(offsets + rng.normal(size=50),
                                                 offsets + rng.normal(size=50), clusters,
                                                 n_boot=300, seed=k)["significant"]
    assert significant <= 6
    with pytest.raises(ValueError, match="equal-length"):
        cluster_paired_difference([1.0, 2.0], [1.0], ["a", "b"])
    with pytest.raises(ValueError, match="finite"):
        cluster_paired_difference([1.0, np.nan], [1.0, 2.0], ["a", "b"])


def test_utterance_speaker_uses_utt2spk_then_the_voxceleb_prefix():
    assert utterance_speaker("id10270/x6uYqmx31kE/00001") == "id10270"
    assert utterance_speaker("id10270/x6uYqmx31kE/00001", {"id10270/x6uYqmx31kE/00001": "s"}
                             ) == "s"
    assert utterance_speaker("u1", {"u1": "s1"}) == "s1"
    with pytest.raises(ValueError, match="'u2'"):
        utterance_speaker("u2", {"u1": "s1"})
    with pytest.raises(ValueError, match="'/x/1'"):
        utterance_speaker("/x/1")


def test_trial_speakers_name_the_bad_trial():
    enroll_spk, test_spk = trial_speakers(["a/1", "a/2"], ["a/3", "b/1"], [1, 0])
    assert list(enroll_spk) == ["a", "a"] and list(test_spk) == ["a", "b"]
    with pytest.raises(TrialSpeakerError, match="trial 1 .*labelled nontarget but its "
                       "speakers are 'a' and 'a'") as err:
        trial_speakers(["a/1", "a/2"], ["a/3", "a/4"], [1, 0])
    assert err.value.index == 1
    with pytest.raises(TrialSpeakerError, match="'plain'") as err:
        trial_speakers(["a/1", "a/2"], ["a/3", "plain"], [1, 0])
    assert err.value.index == 1


@pytest.mark.parametrize("kwargs,message", [({"n_boot": 0}, "n_boot"), ({"level": 1.0}, "level")])
def test_bad_settings_are_value_errors(kwargs, message, small_design):
    scores, labels, enroll, test = small_design(3)
    with pytest.raises(ValueError, match=message):
        speaker_bootstrap(scores, labels, enroll, test, **kwargs)
    with pytest.raises(ValueError, match=message):
        cluster_bootstrap_accuracy([1, 0], [0, 1], **kwargs)


def test_a_label_contradicting_the_speakers_is_an_error(small_design):
    scores, labels, enroll, test = small_design(4)
    labels = labels.copy()
    i = int(np.flatnonzero(~labels)[0])
    labels[i] = True
    with pytest.raises(TrialSpeakerError, match=f"trial {i} .*labelled target"):
        speaker_bootstrap(scores, labels, enroll, test, n_boot=10)
