"""Readers of the official VoxCeleb metadata and list files, every line checked.

- ``vox1_meta.csv``: tab-separated, a header row naming the columns ``VoxCeleb1 ID``,
  ``VGGFace1 ID``, ``Gender``, ``Nationality``, ``Set``;
- ``vox2_meta.csv``: comma-separated with space-padded fields, header
  ``VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set ``;
- ``iden_split.txt``: ``<1|2|3> idXXXXX/<ytid>/<NNNNN>.wav`` (identification train/val/test);
- trial lists: ``<1|0> <enrol>.wav <test>.wav`` (1: same speaker) — ``veri_test2.txt`` (O,
  cleaned), ``list_test_all2.txt`` (E), ``list_test_hard2.txt`` (H), ``veri_test.txt`` (O as
  first published);
- a VoxCeleb2 face-track's ``txt``: ``Name : value`` header lines (``Identity``, ``Reference``,
  ``Offset``, ``FV Conf``, ...), a blank line, then a ``FRAME X Y W H`` table.

Each reader raises ``DataDirError`` naming ``file:line`` at the first bad line. Meta fields are
stripped and a byte-order mark is ignored: copies of these files carry both.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xmodal.data.datadir import DataDirError, Trial
from xmodal.data.validate import GENDERS, IDEN_SPLIT_NAMES

SUBSETS = ("dev", "test")
# Set name -> official file, in the order the sets are usually reported.
OFFICIAL_TRIALS = {"O": "veri_test2.txt", "E": "list_test_all2.txt", "H": "list_test_hard2.txt",
                   "O_orig": "veri_test.txt"}
_SEPARATOR_NAMES = {"\t": "tab", ",": "comma"}


@dataclass(frozen=True)
class SpeakerMeta:
    """One speaker's row of a meta file (``nationality`` only in ``vox1_meta.csv``)."""

    subset: str
    gender: str
    nationality: str | None = None


def _text_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file (BOM dropped); a decoding error names its line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataDirError(f"{path}: file not found") from None
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        lineno = data[:err.start].count(b"\n") + 1
        raise DataDirError(f"{path}:{lineno}: not valid UTF-8") from None


def _read_meta(path: str | os.PathLike, separator: str, id_column: str,
               nationality: bool) -> dict[str, SpeakerMeta]:
    lines = _text_lines(path)
    sep_name = _SEPARATOR_NAMES[separator]
    required = [id_column, "Gender", "Set"] + (["Nationality"] if nationality else [])
    header = [name.strip() for name in lines[0].split(separator)] if lines else []
    if not all(name in header for name in required):
        raise DataDirError(f"{path}:1: expected a {sep_name}-separated header with columns "
                           f"{', '.join(repr(n) for n in required)}, got "
                           f"{lines[0] if lines else ''!r}")
    column = {name: header.index(name) for name in required}
    speakers: dict[str, SpeakerMeta] = {}
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(separator)]
        if len(fields) != len(header):
            raise DataDirError(f"{path}:{lineno}: expected {len(header)} {sep_name}-separated "
                               f"fields, got {len(fields)}: {line!r}")
        spk, gender, subset = (fields[column[n]] for n in (id_column, "Gender", "Set"))
        where = f"{path}:{lineno}: speaker '{spk}'"
        if not spk or len(spk.split()) != 1:
            raise DataDirError(f"{path}:{lineno}: {id_column} {spk!r} is empty or contains "
                               "whitespace")
        if gender not in GENDERS:
            raise DataDirError(f"{where}: Gender {gender!r} is not m or f")
        if subset not in SUBSETS:
            raise DataDirError(f"{where}: Set {subset!r} is not dev or test")
        if spk in speakers:
            raise DataDirError(f"{where}: a second row for this speaker")
        speakers[spk] = SpeakerMeta(subset, gender,
                                    fields[column["Nationality"]] if nationality else None)
    return speakers


def read_vox1_meta(path: str | os.PathLike) -> dict[str, SpeakerMeta]:
    """Speaker id -> set, gender and nationality, from ``vox1_meta.csv``."""
    return _read_meta(path, "\t", "VoxCeleb1 ID", nationality=True)


def read_vox2_meta(path: str | os.PathLike) -> dict[str, SpeakerMeta]:
    """Speaker id -> set and gender, from ``vox2_meta.csv``."""
    return _read_meta(path, ",", "VoxCeleb2 ID", nationality=False)


def _wav_key(path: Path, lineno: int, field: str) -> str:
    """``idXXXXX/<ytid>/<NNNNN>`` from a list's ``idXXXXX/<ytid>/<NNNNN>.wav`` field."""
    key = field[:-len(".wav")]
    if not field.endswith(".wav") or len(key.split("/")) != 3 or not all(key.split("/")):
        raise DataDirError(f"{path}:{lineno}: {field!r} is not <spk>/<ytid>/<NNNNN>.wav")
    return key


def read_iden_split(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """``(line, utterance, train|val|test)`` for every line of ``iden_split.txt``."""
    path = Path(path)
    entries, seen = [], set()
    for lineno, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] not in ("1", "2", "3"):
            raise DataDirError(f"{path}:{lineno}: expected '<1|2|3> <spk>/<ytid>/<NNNNN>.wav', "
                               f"got {line!r}")
        utt = _wav_key(path, lineno, fields[1])
        if utt in seen:
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}' is listed twice")
        seen.add(utt)
        entries.append((lineno, utt, IDEN_SPLIT_NAMES[int(fields[0]) - 1]))
    return entries


def read_official_trials(path: str | os.PathLike) -> list[tuple[int, Trial]]:
    """``(line, trial)`` for every line of an official trial list (1 target, 0 nontarget)."""
    path = Path(path)
    trials = []
    for lineno, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or fields[0] not in ("0", "1"):
            raise DataDirError(f"{path}:{lineno}: expected '<1|0> <spk>/<ytid>/<NNNNN>.wav "
                               f"<spk>/<ytid>/<NNNNN>.wav', got {line!r}")
        enroll, test = (_wav_key(path, lineno, field) for field in fields[1:])
        trials.append((lineno, Trial(enroll, test, "target" if fields[0] == "1" else "nontarget")))
    if not trials:
        raise DataDirError(f"{path}: no trials")
    return trials


def read_track_offset(path: str | os.PathLike, speaker: str) -> int:
    """The audio-video offset (video frames) in a VoxCeleb2 face-track's ``txt`` file.

    Only the header is read (the frame table can be long). Its ``Identity`` line, when there
    is one, must name ``speaker``: a file filed under the wrong speaker is a mix-up, not data.
    """
    path = Path(path)
    header: dict[str, tuple[int, str]] = {}
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise DataDirError(f"{path}:{lineno}: not valid UTF-8") from None
                if not line.strip() or line.startswith("FRAME"):
                    break
                name, colon, value = line.partition(":")
                if not colon:
                    raise DataDirError(f"{path}:{lineno}: expected a 'Name : value' header "
                                       f"line, got {line.rstrip()!r}")
                header[name.strip()] = (lineno, value.strip())
    except FileNotFoundError:
        raise DataDirError(f"{path}: file not found") from None
    if "Identity" in header and header["Identity"][1] != speaker:
        lineno, identity = header["Identity"]
        raise DataDirError(f"{path}:{lineno}: Identity '{identity}' differs from the speaker "
                           f"'{speaker}' the file is filed under")
    if "Offset" not in header:
        raise DataDirError(f"{path}: no 'Offset : <frames>' line in the header")
    lineno, offset = header["Offset"]
    try:
        return int(offset)
    except ValueError:
        raise DataDirError(f"{path}:{lineno}: Offset {offset!r} is not an integer") from None
