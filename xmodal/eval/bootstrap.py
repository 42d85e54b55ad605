"""Bootstrap intervals and paired tests that resample speakers (clusters), not trials.

Pure numpy, no I/O. Trials that share a speaker are not independent: a speaker whose voice
is atypical makes many of its trials err together. Resampling trials treats them as
independent and gives intervals that are too narrow, so we resample the unit the test set
was drawn by: the speakers, with replacement.

Weights. A replicate draws speaker s m_s times (the m_s sum to the number of speakers). The
copies count as distinct speakers with the same recordings, and the replicate holds the
trials the protocol would give for that speaker set: each copy of s brings s's target trials
(weight m_s), and each pair of a copy of a and a copy of b brings the a-b nontarget trials
(weight m_a * m_b, the number of such pairs). Two copies of one speaker make no trials
together: as nontargets they would pair a person with themself, and as targets they would
only repeat s's target trials. So targets get m_s, not m_s**2: a speaker's target trials
grow with its copies as its nontarget trials do with each partner's. A weighted trial
counts exactly like that many repeated trials (``metrics.metrics_dict`` weights).

Degenerate draws. A draw in which the target or the nontarget trials weigh 0 (no drawn
speaker has target trials, or no two drawn speakers face each other in a nontarget trial)
has no EER. It is redrawn, so every result holds exactly ``n_boot`` replicates, and the
number redrawn is reported as ``n_redrawn``: the intervals are conditional on both classes
being present, as the point estimate is.

Cost. Each system's scores are sorted once (``metrics.sort_trials``, keeping only the DET
points where the curve turns); a replicate is then a gather of speaker weights and two
cumulative sums in that fixed order, O(n), done for a chunk of replicates at a time
(``BOOT_CHUNK_ELEMENTS`` bounds the chunk). The calibration metrics
(``calibration_replicates``) are computed replicate by replicate from the same weights:
minCllr refits its PAV each time, about 2 ms for 6000 trials.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from xmodal.eval.calibration import CALIBRATION_KEYS, calibration_metrics
from xmodal.eval.metrics import (SortedTrials, metrics_dict, metrics_from_det, sort_trials,
                                 weighted_error_rates)

# Metrics that get intervals, as named by metrics_dict.
METRICS = ("eer", "mindcf_p0.01", "mindcf_p0.05")
# Numbers per temporary (replicates x trials) block, 16 MB in int64: bounds the memory.
BOOT_CHUNK_ELEMENTS = 1 << 21


def utterance_speaker(key: str, utt2spk: dict[str, str] | None = None) -> str:
    """Speaker of an utterance key: its ``utt2spk`` entry, else the part before the first '/'.

    The fallback is the VoxCeleb convention (``id10270/x6uYqmx31kE/00001`` -> ``id10270``).
    A key with neither is a ValueError naming it.
    """
    if utt2spk is not None and key in utt2spk:
        return utt2spk[key]
    speaker, slash, _ = key.partition("/")
    if not slash or not speaker:
        raise ValueError(f"no speaker for utterance '{key}': not in utt2spk and not of the "
                         "form <speaker>/...")
    return speaker


class TrialSpeakerError(ValueError):
    """A trial's key has no speaker, or its label contradicts its speakers."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"trial {index} (from 0): {reason}")
        self.index, self.reason = index, reason


def _check_trial_speakers(labels: np.ndarray, enroll_spk: np.ndarray,
                          test_spk: np.ndarray) -> None:
    """A target trial must have one speaker and a nontarget two; else TrialSpeakerError."""
    bad = np.flatnonzero(labels != (enroll_spk == test_spk))
    if len(bad):
        i = int(bad[0])
        raise TrialSpeakerError(i, f"labelled {'target' if labels[i] else 'nontarget'} but "
                                   f"its speakers are '{enroll_spk[i]}' and '{test_spk[i]}'")


def trial_speakers(enroll_keys: Sequence[str], test_keys: Sequence[str], labels,
                   utt2spk: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Speakers of each trial's enrol and test keys (``utterance_speaker``).

    A key without a speaker, or a label the speakers contradict, is a TrialSpeakerError
    naming the trial.
    """
    enroll, test = [], []
    for i, (enroll_key, test_key) in enumerate(zip(enroll_keys, test_keys)):
        try:
            enroll.append(utterance_speaker(enroll_key, utt2spk))
            test.append(utterance_speaker(test_key, utt2spk))
        except ValueError as err:
            raise TrialSpeakerError(i, str(err)) from None
    enroll_spk, test_spk = np.array(enroll, dtype=str), np.array(test, dtype=str)
    _check_trial_speakers(np.asarray(labels) == 1, enroll_spk, test_spk)
    return enroll_spk, test_spk


@dataclass(frozen=True)
class _Design:
    """The speakers behind the trials: what a speaker resample changes.

    ``enroll[i]``/``test[i]`` index (in ``names``) the speakers of trial i; ``has_targets``
    marks speakers with target trials; ``pair_a[p]``/``pair_b[p]`` are the distinct speaker
    pairs of the nontarget trials.
    """

    names: np.ndarray
    enroll: np.ndarray
    test: np.ndarray
    has_targets: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray


def _design(labels: np.ndarray, enroll_spk, test_spk) -> _Design:
    """Index the speakers of each trial; a label contradicting them is a TrialSpeakerError."""
    enroll_spk, test_spk = np.asarray(enroll_spk), np.asarray(test_spk)
    if enroll_spk.shape != labels.shape or test_spk.shape != labels.shape:
        raise ValueError(f"{len(labels)} trials but {enroll_spk.size} enrol and "
                         f"{test_spk.size} test speakers")
    _check_trial_speakers(labels, enroll_spk, test_spk)
    names, index = np.unique(np.concatenate([enroll_spk, test_spk]), return_inverse=True)
    enroll, test = index[:len(labels)], index[len(labels):]
    n = len(names)
    pairs = np.unique(enroll[~labels] * n + test[~labels])
    return _Design(names, enroll, test, np.bincount(enroll[labels], minlength=n) > 0,
                   pairs // n, pairs % n)


def draw_multiplicities(rng: np.random.Generator, n_rows: int, n_units: int) -> np.ndarray:
    """How often each of ``n_units`` is drawn in each of ``n_rows`` resamples of that size."""
    draws = rng.integers(0, n_units, size=(n_rows, n_units))
    flat = (draws + n_units * np.arange(n_rows)[:, None]).ravel()
    return np.bincount(flat, minlength=n_rows * n_units).reshape(n_rows, n_units)


def _valid_draws(rng: np.random.Generator, design: _Design, n_rows: int
                 ) -> tuple[np.ndarray, int]:
    """``n_rows`` speaker multiplicities in which both classes weigh > 0, and how many draws
    were redrawn to get them."""
    kept, redrawn = [], 0
    while n_rows:
        m = draw_multiplicities(rng, n_rows, len(design.names))
        drawn = m > 0
        ok = ((drawn & design.has_targets).any(axis=1)
              & (np.take(drawn, design.pair_a, axis=1)
                 & np.take(drawn, design.pair_b, axis=1)).any(axis=1))
        kept.append(m[ok])
        redrawn += n_rows - int(ok.sum())
        n_rows -= int(ok.sum())
    return np.concatenate(kept), redrawn


def _draw_chunks(design: _Design, n_boot: int, seed: int
                 ) -> Iterator[tuple[slice, np.ndarray, int]]:
    """The speaker multiplicities of ``n_boot`` valid replicates from
    ``np.random.default_rng(seed)``, a chunk of rows at a time (``BOOT_CHUNK_ELEMENTS``
    bounds the chunk): ``(rows, multiplicities, n_redrawn)`` per chunk.

    Every bootstrap of speakers draws through this, so one seed gives the same replicates
    for every metric.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOT_CHUNK_ELEMENTS // max(len(design.enroll), len(design.names)))
    for start in range(0, n_boot, chunk):
        rows = slice(start, min(start + chunk, n_boot))
        m, n_redrawn = _valid_draws(rng, design, rows.stop - rows.start)
        yield rows, m, n_redrawn


class _System:
    """One system's trials sorted once, with the speakers of each in that order."""

    def __init__(self, trials: SortedTrials, design: _Design):
        self.trials = trials
        self.target_speaker = design.enroll[trials.target_order]
        self.nontarget_a = design.enroll[trials.nontarget_order]
        self.nontarget_b = design.test[trials.nontarget_order]

    def replicates(self, m: np.ndarray) -> dict[str, np.ndarray]:
        """Each metric under each row of speaker multiplicities ``m`` (O(n) per row)."""
        n_trials = len(self.target_speaker) + len(self.nontarget_a)
        # No weight exceeds max(m)**2, so the class totals fit int32 below this bound; the
        # narrower type halves the memory traffic, which is what the time goes to.
        m = m.astype(np.int32 if int(m.max()) ** 2 * n_trials < 2 ** 31 else np.int64)
        # np.take gathers along axis 1 several times faster than m[:, index].
        target_weights = np.take(m, self.target_speaker, axis=1)
        nontarget_weights = np.take(m, self.nontarget_a, axis=1) * np.take(
            m, self.nontarget_b, axis=1)
        return metrics_from_det(*weighted_error_rates(self.trials, target_weights,
                                                      nontarget_weights))


@dataclass
class SpeakerReplicates:
    """Bootstrap replicates shared by one or more systems scored on the same trials.

    ``values[k][metric][r]`` is system k's metric under replicate r, whose speaker
    multiplicities are ``multiplicities[r]`` (columns in the order of ``speakers``).
    """

    values: list[dict[str, np.ndarray]]
    multiplicities: np.ndarray
    speakers: np.ndarray
    n_redrawn: int


def check_n_boot(n_boot: int) -> None:
    """``n_boot`` must be a positive whole number."""
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")


def check_level(level: float) -> None:
    """``level`` must lie strictly between 0 and 1."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def percentile_interval(values: np.ndarray, level: float) -> list[float]:
    """The central ``level`` percentile interval ``[low, high]`` of bootstrap values."""
    tail = 50.0 * (1.0 - level)
    return [float(v) for v in np.percentile(values, [tail, 100.0 - tail])]


def difference_test(diffs: np.ndarray, level: float) -> dict[str, object]:
    """The percentile-bootstrap test of replicate differences: ``ci`` (their central
    ``level`` interval), ``p_value`` (twice the smaller fraction on either side of 0, each
    side including 0, capped at 1; it cannot resolve values below about 2 / n) and
    ``significant`` (the interval excludes 0)."""
    low, high = percentile_interval(diffs, level)
    tail = min(np.mean(diffs <= 0), np.mean(diffs >= 0))
    return {"ci": [low, high], "p_value": float(min(1.0, 2.0 * tail)),
            "significant": bool(low > 0 or high < 0)}


def speaker_replicates(systems: Sequence, labels, enroll_spk, test_spk, n_boot: int = 1000,
                       seed: int = 0) -> SpeakerReplicates:
    """EER and minDCFs of each system (a score array per system) under speaker resamples.

    Every system sees the same resamples (``np.random.default_rng(seed)``), so differences
    between systems are paired. Draws are per the module docstring.
    """
    check_n_boot(n_boot)
    sorted_systems = [sort_trials(scores, labels, corners_only=True) for scores in systems]
    labels = np.asarray(labels) == 1
    design = _design(labels, enroll_spk, test_spk)
    prepared = [_System(trials, design) for trials in sorted_systems]
    values = [{key: np.empty(n_boot) for key in METRICS} for _ in prepared]
    multiplicities = np.empty((n_boot, len(design.names)), dtype=np.int64)
    redrawn = 0
    for rows, m, n_redrawn in _draw_chunks(design, n_boot, seed):
        multiplicities[rows], redrawn = m, redrawn + n_redrawn
        for system, store in zip(prepared, values):
            for key, replicate_values in system.replicates(m).items():
                store[key][rows] = replicate_values
    return SpeakerReplicates(values, multiplicities, design.names, redrawn)


def speaker_bootstrap(scores, labels, enroll_spk, test_spk, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict[str, object]:
    """``metrics_dict`` of the trials plus a speaker-bootstrap percentile interval per metric.

    ``enroll_spk[i]``/``test_spk[i]`` are the speakers of trial i (target trials must have
    one speaker, nontargets two). Adds ``<metric>_ci`` = ``[low, high]`` for eer,
    mindcf_p0.01 and mindcf_p0.05, and ``ci_level``, ``n_boot``, ``n_speakers``, ``n_redrawn``.
    """
    check_level(level)
    result: dict[str, object] = dict(metrics_dict(scores, labels))
    boot = speaker_replicates([scores], labels, enroll_spk, test_spk, n_boot, seed)
    for key in METRICS:
        result[f"{key}_ci"] = percentile_interval(boot.values[0][key], level)
    result.update(ci_level=level, n_boot=int(n_boot), n_speakers=len(boot.speakers),
                  n_redrawn=boot.n_redrawn)
    return result


def calibration_replicates(llrs, labels, enroll_spk, test_spk, n_boot: int = 1000,
                           seed: int = 0) -> SpeakerReplicates:
    """``calibration.calibration_metrics`` of LLRs under speaker resamples.

    The resamples are ``speaker_replicates``' for the same trials and ``seed``, weighted
    the same way (per the module docstring), so intervals of EER and of actual DCF come from
    the same draws. Each replicate refits minCllr's PAV, so this costs a sort of the
    trials per replicate, not O(n).
    """
    check_n_boot(n_boot)
    llrs = np.asarray(llrs, dtype=np.float64)
    # Checks the trials (0/1 labels, both classes, no NaN) once, before any drawing.
    calibration_metrics(llrs, labels)
    labels = np.asarray(labels) == 1
    design = _design(labels, enroll_spk, test_spk)
    values = {key: np.empty(n_boot) for key in CALIBRATION_KEYS}
    multiplicities = np.empty((n_boot, len(design.names)), dtype=np.int64)
    redrawn = 0
    for rows, m, n_redrawn in _draw_chunks(design, n_boot, seed):
        multiplicities[rows], redrawn = m, redrawn + n_redrawn
        for row, speaker_counts in zip(range(rows.start, rows.stop), m):
            # The weights of _System.replicates: m[s] per target trial of s, m[a] * m[b]
            # per a-b nontarget trial.
            weights = np.where(labels, speaker_counts[design.enroll],
                               speaker_counts[design.enroll] * speaker_counts[design.test])
            for key, value in calibration_metrics(llrs, labels, weights).items():
                values[key][row] = value
    return SpeakerReplicates([values], multiplicities, design.names, redrawn)


def calibrated_speaker_bootstrap(llrs, labels, enroll_spk, test_spk, n_boot: int = 1000,
                                 seed: int = 0, level: float = 0.95) -> dict[str, object]:
    """``calibration.calibration_metrics`` of LLRs plus a speaker-bootstrap percentile
    interval per metric.

    Adds ``<metric>_ci`` = ``[low, high]`` for actdcf_p0.01, actdcf_p0.05, cllr and
    min_cllr, and ``ci_level``, ``n_boot``, ``n_speakers``, ``n_redrawn``, as
    ``speaker_bootstrap`` does; with the same ``seed`` both use the same resamples.
    """
    check_level(level)
    result: dict[str, object] = dict(calibration_metrics(llrs, labels))
    boot = calibration_replicates(llrs, labels, enroll_spk, test_spk, n_boot, seed)
    for key in CALIBRATION_KEYS:
        result[f"{key}_ci"] = percentile_interval(boot.values[0][key], level)
    result.update(ci_level=level, n_boot=int(n_boot), n_speakers=len(boot.speakers),
                  n_redrawn=boot.n_redrawn)
    return result


def paired_bootstrap(scores_a, scores_b, labels, enroll_spk, test_spk, n_boot: int = 1000,
                     seed: int = 0, level: float = 0.95) -> dict[str, object]:
    """Compare systems A and B on the same trials with the same speaker resamples.

    Per metric: ``a``, ``b``, ``difference`` (A - B), its percentile interval ``ci``, a
    two-sided ``p_value`` and ``significant`` (the interval excludes 0). The p-value is the
    percentile-bootstrap test: twice the smaller fraction of replicate differences on either
    side of 0 (each side including 0), capped at 1; it cannot resolve values below about
    2 / n_boot. Also ``ci_level``, ``n_boot``, ``n_speakers``, ``n_redrawn``.
    """
    check_level(level)
    point_a, point_b = metrics_dict(scores_a, labels), metrics_dict(scores_b, labels)
    boot = speaker_replicates([scores_a, scores_b], labels, enroll_spk, test_spk, n_boot, seed)
    result: dict[str, object] = {}
    for key in METRICS:
        diffs = boot.values[0][key] - boot.values[1][key]
        result[key] = {"a": point_a[key], "b": point_b[key],
                       "difference": point_a[key] - point_b[key],
                       **difference_test(diffs, level)}
    result.update(ci_level=level, n_boot=int(n_boot), n_speakers=len(boot.speakers),
                  n_redrawn=boot.n_redrawn)
    return result


def seed_paired_bootstrap(scores_a: Sequence, scores_b: Sequence, labels, enroll_spk,
                          test_spk, n_boot: int = 1000, seed: int = 0, level: float = 0.95
                          ) -> dict[str, object]:
    """Compare methods A and B, each trained with several seeds, on the same trials.

    ``scores_a[s]``/``scores_b[s]`` are the scores of training seed s's models (paired by
    seed). The quantity is the mean over seeds of the EER difference A - B: the method's
    effect, not one trained model's. A per-seed paired bootstrap treats the trained models
    as fixed, so its interval leaves out how much a change of seed moves the difference;
    here each replicate draws the speakers (one draw shared by every seed, since all score
    the same trials) *and* the seeds, with replacement, and averages the drawn seeds'
    differences. With few seeds the drawn seeds take few distinct values and the interval
    is too narrow (a seed bootstrap of S values has variance (S-1)/S of the sample's), so
    this needs more seeds than a reproduce run's three to say much.

    Returns ``difference`` (mean over seeds), ``ci``, a two-sided ``p_value`` (as
    ``paired_bootstrap``'s), ``significant``, ``per_seed`` (each seed's difference),
    ``n_seeds``, ``ci_level``, ``n_boot``, ``n_speakers``, ``n_redrawn``; EER only.
    """
    check_level(level)
    if len(scores_a) != len(scores_b) or len(scores_a) < 2:
        raise ValueError(f"need the same number (>= 2) of seeds for A and B, got "
                         f"{len(scores_a)} and {len(scores_b)}")
    n_seeds = len(scores_a)
    per_seed = np.array([metrics_dict(a, labels)["eer"] - metrics_dict(b, labels)["eer"]
                         for a, b in zip(scores_a, scores_b)])
    boot = speaker_replicates([*scores_a, *scores_b], labels, enroll_spk, test_spk, n_boot,
                              seed)
    diffs = np.stack([boot.values[k]["eer"] - boot.values[n_seeds + k]["eer"]
                      for k in range(n_seeds)], axis=1)             # (n_boot, n_seeds)
    # A stream of its own for the seed draws, so the speaker draws match paired_bootstrap's.
    rng = np.random.default_rng([seed, 1])
    drawn = draw_multiplicities(rng, n_boot, n_seeds)
    means = (diffs * drawn).sum(axis=1) / n_seeds
    return {"difference": float(per_seed.mean()), **difference_test(means, level),
            "per_seed": [float(d) for d in per_seed], "n_seeds": n_seeds, "ci_level": level,
            "n_boot": int(n_boot), "n_speakers": len(boot.speakers),
            "n_redrawn": boot.n_redrawn}


def cluster_bootstrap_ratio(numerators, denominators, clusters, n_boot: int = 1000,
                            seed: int = 0, level: float = 0.95) -> dict[str, float | int]:
    """A ratio of sums, sum(numerators) / sum(denominators), with a percentile interval from
    resampling clusters (e.g. a corpus error rate: edits over reference units, per utterance,
    clustered by speaker).

    Items of one cluster are correlated, so clusters, not items, are drawn with replacement.
    Returns ``mean`` (the ratio), ``low``, ``high``, ``n_clusters`` and ``n_outcomes``
    (items).
    """
    check_n_boot(n_boot)
    check_level(level)
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    clusters = np.asarray(clusters)
    if num.ndim != 1 or num.shape != den.shape or num.shape != clusters.shape or not len(num):
        raise ValueError(f"need equal-length non-empty 1-D numerators, denominators and "
                         f"clusters, got shapes {num.shape}, {den.shape} and {clusters.shape}")
    if (den < 0).any() or den.sum() <= 0:
        raise ValueError("denominators must be >= 0 with a positive sum")
    _, cluster = np.unique(clusters, return_inverse=True)
    n_clusters = int(cluster.max()) + 1
    tops = np.bincount(cluster, weights=num, minlength=n_clusters)
    bottoms = np.bincount(cluster, weights=den, minlength=n_clusters)
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOT_CHUNK_ELEMENTS // n_clusters)
    ratios = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        m = draw_multiplicities(rng, min(chunk, n_boot - start), n_clusters)
        below = m @ bottoms
        # A draw of only zero-denominator clusters has no ratio: it counts as the whole's.
        ratios[start:start + len(m)] = np.where(below > 0, (m @ tops) / np.where(
            below > 0, below, 1.0), tops.sum() / bottoms.sum())
    low, high = percentile_interval(ratios, level)
    return {"mean": float(tops.sum() / bottoms.sum()), "low": low, "high": high,
            "n_clusters": n_clusters, "n_outcomes": len(num)}


def cluster_bootstrap_accuracy(correct, clusters, n_boot: int = 1000, seed: int = 0,
                               level: float = 0.95) -> dict[str, float | int]:
    """Accuracy of 0/1 outcomes with a percentile interval from resampling clusters.

    Outcomes of one cluster (e.g. decisions reusing the same identity's tracks across
    batches) are correlated, so clusters, not outcomes, are drawn with replacement: a
    binomial interval would be too narrow. Returns ``mean``, ``low``, ``high``,
    ``n_clusters`` and ``n_outcomes``.
    """
    correct = np.asarray(correct)
    if correct.ndim == 1 and len(correct) and not np.isin(correct, (0, 1)).all():
        raise ValueError("outcomes must be boolean or 0/1")
    return cluster_bootstrap_ratio(correct, np.ones(correct.shape), clusters, n_boot, seed,
                                   level)


def significantly_below(comparison: dict) -> bool:
    """Whether a paired comparison's A - B (``difference_test``'s) is significantly below 0."""
    return comparison["significant"] and comparison["difference"] < 0


def cluster_paired_difference(values_a, values_b, clusters, n_boot: int = 1000, seed: int = 0,
                              level: float = 0.95) -> dict[str, object]:
    """Mean of A - B over paired items (e.g. one held-out window scored by two systems), with
    a percentile interval and a two-sided p-value from resampling clusters (e.g. the
    identities the windows come from: windows of one person err together).

    Returns ``a`` and ``b`` (the means), ``difference``, ``ci``, ``p_value`` (as
    ``paired_bootstrap``'s), ``significant`` (the interval excludes 0), ``n_clusters``,
    ``n_items``, ``ci_level`` and ``n_boot``.
    """
    check_n_boot(n_boot)
    check_level(level)
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    clusters = np.asarray(clusters)
    if a.ndim != 1 or a.shape != b.shape or a.shape != clusters.shape or not len(a):
        raise ValueError(f"need equal-length non-empty 1-D values and clusters, got shapes "
                         f"{a.shape}, {b.shape} and {clusters.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("values must be finite")
    _, cluster = np.unique(clusters, return_inverse=True)
    n_clusters = int(cluster.max()) + 1
    sums = np.bincount(cluster, weights=a - b, minlength=n_clusters)
    counts = np.bincount(cluster, minlength=n_clusters).astype(np.float64)
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOT_CHUNK_ELEMENTS // n_clusters)
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        m = draw_multiplicities(rng, min(chunk, n_boot - start), n_clusters)
        # Every cluster has items and a draw holds n_clusters of them: never empty.
        diffs[start:start + len(m)] = (m @ sums) / (m @ counts)
    return {"a": float(a.mean()), "b": float(b.mean()), "difference": float(a.mean() - b.mean()),
            **difference_test(diffs, level), "n_clusters": n_clusters, "n_items": len(a),
            "ci_level": level, "n_boot": int(n_boot)}
