"""Channel probe: how much of the recording channel an utterance embedding carries.

The synthetic corpus draws one recording channel per video and writes its parameters to
``annotations/factors.tsv`` (a header row, then one tab-separated row per utterance; the
``channel_*`` columns: band limits, an EQ peak, reverberation, noise). For each parameter, a
ridge regression from the standardised embedding to the standardised parameter is trained on
the utterances of half of the speakers (a seeded split) and tested on the other half.

The split is by speaker. A speaker's videos, and so its channels, belong to that speaker: in
an utterance split, an embedding that only identifies the speaker (or the video) would find
the test utterance's channel among the training utterances and score high without reading
the channel at all. With disjoint speakers, only what the embedding holds of the channel
itself can predict it. The ridge strength of each parameter is chosen by cross-validation
within the training half, with folds of whole speakers for the same reason.

Reported per parameter: the test R² (``1 - SS_res / SS_tot`` about the test mean: 0 for a
constant prediction, negative for a worse one) and a percentile interval from resampling the
test speakers with replacement (``xmodal.eval.bootstrap``: the utterances of one speaker share
a voice and videos, so they are not independent); likewise the mean R² over parameters, its
replicates paired with those of the parameters. A replicate in which some parameter has no
variance (R² undefined) is redrawn and counted in ``n_redrawn``, as the speaker bootstrap does.

Pure numpy (no torch): ``channel_probe`` works on arrays, ``probe_channel_files`` reads an
embedding scp and ``factors.tsv``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# numbered_lines: factors.tsv gets the line checks (UTF-8, line endings, empty lines) of
# every table; the bootstrap's helpers draw and summarise the speaker resamples
# exactly as its public functions do.
from xmodal.data.datadir import numbered_lines
from xmodal.eval.bootstrap import (BOOT_CHUNK_ELEMENTS, check_level, check_n_boot,
                                   draw_multiplicities, percentile_interval)
from xmodal.eval.scoring import load_embeddings

CHANNEL_PREFIX = "channel_"
# Ridge strengths tried, in units of the standardised embedding (the penalty is compared with
# the squared singular values of the training matrix, which grow with its rows): from nearly
# least squares to a constant prediction.
ALPHAS = tuple(float(a) for a in 10.0 ** np.arange(-3.0, 6.5, 0.5))
N_FOLDS = 5
MIN_SPEAKERS = 4


class ChannelProbeError(ValueError):
    """Unusable embeddings or factors; the message names the file, line or key."""


@dataclass(frozen=True)
class ChannelFactors:
    """The channel parameters of a ``factors.tsv``.

    ``names`` are the ``channel_*`` columns in file order; ``values[utt]`` is the float64
    vector of those parameters, ``speakers[utt]`` its ``spk`` and ``lines[utt]`` its line.
    """

    path: Path
    names: list[str]
    values: dict[str, np.ndarray]
    speakers: dict[str, str]
    lines: dict[str, int]


def read_channel_factors(path: str | os.PathLike) -> ChannelFactors:
    """Read the ``utt``, ``spk`` and ``channel_*`` columns of a factors.tsv, checking each row.

    The header must name ``utt``, ``spk`` and at least one ``channel_*`` column; every row
    must have the header's number of fields, a new ``utt`` and finite numbers in the channel
    columns. A failure is a ChannelProbeError (DataDirError for a missing file or a malformed
    line) naming ``path:line`` (and the column).
    """
    path = Path(path)
    # A missing file or a malformed line is a DataDirError naming path:line.
    lines = numbered_lines(path)
    first = next(lines, None)
    if first is None:
        raise ChannelProbeError(f"{path}: empty file, expected a header row")
    header = first[1].split("\t")
    names = [name for name in header if name.startswith(CHANNEL_PREFIX)]
    missing = [name for name in ("utt", "spk") if name not in header]
    if missing or not names:
        raise ChannelProbeError(f"{path}:1: header lacks the column(s) "
                                f"{', '.join(missing + ([] if names else [CHANNEL_PREFIX + '*']))}")
    utt_col, spk_col = header.index("utt"), header.index("spk")
    columns = [header.index(name) for name in names]
    factors = ChannelFactors(path, names, {}, {}, {})
    for lineno, line in lines:
        fields = line.split("\t")
        where = f"{path}:{lineno}"
        if len(fields) != len(header):
            raise ChannelProbeError(f"{where}: {len(fields)} tab-separated fields, the header "
                                    f"has {len(header)}")
        utt = fields[utt_col]
        if utt in factors.values:
            raise ChannelProbeError(f"{where}: utterance '{utt}' is a duplicate (also on line "
                                    f"{factors.lines[utt]})")
        values = np.empty(len(names))
        for k, (name, column) in enumerate(zip(names, columns)):
            try:
                values[k] = float(fields[column])
            except ValueError:
                values[k] = np.nan
            if not np.isfinite(values[k]):
                raise ChannelProbeError(f"{where}: utterance '{utt}': {name} "
                                        f"{fields[column]!r} is not a finite number")
        factors.values[utt], factors.speakers[utt] = values, fields[spk_col]
        factors.lines[utt] = lineno
    return factors


def r2_scores(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column: ``1 - SS_res / SS_tot`` about ``y``'s mean."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    residual = ((y - pred) ** 2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    if (total <= 0).any():
        raise ValueError("R² is undefined for a column without variance")
    return 1.0 - residual / total


def ridge_path(x_fit: np.ndarray, y_fit: np.ndarray, x_apply: np.ndarray,
               alphas=ALPHAS) -> np.ndarray:
    """Predictions ``(len(alphas), len(x_apply), y columns)`` of ridge regressions with an
    intercept, fitted on ``x_fit`` standardised by its own column means and deviations."""
    mean, std = x_fit.mean(axis=0), x_fit.std(axis=0)
    std[std == 0] = 1.0  # a constant dimension is 0 after centring and gets no weight
    y_mean = y_fit.mean(axis=0)
    u, s, vt = np.linalg.svd((x_fit - mean) / std, full_matrices=False)
    # One SVD serves every strength: coef(alpha) = V diag(s / (s^2 + alpha)) U^T y.
    shrink = s / (s ** 2 + np.asarray(alphas, dtype=np.float64)[:, None])
    projected = ((x_apply - mean) / std) @ vt.T
    return np.einsum("nr,ar,rk->ank", projected, shrink, u.T @ (y_fit - y_mean)) + y_mean


def grouped_folds(groups: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold (0..n_folds-1) of each row: the groups shuffled, then dealt out in turn, so a
    group's rows share a fold and fold sizes differ by at most one group."""
    names, index = np.unique(groups, return_inverse=True)
    fold_of_group = np.empty(len(names), dtype=np.int64)
    fold_of_group[rng.permutation(len(names))] = np.arange(len(names)) % n_folds
    return fold_of_group[index]


def choose_alphas(x: np.ndarray, y: np.ndarray, groups: np.ndarray, rng: np.random.Generator,
                  alphas=ALPHAS, n_folds: int = N_FOLDS) -> np.ndarray:
    """Index into ``alphas`` per column of ``y``: the least out-of-fold squared error over
    folds of whole groups (``min(n_folds, groups)`` of them)."""
    folds = grouped_folds(groups, min(n_folds, len(np.unique(groups))), rng)
    errors = np.zeros((len(alphas), y.shape[1]))
    for fold in np.unique(folds):
        held = folds == fold
        pred = ridge_path(x[~held], y[~held], x[held], alphas)
        errors += ((pred - y[held]) ** 2).sum(axis=1)
    return np.argmin(errors, axis=0)


def _r2_replicates(y: np.ndarray, pred: np.ndarray, speakers: np.ndarray, n_boot: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """R² per column under ``n_boot`` resamples of the speakers, ``(n_boot, columns)``, and
    the number of draws redrawn because some column had no variance."""
    _, index = np.unique(speakers, return_inverse=True)
    n_speakers = int(index.max()) + 1

    def per_speaker(values: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(index, weights=col, minlength=n_speakers)
                         for col in values.T], axis=1)

    # A replicate's sums are its multiplicities times these per-speaker sums.
    count = np.bincount(index, minlength=n_speakers).astype(np.float64)
    total, squares, residual = per_speaker(y), per_speaker(y ** 2), per_speaker((y - pred) ** 2)
    replicates, redrawn, chunk = [], 0, max(1, BOOT_CHUNK_ELEMENTS // n_speakers)
    while n_boot:
        m = draw_multiplicities(rng, min(chunk, n_boot), n_speakers).astype(np.float64)
        n = m @ count
        spread = m @ squares - (m @ total) ** 2 / n[:, None]
        # Relative to the replicate's size: rounding leaves ~1e-16 where there is no variance.
        ok = (spread > 1e-12 * (m @ squares)).all(axis=1)
        replicates.append(1.0 - (m[ok] @ residual) / spread[ok])
        redrawn += int((~ok).sum())
        n_boot -= int(ok.sum())
    return np.concatenate(replicates), redrawn


def channel_probe(x: np.ndarray, y: np.ndarray, speakers, names: list[str], seed: int = 0,
                  n_boot: int = 1000, level: float = 0.95, alphas=ALPHAS,
                  n_folds: int = N_FOLDS) -> dict:
    """Speaker-disjoint ridge probe of each column of ``y`` (parameters ``names``) from the
    rows of ``x`` (embeddings), ``speakers[i]`` being row i's speaker; see the module doc.

    Returns ``params`` (name -> ``r2``, ``ci``, ``alpha``), ``mean_r2``, ``mean_r2_ci``,
    ``n_train_speakers``, ``n_test_speakers``, ``n_utts``, ``ci_level``, ``n_boot``,
    ``n_redrawn``. Needs at least 4 speakers (2 per half); else a ChannelProbeError.
    """
    check_n_boot(n_boot)
    check_level(level)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    speakers = np.asarray(speakers)
    if x.ndim != 2 or y.shape != (len(x), len(names)) or speakers.shape != (len(x),):
        raise ValueError(f"need x (n, d), y (n, {len(names)}) and n speakers, got shapes "
                         f"{x.shape}, {y.shape} and {speakers.shape}")
    unique = np.unique(speakers)
    if len(unique) < MIN_SPEAKERS:
        raise ChannelProbeError(f"{len(unique)} speakers, the channel probe needs at least "
                                f"{MIN_SPEAKERS} (half to train, half to test)")
    rng = np.random.default_rng(seed)
    test_speakers = unique[rng.permutation(len(unique))[len(unique) // 2:]]
    test = np.isin(speakers, test_speakers)
    # Standardised by the training half only: the test half must not shape the fit.
    y_mean, y_std = y[~test].mean(axis=0), y[~test].std(axis=0)
    constant = [name for name, s in zip(names, y_std) if s == 0]
    if constant:
        raise ChannelProbeError(f"parameter '{constant[0]}' is constant over the training "
                                "speakers: nothing to regress")
    y = (y - y_mean) / y_std
    best = choose_alphas(x[~test], y[~test], speakers[~test], rng, alphas, n_folds)
    pred = ridge_path(x[~test], y[~test], x[test], alphas)[best, :, np.arange(len(names))].T
    flat = [name for name, s in zip(names, y[test].std(axis=0)) if s == 0]
    if flat:
        raise ChannelProbeError(f"parameter '{flat[0]}' is constant over the test speakers: "
                                "R² is undefined")
    r2 = r2_scores(y[test], pred)
    replicates, redrawn = _r2_replicates(y[test], pred, speakers[test], n_boot,
                                         np.random.default_rng([seed, 1]))
    params = {name: {"r2": float(r2[k]), "ci": percentile_interval(replicates[:, k], level),
                     "alpha": float(alphas[best[k]])} for k, name in enumerate(names)}
    return {"params": params, "mean_r2": float(r2.mean()),
            "mean_r2_ci": percentile_interval(replicates.mean(axis=1), level),
            "n_train_speakers": len(unique) - len(test_speakers),
            "n_test_speakers": len(test_speakers), "n_utts": len(x), "ci_level": level,
            "n_boot": int(n_boot), "n_redrawn": redrawn}


def probe_channel_files(emb_scp: str | os.PathLike, factors_path: str | os.PathLike,
                        seed: int = 0, n_boot: int = 1000) -> dict:
    """``channel_probe`` of the embeddings of ``emb_scp`` (kaldiio vectors, e.g. stage 5's
    ``identity.scp``) against the channel parameters and speakers of ``factors_path``.

    Every embedding key must be an ``utt`` of factors.tsv, else a ChannelProbeError naming
    the scp line and the key.
    """
    factors = read_channel_factors(factors_path)
    table = load_embeddings([emb_scp])
    for line, key in enumerate(table.keys, 1):
        if key not in factors.values:
            raise ChannelProbeError(f"{emb_scp}:{line}: utterance '{key}' is not in "
                                    f"{factors.path} (its utt column)")
    y = np.stack([factors.values[key] for key in table.keys])
    speakers = [factors.speakers[key] for key in table.keys]
    return channel_probe(table.matrix, y, speakers, factors.names, seed, n_boot)


def format_result(name: str, result: dict) -> str:
    """One line: the mean R² with its interval, then each parameter's R²."""
    low, high = result["mean_r2_ci"]
    params = " ".join(f"{k.removeprefix(CHANNEL_PREFIX)}={v['r2']:.3f}"
                      for k, v in result["params"].items())
    return f"{name}: channel mean R2 {result['mean_r2']:.3f} [{low:.3f}, {high:.3f}]  {params}"
