"""Kaldi data directories: strict table reading, sorted atomic writing, splitting.

A data dir holds one fact per file, each a ``<key> <value...>`` table sorted in C (byte)
order: ``wav.scp``, ``video.scp``, ``utt2spk``, ``spk2utt``, ``text``, ``spk2gender``
(``m|f``), ``utt2av_offset`` (audio-video offset of a face-track in video frames, from
VoxCeleb2's per-track metadata), ``utt2iden_split`` (``train|val|test`` of VoxCeleb1's
identification split), ``utt2label`` (a downstream task's class of each utterance: an
emotion, a word, a speaker), ``frame_phones`` (one phone id per feature frame; its symbol table
``phones.txt`` is in id order: see ``xmodal.data.frame_labels``), and after dumping
``feats.scp``, ``faces.scp``, ``utt2num_frames``; ``trials`` (and further ``trials_<name>``
lists) hold ``<enroll> <test> target|nontarget`` lines. Readers reject a malformed line at
once, naming ``path:line`` and the key, so a bad file never propagates into later stages.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from xmodal.atomic import write_lines_atomic

# Field of DataDirTables -> file name; utt2spk is the master list of utterances.
UTT_TABLE_FILES = {
    "wav": "wav.scp",
    "video": "video.scp",
    "text": "text",
    "feats": "feats.scp",
    "wave": "wave.scp",
    "faces": "faces.scp",
    "utt2num_frames": "utt2num_frames",
    "utt2av_offset": "utt2av_offset",
    "utt2iden_split": "utt2iden_split",
    "frame_phones": "frame_phones",
    "utt2label": "utt2label",
}
# The symbol table the ids of frame_phones index; copied whole with the data dir.
PHONE_TABLE_FILE = "phones.txt"
TRIAL_LABELS = ("target", "nontarget")


class DataDirError(ValueError):
    """A data dir file is missing, malformed or inconsistent; the message names file and line."""


def byte_order(key: str) -> bytes:
    """Sort key giving C/byte order (what ``LC_ALL=C sort`` and Kaldi expect)."""
    return key.encode("utf-8")


def sorted_keys(keys: Iterable[str]) -> list[str]:
    """``keys`` in C/byte order."""
    return sorted(keys, key=byte_order)


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Lines of ``path`` without their newline, numbered from 1; empty or non-UTF-8 lines fail."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataDirError(f"{path}: file not found") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\n")
            except UnicodeDecodeError:
                raise DataDirError(f"{path}:{lineno}: not valid UTF-8") from None
            if line.endswith("\r"):
                raise DataDirError(f"{path}:{lineno}: carriage return at end of line "
                                   "(DOS line ending)")
            if not line.strip():
                raise DataDirError(f"{path}:{lineno}: empty line")
            yield lineno, line


def read_table(path: str | os.PathLike, require_sorted: bool = True) -> dict[str, str]:
    """Read a ``<key> <value...>`` file, checking every line as it goes.

    Keys must be non-empty, free of whitespace, unique and (unless ``require_sorted`` is
    false) sorted in C/byte order; the value (the rest of the line) must be non-empty. Returns
    the table in file order, so the n-th key sits on line n.
    """
    path = Path(path)
    table: dict[str, str] = {}
    previous = None
    for lineno, line in numbered_lines(path):
        key, _, value = line.partition(" ")
        value = value.strip()
        if not key:
            raise DataDirError(f"{path}:{lineno}: line starts with whitespace (empty key)")
        if any(c.isspace() for c in key):
            raise DataDirError(f"{path}:{lineno}: key {key!r} contains a tab or other whitespace; "
                               "separate key and value by one space")
        if not value:
            raise DataDirError(f"{path}:{lineno}: key '{key}' has no value")
        if key in table:
            raise DataDirError(f"{path}:{lineno}: key '{key}' is a duplicate")
        if require_sorted and previous is not None and byte_order(key) < byte_order(previous):
            raise DataDirError(f"{path}:{lineno}: key '{key}' is out of order after "
                               f"'{previous}' (keys must be sorted in C order: LC_ALL=C sort)")
        table[key] = value
        previous = key
    return table


def write_table(path: str | os.PathLike, table: dict[str, str]) -> None:
    """Write ``table`` as ``<key> <value>`` lines in C/byte order, atomically."""
    path = Path(path)
    for key, value in table.items():
        if not key or any(c.isspace() for c in key):
            raise DataDirError(f"{path}: cannot write key {key!r}: empty or contains whitespace")
        if not value.strip() or "\n" in value:
            raise DataDirError(f"{path}: cannot write key '{key}': value {value!r} is empty "
                               "or spans lines")
    write_lines_atomic(path, [f"{key} {table[key]}" for key in sorted_keys(table)])


def utt2spk_to_spk2utt(utt2spk: dict[str, str]) -> dict[str, str]:
    """``spk2utt`` (speaker -> space-joined utterances, C-sorted) from ``utt2spk``."""
    by_speaker: dict[str, list[str]] = {}
    for utt, spk in utt2spk.items():
        by_speaker.setdefault(spk, []).append(utt)
    return {spk: " ".join(sorted_keys(utts)) for spk, utts in by_speaker.items()}


def spk2utt_to_utt2spk(spk2utt: dict[str, str], where: str = "spk2utt") -> dict[str, str]:
    """``utt2spk`` from ``spk2utt``; an utterance listed twice is an error."""
    utt2spk: dict[str, str] = {}
    for spk, utts in spk2utt.items():
        for utt in utts.split():
            if utt in utt2spk:
                raise DataDirError(f"{where}: utterance '{utt}' is listed under both "
                                   f"'{utt2spk[utt]}' and '{spk}'")
            utt2spk[utt] = spk
    return {utt: utt2spk[utt] for utt in sorted_keys(utt2spk)}


@dataclass(frozen=True)
class Trial:
    """One verification trial: enrolment utterance, test utterance, ``target|nontarget``."""

    enroll: str
    test: str
    label: str

    def line(self) -> str:
        """The trial as a ``trials`` file line."""
        return f"{self.enroll} {self.test} {self.label}"


def read_trials(path: str | os.PathLike) -> list[Trial]:
    """Read a ``trials`` file; each line must be exactly ``<enroll> <test> target|nontarget``."""
    path = Path(path)
    trials = []
    for lineno, line in numbered_lines(path):
        fields = line.split()
        if len(fields) != 3 or fields[2] not in TRIAL_LABELS:
            raise DataDirError(f"{path}:{lineno}: expected '<enroll> <test> target|nontarget', "
                               f"got {line!r}")
        trials.append(Trial(*fields))
    return trials


def write_trials(path: str | os.PathLike, trials: list[Trial]) -> None:
    """Write trials in the order given, atomically."""
    write_lines_atomic(path, [t.line() for t in trials])


@dataclass
class DataDirTables:
    """The contents of a data dir; optional tables are ``None`` when their file is absent."""

    utt2spk: dict[str, str]
    spk2utt: dict[str, str]
    wav: dict[str, str]
    video: dict[str, str] | None = None
    text: dict[str, str] | None = None
    feats: dict[str, str] | None = None
    wave: dict[str, str] | None = None
    faces: dict[str, str] | None = None
    utt2num_frames: dict[str, str] | None = None
    utt2av_offset: dict[str, str] | None = None
    utt2iden_split: dict[str, str] | None = None
    frame_phones: dict[str, str] | None = None
    utt2label: dict[str, str] | None = None
    # The one per-speaker table besides spk2utt.
    spk2gender: dict[str, str] | None = None
    # phones.txt, symbol -> id in file order (``xmodal.data.frame_labels`` checks it).
    phones: dict[str, str] | None = None
    # File name ("trials", "trials_<name>") -> its trials.
    trials: dict[str, list[Trial]] = field(default_factory=dict)

    def utt_tables(self) -> dict[str, dict[str, str]]:
        """The present per-utterance tables other than utt2spk, by file name."""
        return {name: getattr(self, attr) for attr, name in UTT_TABLE_FILES.items()
                if getattr(self, attr) is not None}

    def subset(self, utts: Iterable[str]) -> "DataDirTables":
        """The tables restricted to ``utts``; spk2utt rebuilt, spk2gender restricted to the
        speakers left; trials kept if both keys stay; phones.txt kept whole."""
        keep = set(utts)
        unknown = keep - set(self.utt2spk)
        if unknown:
            raise DataDirError(f"cannot select utterance '{sorted_keys(unknown)[0]}': "
                               "not in utt2spk")
        utt2spk = {u: s for u, s in self.utt2spk.items() if u in keep}
        subset = dataclasses.replace(
            self, utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk),
            trials={name: [t for t in trials if t.enroll in keep and t.test in keep]
                    for name, trials in self.trials.items()})
        for attr in UTT_TABLE_FILES:
            table = getattr(self, attr)
            if table is not None:
                setattr(subset, attr, {u: v for u, v in table.items() if u in keep})
        if self.spk2gender is not None:
            subset.spk2gender = {s: g for s, g in self.spk2gender.items() if s in subset.spk2utt}
        return subset


class DataDir:
    """A Kaldi data dir on disk: the paths of its files, and loading/writing them."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    @property
    def wav_scp(self) -> Path:
        return self.root / "wav.scp"

    @property
    def video_scp(self) -> Path:
        return self.root / "video.scp"

    @property
    def utt2spk(self) -> Path:
        return self.root / "utt2spk"

    @property
    def spk2utt(self) -> Path:
        return self.root / "spk2utt"

    @property
    def text(self) -> Path:
        return self.root / "text"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    def file(self, name: str) -> Path:
        """The path of file ``name`` in this dir."""
        return self.root / name

    def trial_files(self) -> list[Path]:
        """``trials`` and any ``trials_<name>`` lists present, sorted by name."""
        return sorted(p for p in self.root.glob("trials*")
                      if p.name == "trials" or p.name.startswith("trials_"))

    def load(self) -> DataDirTables:
        """Read every present file (each checked by ``read_table``/``read_trials``)."""
        for required in (self.utt2spk, self.spk2utt, self.wav_scp):
            if not required.is_file():
                raise DataDirError(f"{required}: required file missing")
        tables = DataDirTables(utt2spk=read_table(self.utt2spk), spk2utt=read_table(self.spk2utt),
                               wav=read_table(self.wav_scp))
        for attr, name in UTT_TABLE_FILES.items():
            if attr != "wav" and self.file(name).is_file():
                setattr(tables, attr, read_table(self.file(name)))
        if self.file("spk2gender").is_file():
            tables.spk2gender = read_table(self.file("spk2gender"))
        if self.file(PHONE_TABLE_FILE).is_file():
            # Lines in id order, not symbol order.
            tables.phones = read_table(self.file(PHONE_TABLE_FILE), require_sorted=False)
        tables.trials = {p.name: read_trials(p) for p in self.trial_files()}
        return tables

    def write(self, tables: DataDirTables) -> None:
        """Write every present table into this dir (each file atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        write_table(self.utt2spk, tables.utt2spk)
        write_table(self.spk2utt, tables.spk2utt)
        for name, table in tables.utt_tables().items():
            write_table(self.file(name), table)
        if tables.spk2gender is not None:
            write_table(self.file("spk2gender"), tables.spk2gender)
        if tables.phones is not None:
            write_lines_atomic(self.file(PHONE_TABLE_FILE),
                               [f"{symbol} {i}" for symbol, i in tables.phones.items()])
        for name, trials in tables.trials.items():
            write_trials(self.file(name), trials)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary dir beside ``path``; on success it replaces ``path`` whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        if path.exists():
            # A directory cannot be renamed onto a non-empty one: move the old one aside first.
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_data_dir(path: str | os.PathLike, tables: DataDirTables) -> None:
    """Write a whole data dir atomically: a reader sees the old dir or the complete new one."""
    with atomic_dir(path) as tmp:
        DataDir(tmp).write(tables)


def split_data_dir(data_dir: str | os.PathLike, num_jobs: int) -> Path:
    """Split a data dir by utterance into ``DIR/splitN/{1..N}`` (contiguous, C-sorted chunks).

    The first ``n_utts % N`` parts get one utterance more than the rest. Each part holds the
    per-utterance tables and its own spk2utt (a speaker may span parts); trials stay whole.
    Returns ``DIR/splitN``.
    """
    data_dir = DataDir(data_dir)
    if num_jobs < 1:
        raise DataDirError(f"{data_dir}: cannot split into {num_jobs} parts")
    tables = data_dir.load()
    utts = list(tables.utt2spk)
    if len(utts) < num_jobs:
        raise DataDirError(f"{data_dir}: cannot split {len(utts)} utterances into {num_jobs} parts")
    split_root = data_dir.file(f"split{num_jobs}")
    base, extra = divmod(len(utts), num_jobs)
    with atomic_dir(split_root) as tmp:
        start = 0
        for job in range(1, num_jobs + 1):
            size = base + (1 if job <= extra else 0)
            part = tables.subset(utts[start:start + size])
            part.trials = {}
            DataDir(tmp / str(job)).write(part)
            start += size
    return split_root
