"""The packed-model directory: what a trained encoder needs to be used on its own.

A pack (``exp/<tag>/pack/``, written by ``xmodal.bin.make_pack``) holds:

- ``pack.json``: ``format`` (``"xmodal-pack"``), ``format_version`` (``FORMAT_VERSION``), the
  method and tag, the encoder's ``input`` (``kind`` logmel or waveform, ``sample_rate``,
  ``n_mels``, ``min_input`` in frames or samples), ``embedding_dim``, ``scoring`` (``mean``:
  whether ``mean.npy`` is subtracted before the cosine), ``calibration`` (scale, offset,
  p_target: ``xmodal.eval.calibration.Calibration``; ``null`` when none was trained),
  ``threshold`` (the decision threshold as an llr and as a raw score, and the p_target it is
  the Bayes threshold for) and ``provenance`` (commit, date, the data it was trained and
  calibrated on);
- ``config.yaml`` and ``model.pt``: the training config and the (averaged) weights, as in the
  experiment dir;
- ``mean.npy`` (with ``scoring.mean``): float64 mean identity vector of the unlabelled
  ssl_train sample, the mean stage 6 subtracts;
- ``MODEL_CARD.md``: what the model is and its results with intervals;
- ``calibration_eval.json``: the calibrated scores' metrics on held-out trials.

The format version changes whenever a field changes meaning; ``read_pack_meta`` refuses any
other version with an error that says which versions this code reads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = "xmodal-pack"
FORMAT_VERSION = 1
META_FILE = "pack.json"
REQUIRED_FILES = (META_FILE, "config.yaml", "model.pt")
REQUIRED_KEYS = ("format", "format_version", "method", "input", "embedding_dim", "scoring",
                 "calibration")


class PackError(ValueError):
    """A pack (or an experiment dir used as one) is missing, incomplete or of another format."""


def is_pack(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding ``pack.json``."""
    return (Path(path) / META_FILE).is_file()


def read_pack_meta(pack_dir: str | os.PathLike) -> dict:
    """``pack.json`` of ``pack_dir``, checked: the format, its version, required keys and
    files. Every failure is a ``PackError`` naming the file."""
    pack_dir = Path(pack_dir)
    meta_path = pack_dir / META_FILE
    if not pack_dir.is_dir():
        raise PackError(f"{pack_dir}: no such model directory")
    if not meta_path.is_file():
        raise PackError(f"{pack_dir}: not a pack (no {META_FILE}) and not an experiment dir "
                        "(no config.yaml and model.pt)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PackError(f"{meta_path}: not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PackError(f"{meta_path}: not an xmodal pack (format "
                        f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected "
                        f"{FORMAT!r})")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise PackError(f"{meta_path}: pack format version {version!r}; this xmodal reads "
                        f"version {FORMAT_VERSION} only (repack the model with "
                        "xmodal.bin.make_pack from its experiment dir)")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise PackError(f"{meta_path}: missing key(s) {', '.join(missing)}")
    files = list(REQUIRED_FILES) + (["mean.npy"] if meta["scoring"].get("mean") else [])
    absent = [name for name in files if not (pack_dir / name).is_file()]
    if absent:
        raise PackError(f"{pack_dir}: incomplete pack, missing {', '.join(absent)}")
    return meta
