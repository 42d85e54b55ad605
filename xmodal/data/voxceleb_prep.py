"""Kaldi data dirs from the official VoxCeleb1/VoxCeleb2 download layouts.

The synthetic corpus is written in the same layouts, so one preparation serves both.
Utterance keys keep the official form ``idXXXXX/<ytid>/<NNNNN>``; the speaker id is its first
component. Each output dir is written whole into a temporary dir and renamed into place.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

from xmodal.data.datadir import (DataDir, DataDirError, DataDirTables, Trial, atomic_dir,
                                 read_table, sorted_keys, utt2spk_to_spk2utt, write_data_dir)

VOX2_SUBSETS = ("dev", "test")
AUDIO_FORMS = ("path", "pipe")
# How many offending names one error message lists.
_SHOW = 5


def _scan(media_dir: Path, suffix: str) -> dict[str, Path]:
    """``<spk>/<ytid>/<NNNNN>`` -> path for every ``media_dir/<spk>/<ytid>/<NNNNN><suffix>``."""
    if not media_dir.is_dir():
        raise DataDirError(f"{media_dir}: not found (expected the official layout "
                           f"{media_dir.name}/<spk>/<ytid>/<NNNNN>{suffix})")
    found = {}
    for path in media_dir.glob(f"*/*/*{suffix}"):
        found["/".join(path.relative_to(media_dir).with_suffix("").parts)] = path
    if not found:
        raise DataDirError(f"{media_dir}: no <spk>/<ytid>/<NNNNN>{suffix} files")
    return found


def _unpaired(have: dict[str, Path], lack: dict[str, Path], what: str) -> None:
    orphans = sorted_keys(set(have) - set(lack))
    if orphans:
        names = ", ".join(str(have[k]) for k in orphans[:_SHOW])
        raise DataDirError(f"{len(orphans)} file(s) without their {what}: {names}"
                           + (" ..." if len(orphans) > _SHOW else ""))


def ffmpeg_pipe(media: Path) -> str:
    """A Kaldi wav.scp pipe decoding ``media`` to 16 kHz mono WAV on stdout."""
    return f"ffmpeg -nostdin -v error -i {shlex.quote(str(media))} -f wav -ac 1 -ar 16000 - |"


def _speaker_tables(utts: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    utt2spk = {utt: utt.split("/")[0] for utt in sorted_keys(utts)}
    return utt2spk, utt2spk_to_spk2utt(utt2spk)


def prepare_vox2(root: str | os.PathLike, subset: str, out_dir: str | os.PathLike,
                 audio: str = "path", text_file: str | os.PathLike | None = None) -> int:
    """Data dir for VoxCeleb2 ``subset`` from ``root/{subset}/{aac,mp4}``; returns #utterances.

    wav.scp holds the m4a path (``audio='path'``) or an ffmpeg pipe (``'pipe'``, readable by
    Kaldi tools); video.scp the mp4. ``text_file`` (``<utt> words...``, may cover other sets
    too) adds ``text``; it must have a transcript for every utterance of the subset.
    """
    if subset not in VOX2_SUBSETS:
        raise DataDirError(f"unknown VoxCeleb2 subset '{subset}' (expected one of {VOX2_SUBSETS})")
    if audio not in AUDIO_FORMS:
        raise DataDirError(f"unknown audio form '{audio}' (expected one of {AUDIO_FORMS})")
    base = Path(root) / subset
    m4a = _scan(base / "aac", ".m4a")
    mp4 = _scan(base / "mp4", ".mp4")
    _unpaired(m4a, mp4, "mp4 video")
    _unpaired(mp4, m4a, "m4a audio")
    utt2spk, spk2utt = _speaker_tables(list(m4a))
    tables = DataDirTables(
        utt2spk=utt2spk, spk2utt=spk2utt,
        wav={u: str(m4a[u]) if audio == "path" else ffmpeg_pipe(m4a[u]) for u in utt2spk},
        video={u: str(mp4[u]) for u in utt2spk})
    if text_file is not None:
        transcripts = read_table(text_file)
        missing = [u for u in utt2spk if u not in transcripts]
        if missing:
            raise DataDirError(f"{text_file}: no transcript for {len(missing)} utterance(s) of "
                               f"{base}, e.g. '{missing[0]}'")
        tables.text = {u: transcripts[u] for u in utt2spk}
    write_data_dir(out_dir, tables)
    return len(utt2spk)


def read_vox1_meta(path: Path) -> dict[str, str]:
    """Speaker id -> ``dev``/``test`` from ``vox1_meta.csv`` (tab-separated, header row).

    Fields are stripped: some copies of the file carry stray spaces around them.
    """
    if not path.is_file():
        raise DataDirError(f"{path}: file not found")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [name.strip() for name in lines[0].split("\t")] if lines else []
    if "VoxCeleb1 ID" not in header or "Set" not in header:
        raise DataDirError(f"{path}:1: expected a tab-separated header with columns "
                           f"'VoxCeleb1 ID' and 'Set', got {lines[0] if lines else ''!r}")
    id_col, set_col = header.index("VoxCeleb1 ID"), header.index("Set")
    speaker_set = {}
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) != len(header) or fields[set_col] not in ("dev", "test"):
            raise DataDirError(f"{path}:{lineno}: expected {len(header)} tab-separated fields "
                               f"with Set 'dev' or 'test', got {line!r}")
        speaker_set[fields[id_col]] = fields[set_col]
    return speaker_set


def convert_vox1_trials(path: Path, on_disk: set[str], test_utts: set[str]) -> list[Trial]:
    """Trials from an official list (``1 a.wav b.wav``: 1 target, 0 nontarget).

    Every utterance must exist on disk and belong to the test set.
    """
    if not path.is_file():
        raise DataDirError(f"{path}: file not found")
    trials = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if (len(fields) != 3 or fields[0] not in ("0", "1")
                or not all(f.endswith(".wav") for f in fields[1:])):
            raise DataDirError(f"{path}:{lineno}: expected '<1|0> <spk>/<ytid>/<NNNNN>.wav "
                               f"<spk>/<ytid>/<NNNNN>.wav', got {line!r}")
        enroll, test = (f[:-len(".wav")] for f in fields[1:])
        for utt in (enroll, test):
            if utt not in on_disk:
                raise DataDirError(f"{path}:{lineno}: utterance '{utt}' is not on disk")
            if utt not in test_utts:
                raise DataDirError(f"{path}:{lineno}: utterance '{utt}' belongs to a dev speaker; "
                                   "trials must use test-set utterances")
        trials.append(Trial(enroll, test, "target" if fields[0] == "1" else "nontarget"))
    return trials


def prepare_vox1(root: str | os.PathLike, out_dir_dev: str | os.PathLike,
                 out_dir_test: str | os.PathLike, trials_files: list[str | os.PathLike],
                 meta: str = "vox1_meta.csv") -> tuple[int, int]:
    """Dev and test data dirs for VoxCeleb1; returns (#dev, #test) utterances.

    Speakers are split by the Set column of ``meta``; wav.scp points at ``root/wav/...wav``.
    ``trials_files`` (names under ``root`` or paths) are converted into the test dir: the first
    as ``trials``, any further one as ``trials_<stem>``.
    """
    root = Path(root)
    wavs = _scan(root / "wav", ".wav")
    speaker_set = read_vox1_meta(root / meta)
    unknown = sorted_keys({u.split("/")[0] for u in wavs} - set(speaker_set))
    if unknown:
        raise DataDirError(f"{root / meta}: no row for speaker(s) {', '.join(unknown[:_SHOW])} "
                           f"found under {root / 'wav'}")
    tables = {}
    for subset in ("dev", "test"):
        utts = [u for u in wavs if speaker_set[u.split("/")[0]] == subset]
        if not utts:
            raise DataDirError(f"{root / 'wav'}: no utterances of {subset} speakers")
        utt2spk, spk2utt = _speaker_tables(utts)
        tables[subset] = DataDirTables(utt2spk=utt2spk, spk2utt=spk2utt,
                                       wav={u: str(wavs[u]) for u in utt2spk})
    for index, name in enumerate(trials_files):
        path = root / name
        target = "trials" if index == 0 else f"trials_{path.stem}"
        tables["test"].trials[target] = convert_vox1_trials(path, set(wavs),
                                                            set(tables["test"].utt2spk))
    # Both dirs are renamed into place only after both are written.
    with atomic_dir(out_dir_dev) as tmp_dev, atomic_dir(out_dir_test) as tmp_test:
        DataDir(tmp_dev).write(tables["dev"])
        DataDir(tmp_test).write(tables["test"])
    return len(tables["dev"].utt2spk), len(tables["test"].utt2spk)
