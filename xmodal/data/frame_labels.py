"""Per-frame phone labels of a data dir, from a phone CTM, and a simulated phone recogniser.

Files (ids index the phone table; frames are the feature frames, 100 per second, frame ``t``
centred on ``t * 0.01`` s):

``phones.txt``
    Kaldi symbol table, one ``<symbol> <id>`` line per phone, ids ``0..P-1`` in line order
    without gaps; id 0 is silence, ``sil`` (also every frame no phone covers, and espeak-ng's
    pauses ``_``, ``_:``, ...).
``frame_phones``
    Per-utterance table of a data dir (it travels with subsets, splits and dumps like
    ``text``): ``<utt> <id> <id> ...``, one phone id per feature frame, the format of Kaldi's
    ``ali-to-phones --per-frame=true``; keys sorted in C order. A line may be shorter than
    the utterance's features (trailing silence has no phone) or a frame or two longer
    (``fit_to_frames`` reconciles them).
``phone_post.scp`` and ``phone_post.txt`` (alternative to ``frame_phones``)
    kaldiio scp of float32 ``(T, P)`` matrices: row ``t`` is the posterior over the ids of
    ``phone_post.txt`` at frame ``t`` (``read_phone_posteriors``). The posteriors have their
    own symbol table because a recogniser's phone set need not be the aligner's
    (``xmodal.recogniser``: id 0 ``sil`` is also its CTC blank).

A phone CTM (``<utt> <channel> <start_s> <duration_s> <phone> [<confidence>]``, as the
synthetic corpus writes to ``annotations/phones.ctm``) converts to both files
(``ctm_frame_labels``). ``corrupt_labels`` turns reference labels into those of a phone
recogniser with a chosen phone error rate, and ``phone_error_rate`` measures it.
"""
from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import kaldiio
import numpy as np

from xmodal.atomic import write_lines_atomic
# numbered_lines: the CTM gets the checks (UTF-8, line endings, empty lines) of every table.
from xmodal.data.datadir import (PHONE_TABLE_FILE, DataDirError, numbered_lines, read_table,
                                 sorted_keys, write_table)

SILENCE = "sil"
# The symbol table of the columns of phone_post.scp.
POSTERIOR_TABLE_FILE = "phone_post.txt"
_INTEGER = re.compile(r"-?[0-9]+")
# Times are compared to frame centres at this precision (in frames): 0.07 s / 0.01 s is
# 7.000000000000001 in floating point, which must still start at frame 7.
_EPSILON = 1e-6
_POSTERIOR_TOLERANCE = 1e-3


def read_phone_table(path: str | os.PathLike, first: str | None = SILENCE) -> list[str]:
    """Read ``phones.txt``; returns the symbols by id (``symbols[0] == first``, silence;
    ``first=None`` for a table without one, e.g. ``units.txt``)."""
    path = Path(path)
    table = read_table(path, require_sorted=False)  # checks the lines and duplicate symbols
    if not table:
        raise DataDirError(f"{path}: no phones")
    first_line: dict[int, int] = {}
    for lineno, (symbol, value) in enumerate(table.items(), 1):
        where = f"{path}:{lineno}: symbol '{symbol}'"
        if not _INTEGER.fullmatch(value):
            raise DataDirError(f"{where}: id {value!r} is not an integer")
        phone_id = int(value)
        if phone_id in first_line:
            raise DataDirError(f"{where}: id {phone_id} is a duplicate (also on line "
                               f"{first_line[phone_id]})")
        if phone_id != lineno - 1:
            raise DataDirError(f"{where}: id {phone_id}, expected {lineno - 1} (ids must run "
                               "0, 1, 2, ... in line order, without gaps)")
        first_line[phone_id] = lineno
    symbols = list(table)
    if first is not None and symbols[0] != first:
        raise DataDirError(f"{path}:1: id 0 is '{symbols[0]}', expected '{first}' (silence)")
    return symbols


def write_phone_table(path: str | os.PathLike, symbols: list[str],
                      first: str | None = SILENCE) -> None:
    """Write ``symbols`` (index = id, ``first`` first: ``sil``) as ``phones.txt``, atomically;
    ``first=None`` for a table without silence, e.g. ``units.txt``."""
    path = Path(path)
    if not symbols or (first is not None and symbols[0] != first):
        raise DataDirError(f"{path}: cannot write a phone table whose id 0 is not '{first}'")
    if len(set(symbols)) != len(symbols):
        raise DataDirError(f"{path}: cannot write a phone table with duplicate symbols")
    for symbol in symbols:
        if not symbol or any(c.isspace() for c in symbol):
            raise DataDirError(f"{path}: cannot write symbol {symbol!r}: empty or contains "
                               "whitespace")
    write_lines_atomic(path, [f"{symbol} {i}" for i, symbol in enumerate(symbols)])


def read_frame_labels(path: str | os.PathLike, n_phones: int) -> dict[str, np.ndarray]:
    """Read a ``frame_phones`` table; every id must lie in ``0..n_phones-1``.

    Returns utterance -> int64 array of the frames' phone ids, in file (C) order."""
    path = Path(path)
    labels = {}
    for lineno, (utt, value) in enumerate(read_table(path).items(), 1):
        where = f"{path}:{lineno}: utterance '{utt}'"
        tokens = value.split()
        for frame, token in enumerate(tokens):
            if not _INTEGER.fullmatch(token):
                raise DataDirError(f"{where}: frame {frame}: phone id {token!r} is not an "
                                   "integer")
        ids = np.array([int(token) for token in tokens], dtype=np.int64)
        bad = np.flatnonzero((ids < 0) | (ids >= n_phones))
        if bad.size:
            raise DataDirError(f"{where}: frame {bad[0]}: phone id {ids[bad[0]]} is outside "
                               f"0..{n_phones - 1} (the ids of {PHONE_TABLE_FILE})")
        labels[utt] = ids
    return labels


def write_frame_labels(path: str | os.PathLike, labels: dict[str, np.ndarray]) -> None:
    """Write utterance -> per-frame phone ids as a ``frame_phones`` table (C-sorted), atomically."""
    path = Path(path)
    for utt, ids in labels.items():
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise DataDirError(f"{path}: cannot write utterance '{utt}': labels must be a 1-D "
                               f"integer array, got {ids.dtype} of shape {ids.shape}")
    write_table(path, {utt: " ".join(map(str, ids.tolist())) for utt, ids in labels.items()})


def _ctm_phones(ctm_path: Path) -> Iterator[tuple[str, float, float, str]]:
    """``(utt, start, end, phone)`` for every line of a phone CTM, each line checked."""
    for lineno, line in numbered_lines(ctm_path):
        where = f"{ctm_path}:{lineno}"
        fields = line.split()
        if len(fields) not in (5, 6):
            raise DataDirError(f"{where}: expected '<utt> <channel> <start> <duration> <phone> "
                               f"[<confidence>]', got {line!r}")
        utt, _, start, duration, phone = fields[:5]
        try:
            start_s, duration_s = float(start), float(duration)
        except ValueError:
            raise DataDirError(f"{where}: start {start!r} or duration {duration!r} is not a "
                               "number") from None
        if not (math.isfinite(start_s) and math.isfinite(duration_s)):
            raise DataDirError(f"{where}: start {start!r} or duration {duration!r} is not "
                               "finite")
        if start_s < 0 or duration_s < 0:
            raise DataDirError(f"{where}: negative start {start!r} or duration {duration!r}")
        yield utt, start_s, start_s + duration_s, phone


def _first_frame_at_or_after(seconds: float, frame_shift: float) -> int:
    """The first frame whose centre ``t * frame_shift`` is not before ``seconds``."""
    return math.ceil(seconds / frame_shift - _EPSILON)


def ctm_frame_labels(ctm_path: str | os.PathLike, keys: Iterable[str],
                     frame_shift: float = 0.01) -> tuple[list[str], dict[str, np.ndarray]]:
    """Phone table and per-frame labels of the utterances ``keys`` from a phone CTM.

    Frame ``t`` gets the phone whose interval ``[start, start + duration)`` holds
    ``t * frame_shift`` (where two overlap, the later-starting one), else silence; an
    utterance's labels end with the last frame before its last phone's end. The phone table
    is ``sil`` then every other phone of the whole CTM in C order, so all data dirs made from
    one CTM share ids; CTM phones named ``sil`` or ``_...`` (espeak-ng's pauses, e.g. the
    ``_:`` ending each utterance) are silence. Lines of utterances not in ``keys`` are checked
    but give no labels. Returns ``(symbols, utt -> int64 labels)``, the labels in C order of
    the utterances.
    """
    ctm_path = Path(ctm_path)
    if not frame_shift > 0:
        raise DataDirError(f"{ctm_path}: frame shift {frame_shift} is not positive")
    wanted = set(keys)
    spans: dict[str, list[tuple[float, float, str]]] = {utt: [] for utt in wanted}
    inventory = set()
    for utt, start, end, phone in _ctm_phones(ctm_path):
        if phone.startswith("_"):
            phone = SILENCE
        inventory.add(phone)
        if utt in wanted:
            spans[utt].append((start, end, phone))
    missing = sorted_keys(utt for utt, phones in spans.items() if not phones)
    if missing:
        raise DataDirError(f"{ctm_path}: utterance '{missing[0]}' has no phones in the CTM"
                           + (f" ({len(missing) - 1} more utterances lack phones)"
                              if len(missing) > 1 else ""))
    symbols = [SILENCE] + sorted_keys(inventory - {SILENCE})
    phone_ids = {symbol: i for i, symbol in enumerate(symbols)}
    labels = {}
    for utt in sorted_keys(wanted):
        phones = sorted(spans[utt], key=lambda span: span[0])
        ids = np.zeros(_first_frame_at_or_after(max(e for _, e, _ in phones), frame_shift),
                       dtype=np.int64)
        for start, end, phone in phones:
            ids[_first_frame_at_or_after(start, frame_shift):
                _first_frame_at_or_after(end, frame_shift)] = phone_ids[phone]
        labels[utt] = ids
    return symbols, labels


def fit_to_frames(labels: np.ndarray, n_frames: int, where: str,
                  tolerance: int = 2) -> np.ndarray:
    """``labels`` cut or silence-padded to ``n_frames``, the rows of the utterance's feature
    matrix (in a dump dir 4 x ``utt2num_frames``, which counts video frames).

    Labels may be short (trailing silence has no phone) or up to ``tolerance`` frames long
    (the feature extractor's edge frames); more is a mismatch, reported naming ``where``.
    """
    excess = len(labels) - n_frames
    if excess > tolerance:
        raise DataDirError(f"{where}: {len(labels)} frame labels for {n_frames} feature frames "
                           f"({excess} too many; at most {tolerance} are cut)")
    if excess >= 0:
        return labels[:n_frames]
    return np.concatenate([labels, np.zeros(-excess, dtype=labels.dtype)])


def _segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, end, id)`` of each run of one id, in order."""
    if labels.size == 0:
        return []
    starts = np.flatnonzero(np.diff(labels)) + 1
    bounds = [0, *starts.tolist(), labels.size]
    return [(s, e, int(labels[s])) for s, e in zip(bounds, bounds[1:])]


def _phone_sequence(labels: np.ndarray) -> list[int]:
    """The non-silence segments of per-frame ``labels``: their ids, in order."""
    return [phone for _, _, phone in _segments(labels) if phone != 0]


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Levenshtein distance (unit-cost substitutions, insertions, deletions); also the
    content probe's unit error rate."""
    row = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        diagonal, row[0] = row[0], i
        for j, r in enumerate(ref, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (h != r))
    return row[-1]


def phone_error_rate(ref_frames: np.ndarray, hyp_frames: np.ndarray) -> float:
    """Edit distance between the non-silence segment sequences of two per-frame labellings,
    over the reference's number of segments."""
    ref = _phone_sequence(ref_frames)
    if not ref:
        raise ValueError("phone error rate is undefined: the reference has no phones")
    return edit_distance(_phone_sequence(hyp_frames), ref) / len(ref)


def _substitute(rng: np.random.Generator, n_phones: int, avoid: set[int],
                prefer_not: set[int]) -> int:
    """A non-silence phone outside ``avoid``, and outside ``prefer_not`` too if any is left."""
    allowed = [p for p in range(1, n_phones) if p not in avoid]
    preferred = [p for p in allowed if p not in prefer_not]
    pool = preferred or allowed
    if not pool:
        raise ValueError(f"corrupt_labels: {n_phones - 1} non-silence phones are too few to "
                         "substitute one (3 are needed)")
    return pool[int(rng.integers(len(pool)))]


def corrupt_labels(labels: np.ndarray, n_phones: int, error_rate: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Per-frame labels of a phone recogniser with phone error rate ``error_rate``.

    Each non-silence segment (run of one id) of ``labels``, independently, is substituted by
    another phone with probability ``error_rate / 2``, deleted (its frames take the previous
    segment's label) with ``error_rate / 4``, or gets an insertion (its second half another
    phone) with ``error_rate / 4``; silence frames never change. Every event costs one edit
    (the comments say how), so the expected ``phone_error_rate`` of the result is
    ``error_rate``, up to rare realignments (a deleted phone equal to a later kept one lets an
    insertion after it pair with the deletion), which cost about 0.1% of the rate at
    ``error_rate=1`` and less at lower rates. Same length as ``labels``; deterministic given
    ``rng``. ``n_phones`` is the size of the phone table the new phones are drawn from.
    """
    if not 0 <= error_rate <= 1:
        raise ValueError(f"corrupt_labels: error rate {error_rate} is not in [0, 1]")
    segments = _segments(labels)
    # New phones come from outside the utterance's own phones where possible: a phone the
    # reference has could realign with it and make two events cost one edit.
    present = {phone for _, _, phone in segments}
    out = labels.copy()
    # Whether an insertion came after the last segment left unchanged (past silence and other
    # events only): a deletion now would pair with it into one substitution, one edit for two.
    insertion_open = False
    for k, (start, end, phone) in enumerate(segments):
        draw = rng.random()
        if phone == 0:
            continue
        if draw >= error_rate:
            insertion_open = False
            continue
        event = ("insertion" if draw < error_rate / 4 else
                 "deletion" if draw < error_rate / 2 else "substitution")
        previous = int(out[start - 1]) if start > 0 else 0
        following = segments[k + 1][2] if k + 1 < len(segments) else 0
        # A substitution costs the one edit of an insertion into a one-frame segment (no
        # second half) and of a deletion that would pair as above or whose frames would join
        # equal neighbours into one run (deleting a second phone).
        if event == "insertion" and end - start < 2:
            event = "substitution"
        if event == "deletion" and (insertion_open or previous == following != 0):
            event = "substitution"
        if event == "insertion":
            # The first half still matches the reference.
            out[(start + end) // 2:end] = _substitute(rng, n_phones, {0, phone, following},
                                                      present)
            insertion_open = True
        elif event == "deletion":
            out[start:end] = previous
        else:
            # Unlike both neighbours, so no runs merge.
            out[start:end] = _substitute(rng, n_phones, {0, phone, previous, following},
                                         present)
    return out


def recogniser_labels(labels: np.ndarray, n_phones: int, error_rate: float, seed: int,
                      key: str) -> np.ndarray:
    """``labels`` of utterance ``key`` as a simulated recogniser with ``error_rate`` outputs
    them: ``corrupt_labels`` with a generator seeded by (``seed``, the key's CRC-32), so an
    utterance gets the same errors in every epoch, in training and in the probes, whatever
    the other utterances of its set."""
    return corrupt_labels(labels, n_phones, error_rate,
                          np.random.default_rng([seed, 7, zlib.crc32(key.encode())]))


class PhonePosteriors(Mapping):
    """Utterance -> float32 ``(T, P)`` phone posteriors of a ``phone_post.scp``, read on access;
    each matrix is checked (2-D, ``n_phones`` wide if given, rows summing to 1) when read."""

    def __init__(self, scp_path: str | os.PathLike, n_phones: int | None = None):
        self.scp_path = Path(scp_path)
        self.n_phones = n_phones
        if not self.scp_path.is_file():
            raise DataDirError(f"{self.scp_path}: file not found")
        try:
            self._loader = kaldiio.load_scp(str(self.scp_path))
        except ValueError as err:  # a line without '<utt> <ark>:<offset>'
            raise DataDirError(f"{self.scp_path}: {err}") from None

    def __getitem__(self, utt: str) -> np.ndarray:
        where = f"{self.scp_path}: utterance '{utt}'"
        try:
            matrix = np.asarray(self._loader[utt], dtype=np.float32)
        except KeyError:
            raise KeyError(utt) from None
        except Exception as err:  # kaldiio: missing ark, bad offset, unknown data type
            raise DataDirError(f"{where}: cannot read the matrix: {err}") from None
        if matrix.ndim != 2:
            raise DataDirError(f"{where}: expected a (frames, phones) matrix, got shape "
                               f"{matrix.shape}")
        if self.n_phones is not None and matrix.shape[1] != self.n_phones:
            raise DataDirError(f"{where}: posteriors over {matrix.shape[1]} phones, "
                               f"{POSTERIOR_TABLE_FILE} lists {self.n_phones}")
        sums = matrix.sum(axis=1, dtype=np.float64)
        bad = np.flatnonzero(~(np.abs(sums - 1) <= _POSTERIOR_TOLERANCE))  # NaN is bad too
        if bad.size:
            raise DataDirError(f"{where}: frame {bad[0]}: posteriors sum to {sums[bad[0]]:.6f}, "
                               f"not 1 (within {_POSTERIOR_TOLERANCE})")
        return matrix

    def __contains__(self, utt: object) -> bool:
        # Mapping's default would load and check the matrix to find out.
        return utt in self._loader

    def __iter__(self) -> Iterator[str]:
        return iter(self._loader)

    def __len__(self) -> int:
        return len(self._loader)


def read_phone_posteriors(scp_path: str | os.PathLike,
                          n_phones: int | None = None) -> PhonePosteriors:
    """Open a ``phone_post.scp`` lazily: a mapping utterance -> float32 ``(T, P)`` posteriors,
    each matrix read and checked (``n_phones`` columns if given, rows sum to 1 within 1e-3)
    when accessed."""
    return PhonePosteriors(scp_path, n_phones)
