"""Speaker subsets of a data dir (e.g. the 100 / 250 / 500 / all speaker fine-tuning sets).

Speakers are chosen by a seeded permutation of the C-sorted speaker list and a subset of N
speakers takes the first N of it, so subsets of increasing N with one seed are nested.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xmodal.data.datadir import DataDir, DataDirError, atomic_dir, sorted_keys
from xmodal.data.face_store import FORMAT_FILE, read_face_format, write_face_format


def choose_speakers(speakers: list[str], num_spk: int, seed: int) -> list[str]:
    """``num_spk`` speakers (0: all) of ``speakers``, C-sorted; nested for growing ``num_spk``."""
    if num_spk < 0:
        raise DataDirError(f"cannot choose {num_spk} speakers: the number must be >= 0")
    if num_spk > len(speakers):
        raise DataDirError(f"cannot choose {num_spk} speakers: the data dir has only "
                           f"{len(speakers)}")
    order = sorted_keys(speakers)
    if num_spk == 0:
        return order
    permutation = np.random.default_rng(seed).permutation(len(order))
    return sorted_keys(order[i] for i in permutation[:num_spk])


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, num_spk: int,
                    seed: int = 0) -> list[str]:
    """Write to ``dest`` the utterances of ``num_spk`` speakers of ``src`` (0: all).

    Every per-utterance table present (wav.scp, utt2spk, text, video.scp, utt2num_frames,
    feats.scp, faces.scp) is restricted to those speakers' utterances and spk2utt is rebuilt,
    all sorted; a dump dir's ``face_format`` goes with its faces.scp. Trial lists are not
    copied: a speaker subset is a training set. ``dest`` is replaced whole, atomically.
    Returns the chosen speakers.
    """
    if Path(src).resolve() == Path(dest).resolve():
        raise DataDirError(f"{dest}: the subset cannot replace its source data dir")
    tables = DataDir(src).load()
    try:
        speakers = choose_speakers(list(tables.spk2utt), num_spk, seed)
    except DataDirError as err:
        raise DataDirError(f"{src}: {err}") from None
    subset = tables.subset(utt for spk in speakers for utt in tables.spk2utt[spk].split())
    subset.trials = {}
    with atomic_dir(dest) as tmp:
        DataDir(tmp).write(subset)
        if subset.faces is not None:
            try:
                face_format = read_face_format(src)
            except ValueError as err:
                raise DataDirError(str(err)) from None
            write_face_format(tmp / FORMAT_FILE, face_format)
    return speakers
