"""Speaker and utterance subsets of a data dir (e.g. the paper's Table 4 label budgets: 100
speakers / 1,228 utterances, 250 / 6,019, 500 / 12,146, all).

Speakers are chosen by a seeded permutation of the C-sorted speaker list and a subset of N
speakers takes the first N of it. With a budget of M utterances, the speakers' quotas are
``M // N`` each, plus one for the first ``M % N`` speakers of that permutation order; each
speaker's utterances are taken from the front of one seeded permutation of its C-sorted
utterances (seeded by seed and speaker name, so it does not depend on the other speakers).

*Nested*: with one seed, a larger budget holds every speaker of a smaller one, and each such
speaker's utterances of the smaller budget whenever its quota is no smaller, as in the
paper's budgets (about 12, then 24 per speaker). A budget whose per-speaker quota shrinks
(more speakers, fewer utterances each) is not nested in the utterances, only in the speakers.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xmodal.data.datadir import DataDir, DataDirError, atomic_dir, sorted_keys
from xmodal.data.face_store import FORMAT_FILE, read_face_format, write_face_format


def permuted_speakers(speakers: list[str], num_spk: int, seed: int) -> list[str]:
    """The first ``num_spk`` (0: all) of a seeded permutation of the C-sorted ``speakers``."""
    if num_spk < 0:
        raise DataDirError(f"cannot choose {num_spk} speakers: the number must be >= 0")
    if num_spk > len(speakers):
        raise DataDirError(f"cannot choose {num_spk} speakers: the data dir has only "
                           f"{len(speakers)}")
    order = sorted_keys(speakers)
    permutation = np.random.default_rng(seed).permutation(len(order))
    return [order[i] for i in permutation[:num_spk or len(order)]]


def choose_speakers(speakers: list[str], num_spk: int, seed: int) -> list[str]:
    """``num_spk`` speakers (0: all) of ``speakers``, C-sorted; nested for growing ``num_spk``."""
    return sorted_keys(permuted_speakers(speakers, num_spk, seed))


def choose_utterances(spk2utt: dict[str, str], speakers: list[str], num_utt: int, seed: int
                      ) -> list[str]:
    """``num_utt`` utterances (0: all) of ``speakers``, spread over them as the module says.

    ``speakers`` in their permutation order (``choose_speakers``' before sorting)."""
    if num_utt < 0:
        raise DataDirError(f"cannot choose {num_utt} utterances: the number must be >= 0")
    utts = {spk: sorted_keys(spk2utt[spk].split()) for spk in speakers}
    if num_utt == 0:
        return [u for spk in speakers for u in utts[spk]]
    available = sum(len(u) for u in utts.values())
    if num_utt > available:
        raise DataDirError(f"cannot choose {num_utt} utterances: the {len(speakers)} speakers "
                           f"have only {available}")
    chosen = []
    for i, spk in enumerate(speakers):
        quota = num_utt // len(speakers) + (i < num_utt % len(speakers))
        if quota > len(utts[spk]):
            raise DataDirError(f"cannot choose {num_utt} utterances of {len(speakers)} "
                               f"speakers: speaker {spk} has {len(utts[spk])}, fewer than its "
                               f"quota of {quota}")
        rng = np.random.default_rng([seed, *spk.encode()])
        chosen += [utts[spk][j] for j in rng.permutation(len(utts[spk]))[:quota]]
    return chosen


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, num_spk: int,
                    seed: int = 0, num_utt: int = 0) -> list[str]:
    """Write to ``dest`` ``num_utt`` utterances (0: all) of ``num_spk`` speakers of ``src``
    (0: all).

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
        order = permuted_speakers(list(tables.spk2utt), num_spk, seed)
        utts = choose_utterances(tables.spk2utt, order, num_utt, seed)
    except DataDirError as err:
        raise DataDirError(f"{src}: {err}") from None
    subset = tables.subset(utts)
    speakers = sorted_keys({tables.utt2spk[u] for u in utts})
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


def hold_out_speakers(src: str | os.PathLike, rest: str | os.PathLike,
                      held_out: str | os.PathLike, num_spk: int, seed: int = 0) -> list[str]:
    """Split ``src`` by speaker: ``num_spk`` speakers (the first of the seeded permutation,
    as ``choose_speakers``) with all their utterances to ``held_out``, the others to ``rest``.

    For a set kept apart from everything that trains (e.g. the calibration speakers of
    spk_dev). Both dirs are replaced whole, atomically; trial lists are not copied. Returns
    the held-out speakers.
    """
    for dest in (rest, held_out):
        if Path(src).resolve() == Path(dest).resolve():
            raise DataDirError(f"{dest}: the split cannot replace its source data dir")
    tables = DataDir(src).load()
    if num_spk < 1 or num_spk >= len(tables.spk2utt):
        raise DataDirError(f"{src}: cannot hold out {num_spk} of its {len(tables.spk2utt)} "
                           "speakers: need at least one on each side")
    held = set(permuted_speakers(list(tables.spk2utt), num_spk, seed))
    for dest, wanted in ((held_out, True), (rest, False)):
        subset = tables.subset(u for u, s in tables.utt2spk.items() if (s in held) == wanted)
        subset.trials = {}
        with atomic_dir(dest) as tmp:
            DataDir(tmp).write(subset)
    return sorted_keys(held)
