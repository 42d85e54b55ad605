"""Discrete frame units learnt without labels: k-means on log-mel frames (DESIGN §6).

The reconstruction method's decoder needs to be told what B says; where no phones exist
(VoxCeleb has no transcripts) units learnt from the audio itself can tell it, with no labels
at all. Frames are mean-normalised per utterance and bin before clustering, as the x-vector
extractor sees them, so a unit does not simply encode a recording's fixed gain; what speaker
information the units keep is measured by the content-input speaker probe.

Files: ``kmeans.npy``, the centroids ``(K, n_mels)`` float32; in a dump dir, ``frame_units``
(``<utt> <id> <id> ...``, one unit per feature frame, the format of ``frame_phones``) and
``units.txt`` (symbol table ``u<k> <k>``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xmodal.atomic import atomic_path
from xmodal.data.datadir import DataDirError
from xmodal.data.frame_labels import write_frame_labels, write_phone_table
from xmodal.data.scp import ScpReader

UNITS_FILE = "frame_units"
UNIT_TABLE_FILE = "units.txt"


def normalised(feats: np.ndarray) -> np.ndarray:
    """Log-mel ``(T, n_mels)`` minus its mean over time, per bin (float64)."""
    feats = np.asarray(feats, dtype=np.float64)
    return feats - feats.mean(axis=0, keepdims=True)


def sample_frames(feats_scp: str | os.PathLike, max_frames: int, seed: int) -> np.ndarray:
    """Normalised frames of a seeded choice of utterances, at most ``max_frames`` in all."""
    feats = ScpReader(feats_scp)
    keys = list(feats)
    if not keys:
        raise DataDirError(f"{feats_scp}: no utterances")
    frames, total = [], 0
    for i in np.random.default_rng([seed, 5]).permutation(len(keys)):
        x = normalised(feats[keys[i]])
        frames.append(x[:max_frames - total])
        total += len(frames[-1])
        if total >= max_frames:
            break
    return np.concatenate(frames)


def assign(x: np.ndarray, centroids: np.ndarray, block: int = 65536) -> np.ndarray:
    """The nearest centroid (squared Euclidean distance) of each row of ``x``, int64."""
    c2 = (centroids ** 2).sum(axis=1)
    out = np.empty(len(x), np.int64)
    for start in range(0, len(x), block):
        part = x[start:start + block]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 does not change the argmin.
        out[start:start + block] = np.argmin(c2[None, :] - 2.0 * part @ centroids.T, axis=1)
    return out


def kmeans(x: np.ndarray, k: int, iterations: int = 25, seed: int = 0) -> np.ndarray:
    """Centroids ``(k, D)`` of ``x`` by Lloyd's algorithm from a k-means++ start (seeded); an
    emptied cluster restarts at the point farthest from its centroid."""
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means: {k} units need between 1 and {len(x)} frames")
    rng = np.random.default_rng(seed)
    centroids = [x[rng.integers(len(x))]]
    nearest = ((x - centroids[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        centroids.append(x[rng.choice(len(x), p=nearest / nearest.sum())])
        nearest = np.minimum(nearest, ((x - centroids[-1]) ** 2).sum(axis=1))
    centroids = np.array(centroids)
    for _ in range(iterations):
        ids = assign(x, centroids)
        counts = np.bincount(ids, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, ids, x)
        empty = counts == 0
        centroids[~empty] = sums[~empty] / counts[~empty, None]
        if empty.any():
            far = np.argsort(((x - centroids[ids]) ** 2).sum(axis=1))[::-1]
            centroids[empty] = x[far[:int(empty.sum())]]
    return centroids


def save_centroids(path: str | os.PathLike, centroids: np.ndarray) -> None:
    """Write ``kmeans.npy`` atomically."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, centroids.astype(np.float32))


def write_units(dump_dir: str | os.PathLike, centroids: np.ndarray) -> int:
    """Each utterance of ``dump_dir/feats.scp`` as units: ``frame_units`` and ``units.txt``
    in ``dump_dir``. Returns the number of utterances."""
    dump_dir = Path(dump_dir)
    feats = ScpReader(dump_dir / "feats.scp")
    if np.shape(centroids)[1] != np.shape(feats[next(iter(feats))])[1]:
        raise DataDirError(f"{dump_dir}/feats.scp: {np.shape(feats[next(iter(feats))])[1]} "
                           f"feature bins, the centroids have {np.shape(centroids)[1]}")
    units = {key: assign(normalised(feats[key]), centroids) for key in feats}
    write_phone_table(dump_dir / UNIT_TABLE_FILE, [f"u{k}" for k in range(len(centroids))],
                      first=None)
    write_frame_labels(dump_dir / UNITS_FILE, units)
    return len(units)
