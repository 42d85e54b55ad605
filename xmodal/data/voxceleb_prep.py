"""Kaldi data dirs from the official VoxCeleb1/VoxCeleb2 download layouts.

The synthetic corpus is written in the same layouts, so one preparation serves both.
Utterance keys keep the official form ``idXXXXX/<ytid>/<NNNNN>``; the speaker id is its first
component. Each output dir is written whole into a temporary dir and renamed into place.

VoxCeleb2 (``<subset>/{aac,mp4}``, optional ``<subset>/txt`` and ``vox2_meta.csv``): one dir
per subset, optionally a seeded sample of its speakers and of each speaker's face-tracks, with
``spk2gender`` from the meta file and ``utt2av_offset`` from the tracks' txt files.

VoxCeleb1 (``wav/``, ``vox1_meta.csv``, optional ``iden_split.txt`` and trial lists): a dir of
the dev speakers and one of the test speakers plus every utterance the requested trial lists
name (VoxCeleb1-E and -H pair dev speakers' utterances too, and stage 6 scores one dir).
"""
from __future__ import annotations

import os
import shlex
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from xmodal.data.datadir import (DataDir, DataDirError, DataDirTables, Trial, atomic_dir,
                                 read_table, sorted_keys, utt2spk_to_spk2utt, write_data_dir)
from xmodal.data.subset import choose_speakers
from xmodal.data.voxceleb_lists import (OFFICIAL_TRIALS, read_iden_split, read_official_trials,
                                        read_track_offset, read_vox1_meta, read_vox2_meta)
from xmodal.data.wav_convert import convert_to_wav

VOX2_SUBSETS = ("dev", "test")
AUDIO_FORMS = ("path", "pipe", "wav")
VOX2_META = "vox2_meta.csv"
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


def _some(names: list) -> str:
    """The first few of ``names``, comma-separated, with '...' when there are more."""
    return ", ".join(str(n) for n in names[:_SHOW]) + (" ..." if len(names) > _SHOW else "")


def _unpaired(have: dict[str, Path], lack: dict[str, Path], what: str) -> None:
    orphans = sorted_keys(set(have) - set(lack))
    if orphans:
        raise DataDirError(f"{len(orphans)} file(s) without their {what}: "
                           f"{_some([have[k] for k in orphans])}")


def ffmpeg_pipe(media: Path) -> str:
    """A Kaldi wav.scp pipe decoding ``media`` to 16 kHz mono WAV on stdout."""
    return f"ffmpeg -nostdin -v error -i {shlex.quote(str(media))} -f wav -ac 1 -ar 16000 - |"


def _speaker(utt: str) -> str:
    return utt.split("/")[0]


def _speaker_tables(utts) -> tuple[dict[str, str], dict[str, str]]:
    utt2spk = {utt: _speaker(utt) for utt in sorted_keys(utts)}
    return utt2spk, utt2spk_to_spk2utt(utt2spk)


def sample_tracks(utts: list[str], fraction: float, seed: int) -> list[str]:
    """``round(fraction * n)`` (at least one) of each speaker's ``n`` tracks, C-sorted.

    By track count: a uniform draw of tracks takes ``fraction`` of a speaker's speech in
    expectation and needs no durations (probing a million m4a files takes hours). Each
    speaker's draw is seeded by ``seed`` and the speaker id alone, so it does not change when
    other speakers are added or left out.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataDirError(f"the fraction of tracks per speaker must be in (0, 1], got {fraction}")
    by_speaker: dict[str, list[str]] = {}
    for utt in sorted_keys(utts):
        by_speaker.setdefault(_speaker(utt), []).append(utt)
    chosen = []
    for spk, tracks in by_speaker.items():
        rng = np.random.default_rng([seed, zlib.crc32(spk.encode("utf-8"))])
        n = max(1, round(fraction * len(tracks)))
        chosen += [tracks[i] for i in rng.choice(len(tracks), size=n, replace=False)]
    return sorted_keys(chosen)


def _vox2_genders(meta_path: Path, subset: str, speakers: list[str]) -> dict[str, str]:
    """spk2gender of ``speakers`` from ``vox2_meta.csv``, which must file them under ``subset``."""
    meta = read_vox2_meta(meta_path)
    unknown = [spk for spk in speakers if spk not in meta]
    if unknown:
        raise DataDirError(f"{meta_path}: no row for speaker(s) {_some(unknown)}")
    misfiled = [spk for spk in speakers if meta[spk].subset != subset]
    if misfiled:
        raise DataDirError(f"{meta_path}: speaker(s) {_some(misfiled)} found under {subset}/ "
                           f"but listed in Set '{meta[misfiled[0]].subset}'")
    return {spk: meta[spk].gender for spk in speakers}


def _track_offsets(txt_dir: Path, utts: list[str]) -> dict[str, str]:
    """utt2av_offset from ``txt_dir/<utt>.txt``, which every utterance must have."""
    missing = [utt for utt in utts if not (txt_dir / f"{utt}.txt").is_file()]
    if missing:
        raise DataDirError(f"{txt_dir}: no txt file for {len(missing)} track(s): "
                           f"{_some([f'{u}.txt' for u in missing])}")
    return {utt: str(read_track_offset(txt_dir / f"{utt}.txt", _speaker(utt))) for utt in utts}


def prepare_vox2(root: str | os.PathLike, subset: str, out_dir: str | os.PathLike,
                 audio: str = "path", text_file: str | os.PathLike | None = None,
                 fraction: float = 1.0, num_speakers: int = 0, seed: int = 0,
                 wav_dir: str | os.PathLike | None = None, nj: int = 1) -> list[str]:
    """Data dir for VoxCeleb2 ``subset`` from ``root/{subset}/{aac,mp4}``; returns a report.

    ``num_speakers`` speakers (0, or more than there are: all) are chosen as stage 7 chooses
    speaker subsets, then ``fraction`` of each one's tracks (``sample_tracks``), both by
    ``seed``. wav.scp holds the m4a path (``audio='path'``), an ffmpeg pipe (``'pipe'``,
    readable by Kaldi tools) or a 16 kHz wav copy made under ``wav_dir`` by ``nj`` processes
    (``'wav'``); video.scp the mp4. ``root/vox2_meta.csv`` adds spk2gender and
    ``root/{subset}/txt`` utt2av_offset when present. ``text_file`` (``<utt> words...``, may
    cover other sets too) adds ``text``; it must have a transcript for every utterance chosen.
    """
    if subset not in VOX2_SUBSETS:
        raise DataDirError(f"unknown VoxCeleb2 subset '{subset}' (expected one of {VOX2_SUBSETS})")
    if audio not in AUDIO_FORMS:
        raise DataDirError(f"unknown audio form '{audio}' (expected one of {AUDIO_FORMS})")
    if audio == "wav" and wav_dir is None:
        raise DataDirError("audio form 'wav' needs a directory for the wav copies")
    if num_speakers < 0:
        raise DataDirError(f"the number of speakers must be >= 0 (0: all), got {num_speakers}")
    root, base = Path(root), Path(root) / subset
    m4a = _scan(base / "aac", ".m4a")
    mp4 = _scan(base / "mp4", ".mp4")
    _unpaired(m4a, mp4, "mp4 video")
    _unpaired(mp4, m4a, "m4a audio")
    speakers = sorted_keys({_speaker(utt) for utt in m4a})
    report = []
    spk2gender = None
    if (root / VOX2_META).is_file():
        spk2gender = _vox2_genders(root / VOX2_META, subset, speakers)
    else:
        report.append(f"{root / VOX2_META}: not found; no spk2gender")
    if num_speakers > len(speakers):
        report.append(f"{base}: {num_speakers} speakers requested, only {len(speakers)} "
                      "there; using all")
    chosen = set(choose_speakers(speakers, min(num_speakers, len(speakers)), seed))
    utts = sample_tracks([u for u in m4a if _speaker(u) in chosen], fraction, seed)
    utt2spk, spk2utt = _speaker_tables(utts)
    tables = DataDirTables(utt2spk=utt2spk, spk2utt=spk2utt, wav={},
                           video={u: str(mp4[u]) for u in utts})
    if spk2gender is not None:
        tables.spk2gender = {spk: spk2gender[spk] for spk in spk2utt}
    if (base / "txt").is_dir():
        tables.utt2av_offset = _track_offsets(base / "txt", utts)
        shifted = sum(v != "0" for v in tables.utt2av_offset.values())
        report.append(f"{base / 'txt'}: {shifted} of {len(utts)} tracks "
                      f"({100 * shifted / max(len(utts), 1):.1f}%) have a non-zero audio-video "
                      "offset (data.apply_av_offset re-aligns them)")
    else:
        report.append(f"{base / 'txt'}: not found; no utt2av_offset")
    if text_file is not None:
        tables.text = _transcripts(text_file, utts, base)
    # Converted last: a problem found above costs no conversion time.
    if audio == "wav":
        tables.wav = {u: str(path) for u, path in
                      convert_to_wav({u: m4a[u] for u in utts}, wav_dir, nj).items()}
    else:
        tables.wav = {u: str(m4a[u]) if audio == "path" else ffmpeg_pipe(m4a[u]) for u in utts}
    write_data_dir(out_dir, tables)
    return [f"{out_dir}: {len(utts)} of {len(m4a)} face-tracks, {len(spk2utt)} of "
            f"{len(speakers)} speakers"] + report


def _trial_source(root: Path, entry: str) -> Path:
    """The file of a trial list named by set (``O``, ``E``, ``H``, ``O_orig``) or by file."""
    return root / OFFICIAL_TRIALS.get(entry, entry)


def convert_vox1_trials(path: Path, on_disk: set[str]) -> list[Trial]:
    """Trials from an official list; every utterance must exist on disk."""
    trials = []
    for lineno, trial in read_official_trials(path):
        for utt in (trial.enroll, trial.test):
            if utt not in on_disk:
                raise DataDirError(f"{path}:{lineno}: utterance '{utt}' is not on disk")
        trials.append(trial)
    return trials


def _iden_splits(path: Path, on_disk: set[str]) -> dict[str, str]:
    """utt -> train|val|test from ``iden_split.txt``, which must cover exactly the wavs."""
    splits = {}
    for lineno, utt, split in read_iden_split(path):
        if utt not in on_disk:
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}' is not on disk")
        splits[utt] = split
    missing = sorted_keys(on_disk - set(splits))
    if missing:
        raise DataDirError(f"{path}: no line for {len(missing)} utterance(s) on disk: "
                           f"{_some(missing)}")
    return splits


def _trial_lists(root: Path, trials: Sequence[str], optional_trials: Sequence[str],
                 on_disk: set[str], test_utts: set[str],
                 test_dir: str | os.PathLike) -> tuple[dict[str, list[Trial]], list[str]]:
    """The converted lists by file name, and report lines; adds to ``test_utts`` what the
    required lists name."""
    unknown = [name for name in optional_trials if name not in OFFICIAL_TRIALS]
    if unknown:
        raise DataDirError(f"unknown trial set(s) {_some(unknown)} (expected "
                           f"{', '.join(OFFICIAL_TRIALS)})")
    lists: dict[str, list[Trial]] = {}
    for index, entry in enumerate(trials):
        path = _trial_source(root, entry)
        if not path.is_file():
            raise DataDirError(f"{path}: not found (trial list '{entry}' is required)")
        converted = convert_vox1_trials(path, on_disk)
        test_utts.update(u for t in converted for u in (t.enroll, t.test))
        if entry in OFFICIAL_TRIALS:
            lists[f"trials_{entry}"] = converted
        if index == 0:
            lists["trials"] = converted
        elif entry not in OFFICIAL_TRIALS:
            lists[f"trials_{Path(entry).stem}"] = converted
    report = []
    for name in (n for n in optional_trials if n not in trials):
        path = _trial_source(root, name)
        if not path.is_file():
            report.append(f"{path}: not found; trials_{name} skipped")
            continue
        converted = convert_vox1_trials(path, on_disk)
        outside = {u for t in converted for u in (t.enroll, t.test)} - test_utts
        if outside:
            report.append(f"{path}: names {len(outside)} utterance(s) of dev speakers, which "
                          f"{test_dir} holds only for requested lists; trials_{name} skipped")
            continue
        lists[f"trials_{name}"] = converted
    return lists, report


def _transcripts(text_file: str | os.PathLike, utts, where) -> dict[str, str]:
    """The transcript of each of ``utts`` from ``text_file``; a missing one is an error."""
    transcripts = read_table(text_file)
    missing = sorted_keys(u for u in utts if u not in transcripts)
    if missing:
        raise DataDirError(f"{text_file}: no transcript for {len(missing)} utterance(s) of "
                           f"{where}, e.g. '{missing[0]}'")
    return {u: transcripts[u] for u in utts}


def prepare_vox1(root: str | os.PathLike, out_dir_dev: str | os.PathLike,
                 out_dir_test: str | os.PathLike, trials: Sequence[str],
                 meta: str = "vox1_meta.csv", optional_trials: Sequence[str] = (),
                 iden_split: str = "iden_split.txt",
                 text_file: str | os.PathLike | None = None) -> list[str]:
    """Dev and test data dirs for VoxCeleb1; returns a report.

    Speakers are split by the Set column of ``meta``, which also gives spk2gender; wav.scp
    points at ``root/wav/...wav``; ``root/iden_split.txt``, when present, gives utt2iden_split.

    ``trials`` are the required lists, each a set name (``O``, ``E``, ``H``, ``O_orig``),
    written as ``trials_<set>``, or a file under ``root`` (or a path), written as
    ``trials_<stem>``. The first list is also written as ``trials``; given as a file, it is
    written as ``trials`` only, as callers naming files expect. The test dir holds the test
    speakers' utterances plus every utterance these lists name. ``text_file`` (``<utt>
    words...``) adds ``text`` to both dirs; it must cover every utterance.
    ``optional_trials`` (set names) are converted too when their file exists and names only
    utterances the test dir holds; otherwise the report says why not.
    """
    root = Path(root)
    wavs = _scan(root / "wav", ".wav")
    speaker_meta = read_vox1_meta(root / meta)
    unknown = sorted_keys({_speaker(u) for u in wavs} - set(speaker_meta))
    if unknown:
        raise DataDirError(f"{root / meta}: no row for speaker(s) {_some(unknown)} found under "
                           f"{root / 'wav'}")
    utts = {subset: {u for u in wavs if speaker_meta[_speaker(u)].subset == subset}
            for subset in ("dev", "test")}
    n_of_test_speakers = len(utts["test"])
    lists, report = _trial_lists(root, trials, optional_trials, set(wavs), utts["test"],
                                 out_dir_test)
    splits = None
    if (root / iden_split).is_file():
        splits = _iden_splits(root / iden_split, set(wavs))
    else:
        report.append(f"{root / iden_split}: not found; no utt2iden_split")
    tables = {}
    for subset in ("dev", "test"):
        if not utts[subset]:
            raise DataDirError(f"{root / 'wav'}: no utterances of {subset} speakers")
        utt2spk, spk2utt = _speaker_tables(utts[subset])
        tables[subset] = DataDirTables(
            utt2spk=utt2spk, spk2utt=spk2utt, wav={u: str(wavs[u]) for u in utt2spk},
            spk2gender={spk: speaker_meta[spk].gender for spk in spk2utt},
            utt2iden_split=None if splits is None else {u: splits[u] for u in utt2spk},
            text=None if text_file is None else _transcripts(text_file, utt2spk, root / "wav"))
    tables["test"].trials = lists
    # Both dirs are renamed into place only after both are written.
    with atomic_dir(out_dir_dev) as tmp_dev, atomic_dir(out_dir_test) as tmp_test:
        DataDir(tmp_dev).write(tables["dev"])
        DataDir(tmp_test).write(tables["test"])
    n_of_dev_speakers = len(utts["test"]) - n_of_test_speakers
    return [f"{out_dir_dev}: {len(utts['dev'])} utterances",
            f"{out_dir_test}: {len(utts['test'])} utterances ({n_of_dev_speakers} of dev "
            "speakers, named by the required trial lists)"] + \
        [f"{name}: {len(lists[name])} trials" for name in sorted_keys(lists)] + report
