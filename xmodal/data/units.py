"""Discrete frame units learnt without labels: k-means on frame features (DESIGN §6).

The reconstruction method's decoder needs to be told what B says; where no phones exist
(VoxCeleb has no transcripts) units learnt from the audio itself can tell it, with no labels
at all. Two kinds of frames are clustered (``features``):

- ``logmel``: log-mel frames, mean-normalised per utterance and bin as the x-vector extractor
  sees them, so a unit does not simply encode a recording's fixed gain;
- ``content_emb``: the frozen content embeddings of a cross-modal model
  (``xmodal.data.content_embeddings``, 25 steps per second), clustered as they are; each
  feature frame takes the unit of its nearest step.

What speaker information the units keep is measured by the content-input speaker probe.

Files: ``kmeans.npy``, the centroids ``(K, D)`` float32; in a dump dir, per-frame units in the
format of ``frame_phones`` (``<utt> <id> <id> ...``, one unit per feature frame) and their
symbol table (``u<k> <k>``): ``frame_units`` and ``units.txt`` for log-mel,
``frame_content_units`` and ``content_units.txt`` for content embeddings (``UNIT_SETS``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xmodal.atomic import atomic_path
from xmodal.data.content_embeddings import CONTENT_EMB_SCP, ContentEmbeddings, frame_steps
from xmodal.data.datadir import DataDirError
from xmodal.data.frame_labels import write_frame_labels, write_phone_table
from xmodal.data.scp import ScpReader

UNITS_FILE = "frame_units"
UNIT_TABLE_FILE = "units.txt"
# Per-frame units and their table, by the features clustered.
UNIT_SETS = {"logmel": (UNITS_FILE, UNIT_TABLE_FILE),
             "content_emb": ("frame_content_units", "content_units.txt")}


def normalised(feats: np.ndarray) -> np.ndarray:
    """Log-mel ``(T, n_mels)`` minus its mean over time, per bin (float64)."""
    feats = np.asarray(feats, dtype=np.float64)
    return feats - feats.mean(axis=0, keepdims=True)


def _frames(dump_dir: Path, features: str):
    """(utterance -> frames to cluster, keys) of ``dump_dir`` for ``features``."""
    if features == "logmel":
        feats = ScpReader(dump_dir / "feats.scp")
        return (lambda key: normalised(feats[key])), list(feats)
    if features == "content_emb":
        emb = ContentEmbeddings(dump_dir / CONTENT_EMB_SCP)
        return (lambda key: np.asarray(emb[key], np.float64)), list(emb)
    raise ValueError(f"features must be one of {tuple(UNIT_SETS)}, got {features!r}")


def sample_frames(dump_dir: str | os.PathLike, max_frames: int, seed: int,
                  features: str = "logmel") -> np.ndarray:
    """Frames (``features``) of a seeded choice of utterances, at most ``max_frames`` in all."""
    frames_of, keys = _frames(Path(dump_dir), features)
    if not keys:
        raise DataDirError(f"{dump_dir}: no utterances")
    frames, total = [], 0
    for i in np.random.default_rng([seed, 5]).permutation(len(keys)):
        frames.append(frames_of(keys[i])[:max_frames - total])
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


def write_units(dump_dir: str | os.PathLike, centroids: np.ndarray,
                features: str = "logmel") -> int:
    """Each utterance of ``dump_dir/feats.scp`` as units of ``features`` (one per feature
    frame), written as that kind's unit table and per-frame units (``UNIT_SETS``) in
    ``dump_dir``. Returns the number of utterances."""
    dump_dir = Path(dump_dir)
    frames_of, keys = _frames(dump_dir, features)
    feats = ScpReader(dump_dir / "feats.scp")
    width = np.shape(frames_of(keys[0]))[1] if keys else 0
    if np.shape(centroids)[1] != width:
        what = "feature bins" if features == "logmel" else "content-embedding dimensions"
        raise DataDirError(f"{dump_dir}: {width} {what}, the centroids have "
                           f"{np.shape(centroids)[1]}")
    units, known = {}, set(keys)
    for key in feats:
        if key not in known:
            raise DataDirError(f"{dump_dir}: utterance '{key}' of feats.scp has no {features} "
                               "frames")
        ids = assign(frames_of(key), centroids)
        if features == "content_emb":
            n_frames = len(feats[key])
            # An utterance too short for one step of the trunk is all unit 0.
            ids = ids[frame_steps(n_frames, len(ids))] if len(ids) else np.zeros(n_frames,
                                                                                   np.int64)
        units[key] = ids
    units_file, table_file = UNIT_SETS[features]
    write_phone_table(dump_dir / table_file, [f"u{k}" for k in range(len(centroids))],
                      first=None)
    write_frame_labels(dump_dir / units_file, units)
    return len(units)
