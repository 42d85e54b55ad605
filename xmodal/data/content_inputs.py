"""The reconstruction decoder's content inputs: which files of a dump dir hold each kind, and
each utterance's input over its feature frames (DESIGN §6).

One place for what the method (``xmodal.methods.reconstruction``) and the content-input
speaker probe (``xmodal.eval.content_speaker_probe``) both read, so the probe measures the
very input the decoder gets.

====================  ==============================  ============================  ======
kind                  per-utterance source            symbol table (id 0)           frames
====================  ==============================  ============================  ======
phones, noisy         ``frame_phones``                ``phones.txt`` (``sil``)      ids
phone_posteriors      ``phone_post.scp``              ``phone_post.txt`` (``sil``)  rows
units                 ``frame_units``                 ``units.txt``                 ids
content_units         ``frame_content_units``         ``content_units.txt``         ids
content_embedding     ``content_emb.scp``             none: its width               rows
====================  ==============================  ============================  ======

Labels are fitted to the utterance's feature frames (``frame_labels.fit_to_frames``);
posteriors past their end are silence; step embeddings are expanded to frames
(``content_embeddings.expand_to_frames``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.data.content_embeddings import CONTENT_EMB_SCP, ContentEmbeddings, expand_to_frames
from xmodal.data.datadir import PHONE_TABLE_FILE, DataDirError
from xmodal.data.frame_labels import (POSTERIOR_TABLE_FILE, SILENCE, fit_to_frames,
                                      read_frame_labels, read_phone_posteriors,
                                      read_phone_table)
from xmodal.data.units import UNIT_SETS

KINDS = ("phones", "noisy", "phone_posteriors", "units", "content_units", "content_embedding")


@dataclass(frozen=True)
class ContentFiles:
    """Where a content kind lives in a dump dir."""

    source: str            # per-frame labels table, or scp of float matrices
    table: str | None      # symbol table; None: the width is the matrices'
    first: str | None      # required symbol of id 0
    dense: bool            # float rows per frame (else one id per frame)


FILES = {
    "phones": ContentFiles("frame_phones", PHONE_TABLE_FILE, SILENCE, False),
    "noisy": ContentFiles("frame_phones", PHONE_TABLE_FILE, SILENCE, False),
    "phone_posteriors": ContentFiles("phone_post.scp", POSTERIOR_TABLE_FILE, SILENCE, True),
    "units": ContentFiles(*UNIT_SETS["logmel"], None, False),
    "content_units": ContentFiles(*UNIT_SETS["content_emb"], None, False),
    "content_embedding": ContentFiles(CONTENT_EMB_SCP, None, None, True),
}


def _files(kind: str) -> ContentFiles:
    if kind not in FILES:
        raise ValueError(f"content must be one of {KINDS}, got {kind!r}")
    return FILES[kind]


def _require(path: Path, kind: str) -> Path:
    if not path.is_file():
        raise DataDirError(f"{path}: file not found (content '{kind}' needs {path.name} in "
                           "the data dir)")
    return path


def inventory(dump_dir: str | Path, kind: str) -> int:
    """Symbols (phones, units) of content ``kind`` in ``dump_dir``, from its table alone, or
    the width of its matrices (content_embedding)."""
    files, dump_dir = _files(kind), Path(dump_dir)
    if files.table is None:
        return ContentEmbeddings(_require(dump_dir / files.source, kind)).width
    return len(read_phone_table(_require(dump_dir / files.table, kind), first=files.first))


def read_content(dump_dir: str | Path, kind: str, keys: list[str]) -> Mapping[str, np.ndarray]:
    """Utterance -> raw content of ``kind``: int64 ids, or float matrices read on access.

    Every one of ``keys`` must have an entry; posteriors must be as wide as their table."""
    files, dump_dir = _files(kind), Path(dump_dir)
    source = _require(dump_dir / files.source, kind)
    n = inventory(dump_dir, kind)
    if kind == "content_embedding":
        table: Mapping[str, np.ndarray] = ContentEmbeddings(source)
    elif kind == "phone_posteriors":
        table = read_phone_posteriors(source, n)
    else:
        table = read_frame_labels(source, n)
    missing = [k for k in keys if k not in table]
    if missing:
        raise DataDirError(f"{source}: no entry for {len(missing)} utterance(s), e.g. "
                           f"'{missing[0]}'")
    return table


def frames_of(kind: str, raw: np.ndarray, n_frames: int, where: str) -> np.ndarray:
    """One utterance's raw content over its ``n_frames`` feature frames: ids ``(T,)`` int64
    or rows ``(T, P)`` float32. ``where`` names the utterance in errors."""
    if kind == "content_embedding":
        return expand_to_frames(raw, n_frames)
    if kind == "phone_posteriors":
        if not n_frames - 2 <= len(raw) <= n_frames + 2:
            raise DataDirError(f"{where} has {len(raw)} posterior frames for {n_frames} "
                               "feature frames")
        out = np.zeros((n_frames, raw.shape[1]), np.float32)
        out[:, 0] = 1.0  # silence past the posteriors' end
        out[:min(n_frames, len(raw))] = raw[:n_frames]
        return out
    return fit_to_frames(raw, n_frames, where).astype(np.int64)


def is_dense(kind: str) -> bool:
    """Whether ``kind`` gives float rows per frame rather than one id."""
    return _files(kind).dense
