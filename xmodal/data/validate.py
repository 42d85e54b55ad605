"""Checking a Kaldi data dir before any stage reads it.

The first problem found raises ``DataDirError`` naming the file and line: format (sorted,
unique, whitespace-free keys), equal utterance sets across the per-utterance tables,
spk2utt/utt2spk agreement, the speaker-prefix convention, spk2gender covering exactly the
speakers, values of the tables with a fixed form (frame counts, offsets, genders, splits), media
files present and non-empty, and trials that are well formed and name known utterances.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from xmodal.data.datadir import DataDir, DataDirError, DataDirTables, byte_order, sorted_keys

MEDIA_SUFFIXES = (".wav", ".m4a", ".mp4", ".flac")
GENDERS = ("m", "f")
IDEN_SPLIT_NAMES = ("train", "val", "test")


def line_numbers(table: dict[str, str]) -> dict[str, int]:
    """Key -> line number, for a table as ``read_table`` returns it (key n on line n)."""
    return {key: lineno for lineno, key in enumerate(table, 1)}


def media_paths(value: str) -> list[str]:
    """The media files a wav.scp/video.scp value reads.

    A plain value is one path. A Kaldi pipe (``cmd ... |``) reads the arguments of its command
    that name media files (by suffix); other arguments are options, not files.
    """
    if not value.endswith("|"):
        return [value]
    return [token for token in shlex.split(value[:-1])
            if token.lower().endswith(MEDIA_SUFFIXES)]


def _check_same_utts(data_dir: DataDir, tables: DataDirTables) -> None:
    reference = tables.utt2spk
    reference_lines = line_numbers(reference)
    for name, table in tables.utt_tables().items():
        extra = [u for u in table if u not in reference]
        if extra:
            line = line_numbers(table)[extra[0]]
            raise DataDirError(f"{data_dir.file(name)}:{line}: utterance '{extra[0]}' is not in "
                               f"{data_dir.utt2spk}")
        missing = [u for u in reference if u not in table]
        if missing:
            raise DataDirError(f"{data_dir.utt2spk}:{reference_lines[missing[0]]}: utterance "
                               f"'{missing[0]}' has no entry in {data_dir.file(name)}")


def _check_speakers(data_dir: DataDir, tables: DataDirTables) -> None:
    for lineno, (utt, spk) in enumerate(tables.utt2spk.items(), 1):
        # An utterance id with a space splits into a shorter id and a "speaker" with a space;
        # caught here, the message points at the line rather than at a speaker mismatch.
        if len(spk.split()) != 1:
            raise DataDirError(f"{data_dir.utt2spk}:{lineno}: expected '<utterance> <speaker>', "
                               f"got '{utt} {spk}' (utterance and speaker ids cannot contain "
                               "whitespace)")
    listed: set[str] = set()
    for lineno, (spk, value) in enumerate(tables.spk2utt.items(), 1):
        where = f"{data_dir.spk2utt}:{lineno}: speaker '{spk}'"
        utts = value.split()
        for previous, utt in zip(utts, utts[1:]):
            if byte_order(utt) <= byte_order(previous):
                raise DataDirError(f"{where}: utterance '{utt}' is a duplicate or out of C order "
                                   f"after '{previous}'")
        for utt in utts:
            owner = tables.utt2spk.get(utt)
            if owner is None:
                raise DataDirError(f"{where}: lists '{utt}', which is not in {data_dir.utt2spk}")
            if owner != spk:
                raise DataDirError(f"{where}: lists '{utt}', which {data_dir.utt2spk} gives to "
                                   f"speaker '{owner}'")
        listed.update(utts)
    for lineno, (utt, spk) in enumerate(tables.utt2spk.items(), 1):
        where = f"{data_dir.utt2spk}:{lineno}: utterance '{utt}'"
        if utt not in listed:
            raise DataDirError(f"{where}: not listed in {data_dir.spk2utt} (speaker '{spk}')")
        if not utt.startswith(spk):
            raise DataDirError(f"{where}: does not start with its speaker id '{spk}' (Kaldi "
                               "convention: the speaker id is a prefix of the utterance id)")


def _check_spk2gender(data_dir: DataDir, spk2gender: dict[str, str],
                      spk2utt: dict[str, str]) -> None:
    path = data_dir.file("spk2gender")
    for lineno, (spk, gender) in enumerate(spk2gender.items(), 1):
        if spk not in spk2utt:
            raise DataDirError(f"{path}:{lineno}: speaker '{spk}' is not in {data_dir.spk2utt}")
        if gender not in GENDERS:
            raise DataDirError(f"{path}:{lineno}: speaker '{spk}': gender {gender!r} is not "
                               "m or f")
    for lineno, spk in enumerate(spk2utt, 1):
        if spk not in spk2gender:
            raise DataDirError(f"{data_dir.spk2utt}:{lineno}: speaker '{spk}' has no entry in "
                               f"{path}")


def _check_values(path: Path, table: dict[str, str], pattern: str, expected: str) -> None:
    """Every value of ``table`` (read from ``path``) must match ``pattern`` in full."""
    for lineno, (utt, value) in enumerate(table.items(), 1):
        if not re.fullmatch(pattern, value):
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}': {value!r} is not {expected}")


def _check_media(scp: Path, table: dict[str, str]) -> None:
    for lineno, (utt, value) in enumerate(table.items(), 1):
        where = f"{scp}:{lineno}: utterance '{utt}'"
        try:
            paths = media_paths(value)
        except ValueError as err:  # shlex: unbalanced quotes
            raise DataDirError(f"{where}: cannot parse the pipe command: {err}") from None
        for path in paths:
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                raise DataDirError(f"{where}: media file '{path}' does not exist") from None
            if size == 0:
                raise DataDirError(f"{where}: media file '{path}' is empty")


def _check_utt2num_frames(path: Path, table: dict[str, str]) -> None:
    for lineno, (utt, value) in enumerate(table.items(), 1):
        if not value.isdigit() or int(value) == 0:
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}': frame count {value!r} is not "
                               "a positive integer")


def _check_trials(data_dir: DataDir, tables: DataDirTables) -> list[str]:
    summary = []
    for name, trials in tables.trials.items():
        for lineno, trial in enumerate(trials, 1):
            for role, utt in (("enrolment", trial.enroll), ("test", trial.test)):
                if utt not in tables.wav:
                    raise DataDirError(f"{data_dir.file(name)}:{lineno}: {role} utterance '{utt}' "
                                       f"is not in {data_dir.wav_scp}")
        n_target = sum(t.label == "target" for t in trials)
        summary.append(f"{name}: {len(trials)} trials ({n_target} target, "
                       f"{len(trials) - n_target} nontarget)")
    return summary


def validate_data_dir(path: str | os.PathLike, check_files: bool = True,
                      need_video: bool = False) -> list[str]:
    """Check the data dir at ``path``; raise ``DataDirError`` on the first problem.

    ``check_files`` also checks that every media file named in wav.scp/video.scp exists and is
    non-empty; ``need_video`` makes video.scp required. Returns a short summary (one line per
    fact) for the caller to print.
    """
    data_dir = DataDir(path)
    if not data_dir.root.is_dir():
        raise DataDirError(f"{data_dir}: not a directory")
    if need_video and not data_dir.video_scp.is_file():
        raise DataDirError(f"{data_dir.video_scp}: required file missing")
    tables = data_dir.load()
    if not tables.utt2spk:
        raise DataDirError(f"{data_dir.utt2spk}: no utterances")
    _check_same_utts(data_dir, tables)
    _check_speakers(data_dir, tables)
    if tables.utt2num_frames is not None:
        _check_utt2num_frames(data_dir.file("utt2num_frames"), tables.utt2num_frames)
    if tables.utt2av_offset is not None:
        _check_values(data_dir.file("utt2av_offset"), tables.utt2av_offset, r"-?[0-9]+",
                      "an integer (audio-video offset in video frames)")
    if tables.utt2iden_split is not None:
        _check_values(data_dir.file("utt2iden_split"), tables.utt2iden_split,
                      "|".join(IDEN_SPLIT_NAMES), "train, val or test")
    if tables.spk2gender is not None:
        _check_spk2gender(data_dir, tables.spk2gender, tables.spk2utt)
    if check_files:
        _check_media(data_dir.wav_scp, tables.wav)
        if tables.video is not None:
            _check_media(data_dir.video_scp, tables.video)
    files = ["utt2spk", "spk2utt", *tables.utt_tables()]
    if tables.spk2gender is not None:
        files.append("spk2gender")
    summary = [f"{data_dir}: {len(tables.utt2spk)} utterances, {len(tables.spk2utt)} speakers",
               "files: " + " ".join(sorted_keys(files))]
    return summary + _check_trials(data_dir, tables)
