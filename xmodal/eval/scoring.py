"""Verification scoring: trials, embeddings from kaldiio scp files, cosine and AS-norm scores.

A trials file holds ``<enroll> <test> target|nontarget`` lines (or ``<enroll> <test>`` for an
unlabelled list); a score file adds the score: ``<enroll> <test> <score> [target|nontarget]``.
Scores are cosine similarities of L2-normalised embeddings, optionally after subtracting a
mean vector (e.g. of the self-supervised training set's embeddings) and optionally
normalised with adaptive s-norm against a cohort. All arithmetic is vectorised and done in
fixed-size chunks, so memory stays bounded for any number of trials.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from xmodal.atomic import write_lines_atomic
from xmodal.data.datadir import TRIAL_LABELS, DataDirError, read_table
from xmodal.data.scp import ScpReader
from xmodal.eval.bootstrap import (TrialSpeakerError, calibrated_speaker_bootstrap,
                                   speaker_bootstrap, trial_speakers)
from xmodal.eval.calibration import calibration_metrics
from xmodal.eval.metrics import metrics_dict

# Floats per temporary block (32 MB in float64): bounds memory whatever the trial count.
CHUNK_ELEMENTS = 1 << 22

PathLike = str | os.PathLike


class ScoringError(ValueError):
    """Embeddings or score files are missing, malformed or do not match the trials."""


def _numbered_fields(path: Path, error: type[ValueError]) -> Iterator[tuple[int, list[str]]]:
    """Whitespace-split fields of each line of ``path``, numbered from 1; empty lines fail."""
    try:
        f = open(path, "rb")
    except OSError as err:
        raise error(f"{path}: cannot open: {err.strerror}") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            try:
                fields = raw.decode("utf-8").split()
            except UnicodeDecodeError:
                raise error(f"{path}:{lineno}: not valid UTF-8") from None
            if not fields:
                raise error(f"{path}:{lineno}: empty line")
            yield lineno, fields


@dataclass
class TrialList:
    """Trials in file order; ``labels`` is None for an unlabelled (2-column) list."""

    path: Path
    enroll: list[str]
    test: list[str]
    labels: list[str] | None
    line_numbers: list[int]


def read_trial_list(path: PathLike) -> TrialList:
    """Read a Kaldi trials file, checking every line.

    Lines are all ``<enroll> <test> target|nontarget`` or all ``<enroll> <test>``
    (unlabelled). A bad line raises DataDirError naming ``path:line``.
    """
    path = Path(path)
    trials = TrialList(path, [], [], [], [])
    labelled = None
    for lineno, fields in _numbered_fields(path, DataDirError):
        if len(fields) not in (2, 3):
            raise DataDirError(f"{path}:{lineno}: expected '<enroll> <test> [target|nontarget]', "
                               f"got {len(fields)} fields")
        if len(fields) == 3 and fields[2] not in TRIAL_LABELS:
            raise DataDirError(f"{path}:{lineno}: unknown label '{fields[2]}' "
                               "(expected target or nontarget)")
        if labelled is None:
            labelled = len(fields) == 3
        elif labelled != (len(fields) == 3):
            raise DataDirError(f"{path}:{lineno}: {'no' if labelled else 'a'} label, unlike "
                               "line 1 (a trials file is all labelled or all unlabelled)")
        trials.enroll.append(fields[0])
        trials.test.append(fields[1])
        trials.line_numbers.append(lineno)
        if labelled:
            trials.labels.append(fields[2])
    if labelled is None:
        raise DataDirError(f"{path}: no trials")
    if not labelled:
        trials.labels = None
    return trials


@dataclass
class EmbeddingTable:
    """Row ``i`` of ``matrix`` (float64) embeds ``keys[i]``; ``source`` names the scp files."""

    keys: list[str]
    matrix: np.ndarray
    source: str
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {key: i for i, key in enumerate(self.keys)}


def _reader(scp: Path) -> ScpReader:
    """The entries of ``scp``; a missing or malformed scp is a ``ScoringError``."""
    try:
        return ScpReader(scp)
    except DataDirError as err:
        raise ScoringError(str(err)) from None


def _vector(reader: ScpReader, key: str) -> np.ndarray:
    """Entry ``key`` of ``reader`` as a finite float64 vector; else an error naming scp:line."""
    try:
        vector = np.asarray(reader[key])
    except DataDirError as err:
        raise ScoringError(str(err)) from None
    if vector.ndim != 1 or not np.issubdtype(vector.dtype, np.floating):
        raise ScoringError(f"{reader.where(key)}: '{key}' is a {vector.dtype} array of shape "
                           f"{vector.shape}, expected a float vector")
    if not np.isfinite(vector).all():
        # A NaN would only surface as a NaN score, far from the embedding that caused it.
        raise ScoringError(f"{reader.where(key)}: '{key}' has NaN or inf values (first at "
                           f"dimension {int(np.argmin(np.isfinite(vector)))})")
    return vector.astype(np.float64)


def _stack(vectors: list[np.ndarray], keys: list[str], source: str) -> np.ndarray:
    """Stack equal-length vectors into a matrix; a length mismatch names the first odd key."""
    for key, vector in zip(keys, vectors):
        if len(vector) != len(vectors[0]):
            raise ScoringError(f"{source}: '{key}' has dimension {len(vector)}, "
                               f"'{keys[0]}' has {len(vectors[0])}")
    return np.stack(vectors)


def load_embeddings(scps: Sequence[PathLike], keys: Iterable[str] | None = None
                    ) -> EmbeddingTable:
    """Load embedding vectors from kaldiio scp files (all keys, or only those in ``keys``).

    Keys of ``keys`` that no scp holds are simply absent from the table: the caller decides
    whether that is an error. A key in two scp files is an error.
    """
    scps = [Path(p) for p in scps]
    source = ", ".join(map(str, scps))
    owner: dict[str, ScpReader] = {}
    for scp in scps:
        reader = _reader(scp)
        for key in reader:
            if key in owner:
                raise ScoringError(f"{reader.where(key)}: key '{key}' is also in "
                                   f"{owner[key].where(key)}")
            owner[key] = reader
    wanted = list(owner) if keys is None else [k for k in dict.fromkeys(keys) if k in owner]
    if not wanted:
        raise ScoringError(f"{source}: no embeddings for the requested keys")
    vectors = [_vector(owner[key], key) for key in wanted]
    return EmbeddingTable(wanted, _stack(vectors, wanted, source), source)


def mean_embedding(scp: PathLike) -> np.ndarray:
    """Mean vector of every embedding in ``scp``, accumulated in a stream (any set size)."""
    reader = _reader(Path(scp))
    total = None
    for key in reader:
        vector = _vector(reader, key)
        if total is None:
            total = np.zeros_like(vector)
        elif len(vector) != len(total):
            raise ScoringError(f"{reader.where(key)}: '{key}' has dimension {len(vector)}, "
                               f"earlier vectors have {len(total)}")
        total += vector
    if total is None:
        raise ScoringError(f"{scp}: no embeddings")
    return total / len(reader)


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row stays zero (cosine 0 rather than NaN)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def cosine_scores(enroll_mat: np.ndarray, test_mat: np.ndarray, enroll_idx: np.ndarray,
                  test_idx: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``enroll_mat[enroll_idx[i]]`` and ``test_mat[test_idx[i]]``.

    Rows are L2-normalised once, then each chunk of trials is gathered and dotted row-wise.
    """
    if enroll_mat.shape[1] != test_mat.shape[1]:
        raise ValueError(f"enroll dimension {enroll_mat.shape[1]} != test dimension "
                         f"{test_mat.shape[1]}")
    enroll = l2_normalise(enroll_mat)
    test = enroll if test_mat is enroll_mat else l2_normalise(test_mat)
    scores = np.empty(len(enroll_idx))
    step = max(1, CHUNK_ELEMENTS // enroll.shape[1])
    for start in range(0, len(scores), step):
        chunk = slice(start, start + step)
        scores[chunk] = np.einsum("ij,ij->i", enroll[enroll_idx[chunk]], test[test_idx[chunk]])
    return scores


def top_cohort_stats(matrix: np.ndarray, cohort: np.ndarray, top_k: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of each row's ``top_k`` highest cosine scores vs ``cohort``."""
    if matrix.shape[1] != cohort.shape[1]:
        raise ValueError(f"embedding dimension {matrix.shape[1]} != cohort dimension "
                         f"{cohort.shape[1]}")
    if not 1 <= top_k <= len(cohort):
        raise ValueError(f"top_k must be in [1, {len(cohort)}] (the cohort size), got {top_k}")
    rows, cohort = l2_normalise(matrix), l2_normalise(cohort)
    means, stds = np.empty(len(rows)), np.empty(len(rows))
    step = max(1, CHUNK_ELEMENTS // len(cohort))
    for start in range(0, len(rows), step):
        chunk = slice(start, start + step)
        block = rows[chunk] @ cohort.T
        # partition puts the k largest in the last k columns without a full sort.
        top = np.partition(block, len(cohort) - top_k, axis=1)[:, len(cohort) - top_k:]
        means[chunk], stds[chunk] = top.mean(axis=1), top.std(axis=1)
    return means, stds


def asnorm_scores(scores: np.ndarray, enroll_mat: np.ndarray, test_mat: np.ndarray,
                  enroll_idx: np.ndarray, test_idx: np.ndarray, cohort: np.ndarray,
                  top_k: int) -> np.ndarray:
    """Adaptive s-norm: the average of the score normalised by each side's top-k cohort stats.

    ``0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t)``, where ``mu``/``sd`` are the mean and std
    of the ``top_k`` highest cosine scores of the enrolment (test) embedding against the cohort.
    Stats are computed once per embedding, not per trial.
    """
    enroll_mean, enroll_std = top_cohort_stats(enroll_mat, cohort, top_k)
    if test_mat is enroll_mat:
        test_mean, test_std = enroll_mean, enroll_std
    else:
        test_mean, test_std = top_cohort_stats(test_mat, cohort, top_k)
    if (enroll_std[enroll_idx] == 0).any() or (test_std[test_idx] == 0).any():
        raise ValueError(f"top-{top_k} cohort scores have zero spread for some embedding "
                         "(top_k 1, or a cohort of identical vectors)")
    return 0.5 * ((scores - enroll_mean[enroll_idx]) / enroll_std[enroll_idx]
                  + (scores - test_mean[test_idx]) / test_std[test_idx])


@dataclass
class ScoringSummary:
    """What ``score_trials`` did: trials written and skipped, AS-norm top-k actually used."""

    n_scored: int
    n_skipped: int
    asnorm_top_k: int | None = None


def _trial_indices(trials: TrialList, enroll: EmbeddingTable, test: EmbeddingTable,
                   skip_unknown: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of each trial's enrol and test embeddings, and the kept trial positions."""
    enroll_idx = np.array([enroll.index.get(k, -1) for k in trials.enroll], dtype=np.int64)
    test_idx = np.array([test.index.get(k, -1) for k in trials.test], dtype=np.int64)
    known = (enroll_idx >= 0) & (test_idx >= 0)
    if not skip_unknown and not known.all():
        i = int(np.argmin(known))
        side, key, table = (("enroll", trials.enroll[i], enroll) if enroll_idx[i] < 0
                            else ("test", trials.test[i], test))
        raise ScoringError(f"{trials.path}:{trials.line_numbers[i]}: {side} key '{key}' has no "
                           f"embedding in {table.source}")
    keep = np.flatnonzero(known)
    if len(keep) == 0:
        raise ScoringError(f"{trials.path}: no trial has embeddings for both sides")
    return enroll_idx[keep], test_idx[keep], keep


def score_trials(trials_path: PathLike, enroll_scps: Sequence[PathLike], out: PathLike, *,
                 test_scps: Sequence[PathLike] | None = None, mean_scp: PathLike | None = None,
                 cohort_scp: PathLike | None = None, top_k: int = 300,
                 skip_unknown: bool = False) -> ScoringSummary:
    """Score a trials file with cosine similarity and write the score file atomically.

    Test embeddings come from ``test_scps``, or from ``enroll_scps`` when not given. With
    ``mean_scp``, the mean of its embeddings is subtracted from every embedding (cohort
    included) first. With ``cohort_scp``, scores are AS-normalised using the ``top_k`` best
    cohort scores (``top_k`` is capped at the cohort size). A trial key without an embedding
    is an error naming the trials line, unless ``skip_unknown`` (then the trial is skipped
    and counted).
    """
    trials = read_trial_list(trials_path)
    if test_scps is None:
        enroll = test = load_embeddings(enroll_scps, trials.enroll + trials.test)
    else:
        enroll = load_embeddings(enroll_scps, trials.enroll)
        test = load_embeddings(test_scps, trials.test)
    enroll_idx, test_idx, keep = _trial_indices(trials, enroll, test, skip_unknown)

    mean = None
    if mean_scp is not None:
        mean = mean_embedding(mean_scp)
        if len(mean) != enroll.matrix.shape[1]:
            raise ScoringError(f"{mean_scp}: dimension {len(mean)} != {enroll.matrix.shape[1]} "
                               f"of {enroll.source}")

    def centred(table: EmbeddingTable) -> np.ndarray:
        return table.matrix if mean is None else table.matrix - mean

    enroll_mat = centred(enroll)
    test_mat = enroll_mat if test is enroll else centred(test)
    try:
        scores = cosine_scores(enroll_mat, test_mat, enroll_idx, test_idx)
    except ValueError as err:
        raise ScoringError(f"{enroll.source} vs {test.source}: {err}") from None

    summary = ScoringSummary(n_scored=len(keep), n_skipped=len(trials.enroll) - len(keep))
    if cohort_scp is not None:
        cohort = load_embeddings([cohort_scp])
        summary.asnorm_top_k = min(top_k, len(cohort.keys))
        try:
            scores = asnorm_scores(scores, enroll_mat, test_mat, enroll_idx, test_idx,
                                   centred(cohort), summary.asnorm_top_k)
        except ValueError as err:
            raise ScoringError(f"AS-norm with cohort {cohort_scp}: {err}") from None

    lines = [f"{trials.enroll[i]} {trials.test[i]} {score:.6f}" for i, score in zip(keep, scores)]
    if trials.labels is not None:
        lines = [f"{line} {trials.labels[i]}" for line, i in zip(lines, keep)]
    write_lines_atomic(out, lines)
    return summary


@dataclass
class ScoreFile:
    """A labelled score file's trials in file order: trial i is on line i + 1."""

    path: Path
    enroll: list[str]
    test: list[str]
    scores: np.ndarray
    labels: np.ndarray


def read_labelled_scores(path: PathLike) -> ScoreFile:
    """Keys, scores and boolean target labels of a ``<enroll> <test> <score> <label>`` file."""
    path = Path(path)
    table = ScoreFile(path, [], [], [], [])
    for lineno, fields in _numbered_fields(path, ScoringError):
        if len(fields) != 4:
            raise ScoringError(f"{path}:{lineno}: expected '<enroll> <test> <score> "
                               f"target|nontarget', got {len(fields)} fields")
        try:
            table.scores.append(float(fields[2]))
        except ValueError:
            raise ScoringError(f"{path}:{lineno}: score '{fields[2]}' is not a number") from None
        if fields[3] not in TRIAL_LABELS:
            raise ScoringError(f"{path}:{lineno}: unknown label '{fields[3]}' "
                               "(expected target or nontarget)")
        table.labels.append(fields[3] == "target")
        table.enroll.append(fields[0])
        table.test.append(fields[1])
    if not table.scores:
        raise ScoringError(f"{path}: no scores")
    table.scores, table.labels = np.array(table.scores), np.array(table.labels)
    return table


def read_score_file(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Scores and boolean target labels of a labelled ``<enroll> <test> <score> <label>`` file."""
    table = read_labelled_scores(path)
    return table.scores, table.labels


def evaluate_score_files(paths: Sequence[PathLike], det_plot: PathLike | None = None, *,
                         ci: bool = False, utt2spk: PathLike | None = None, n_boot: int = 1000,
                         seed: int = 0, level: float = 0.95, llr: bool = False
                         ) -> list[dict[str, object]]:
    """``metrics_dict`` of each labelled score file, plus a ``scores`` field naming the file.

    With ``ci``, adds the speaker-bootstrap intervals of ``bootstrap.speaker_bootstrap``
    (speakers per ``bootstrap.trial_speakers``, with the ``utt2spk`` file if given; a bad
    utt2spk is a DataDirError). With ``llr`` (the scores are calibrated log-likelihood
    ratios), also adds ``calibration.calibration_metrics`` (actual DCF at each p_target,
    Cllr, minCllr), with ``ci`` their intervals from the same speaker resamples. With
    ``det_plot``, also draws all files' DET curves into that one image.
    """
    speakers = None if utt2spk is None else read_table(utt2spk, require_sorted=False)
    results, systems = [], {}
    for path in paths:
        table = read_labelled_scores(path)
        try:
            if ci:
                sides = trial_speakers(table.enroll, table.test, table.labels, speakers)
                result = speaker_bootstrap(table.scores, table.labels, *sides, n_boot=n_boot,
                                           seed=seed, level=level)
                if llr:
                    result.update(calibrated_speaker_bootstrap(
                        table.scores, table.labels, *sides, n_boot=n_boot, seed=seed,
                        level=level))
            else:
                result = metrics_dict(table.scores, table.labels)
                if llr:
                    result.update(calibration_metrics(table.scores, table.labels))
        except TrialSpeakerError as err:
            raise ScoringError(f"{path}:{err.index + 1}: {err.reason}") from None
        except ValueError as err:
            raise ScoringError(f"{path}: {err}") from None
        results.append({"scores": str(path), **result})
        systems[str(path)] = (table.scores, table.labels)
    if det_plot is not None:
        # Imported here: matplotlib adds about a second to every scoring process's start.
        from xmodal.eval.det_plot import plot_det

        plot_det(systems, det_plot)
    return results
