"""Kaldi data dirs for downstream evaluation from the CREMA-D, RAVDESS and LRW download layouts.

A synthetic corpus written in the same layouts is read the same way. Every name is checked
against the corpus' naming convention as it is read; a file that breaks it is a
``DataDirError`` naming the file, and nothing is written. ``out_dir`` is written whole into a
temporary dir and renamed into place: ``out_dir/{train,valid,test}/`` data dirs (wav.scp,
utt2spk, spk2utt, ``utt2label``, and video.scp where there is video) and, for the emotion
corpora, ``out_dir/split_speakers`` (``<spk> <split>`` lines).

- CREMA-D: ``AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav`` (actor 1001-1091; one of the 12
  sentence codes; EMO one of ANG DIS FEA HAP NEU SAD; level LO MD HI, or XX: unspecified) and,
  with video, ``VideoFlash/<same stem>.flv``. Speakers ``crema<actor>``, utterances
  ``crema<actor>-<stem>``.
- RAVDESS: seven two-digit fields ``MM-VC-EE-II-SS-RR-AA`` (modality, vocal channel, emotion,
  intensity, statement, repetition, actor 01-24; odd actors male). Audio from the audio-only
  speech archive, ``Actor_AA/03-01-...-AA.wav``; with video, the full-AV mp4 of the same
  utterance from the video archive, ``Video_Speech_Actor_AA/Actor_AA/01-01-...-AA.mp4``. Song
  files (vocal channel 02, whose archive unpacks into the same ``Actor_AA`` dirs) are
  skipped. Speakers ``rav<AA>``, utterances ``rav<AA>-<stem>``; spk2gender from the actor number.
- LRW: ``lipread_mp4/<WORD>/{train,val,test}/<WORD>_<NNNNN>.{mp4,txt}``; each clip is 29
  frames at 25 fps (1.16 s) around one word, and its txt's ``Text:`` line names the word (the
  other lines, confidence and the word's duration, are not needed here). wav.scp decodes the
  mp4's audio through an ffmpeg pipe; video.scp (with video) is the mp4. Utterances
  ``lrw-<official split>-<WORD>_<NNNNN>`` (clip numbers restart in each official split).

VoxCeleb1 identification (``speaker_id``): data dirs with ``utt2iden_split`` (from
``iden_split.txt``) split into train/val/test as it says, the speaker as the label; and
``exclude_iden_test``: a data dir without those test utterances, for every set that trains a
model the speaker-id task then tests (the supervised baseline, the Table 4 layers).

Labels (``utt2label``) are the intended emotion, in RAVDESS' words for both emotion corpora
(CREMA-D's ANG is ``angry``, DIS ``disgust``, FEA ``fearful``, HAP ``happy``, NEU ``neutral``,
SAD ``sad``) so one label set spans them, or the LRW word.

Splits. CREMA-D and RAVDESS have no official split: speakers are split train/valid/test by a
seeded draw (``speaker_splits``), or by a given ``<spk> <split>`` file (e.g. a published
split, or an earlier ``split_speakers``). LRW's official train/val/test dirs become
train/valid/test. LRW does not identify its speakers: utt2spk maps each utterance to itself
(the Kaldi convention for unknown speakers), and its splits are not known to be
speaker-disjoint.
"""
from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from xmodal.data.datadir import (DataDir, DataDirError, DataDirTables, atomic_dir, read_table,
                                 sorted_keys, utt2spk_to_spk2utt, write_table)
from xmodal.data.validate import line_numbers
from xmodal.data.voxceleb_prep import ffmpeg_pipe

SPLITS = ("train", "valid", "test")
SPLIT_FILE = "split_speakers"
LABEL_FILE = "utt2label"

CREMA_ACTORS = range(1001, 1092)
CREMA_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI",
                   "WSI")
CREMA_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy",
                  "NEU": "neutral", "SAD": "sad"}
CREMA_LEVELS = ("LO", "MD", "HI", "XX")
# 91 actors -> 64/9/18, near the speaker-disjoint 70/10/20 that TFDS' crema_d uses.
CREMA_FRACTIONS = (0.7, 0.1, 0.2)

RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}
RAVDESS_ACTORS = range(1, 25)
# 24 actors -> 16/4/4, each split half male, half female (12 of each; see speaker_splits).
RAVDESS_FRACTIONS = (16 / 24, 4 / 24, 4 / 24)
FULL_AV, VIDEO_ONLY, AUDIO_ONLY = "01", "02", "03"
SPEECH = "01"
# Field name, allowed values, and how a message describes them.
_RAVDESS_FIELDS = (
    ("modality", (FULL_AV, VIDEO_ONLY, AUDIO_ONLY), "01 (full-AV), 02 (video-only) or 03 "
                                                    "(audio-only)"),
    ("vocal channel", ("01", "02"), "01 (speech) or 02 (song)"),
    ("emotion", tuple(RAVDESS_EMOTIONS), "01-08"),
    ("intensity", ("01", "02"), "01 (normal) or 02 (strong)"),
    ("statement", ("01", "02"), "01 or 02"),
    ("repetition", ("01", "02"), "01 or 02"),
    ("actor", tuple(f"{a:02d}" for a in RAVDESS_ACTORS), "01-24"),
)

# Official LRW split dir -> output split.
LRW_SPLITS = {"train": "train", "val": "valid", "test": "test"}
LRW_WORD = re.compile(r"[A-Z]+")
# A file cloned from CREMA-D's git repository without git-lfs holds this text, not media.
_LFS_POINTER = b"version https://git-lfs"


@dataclass(frozen=True)
class Utterance:
    """One utterance of a data dir to write: its key, speaker, wav.scp value, label and
    video.scp value (``None`` without video)."""

    key: str
    speaker: str
    audio: str
    label: str
    video: str | None = None


def _files(media_dir: Path, suffix: str, layout: str) -> list[Path]:
    """The ``*suffix`` files directly in ``media_dir``, sorted; none (or no dir) is an error."""
    if not media_dir.is_dir():
        raise DataDirError(f"{media_dir}: not found (expected {layout})")
    files = sorted(media_dir.glob(f"*{suffix}"))
    if not files:
        raise DataDirError(f"{media_dir}: no {suffix} files (expected {layout})")
    return files


def _not_lfs_pointer(path: Path) -> None:
    with open(path, "rb") as f:
        if f.read(len(_LFS_POINTER)) == _LFS_POINTER:
            raise DataDirError(f"{path}: a git-lfs pointer, not media (clone the corpus with "
                               "git-lfs installed, or run 'git lfs pull')")


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise DataDirError(f"split fractions must be three positive numbers (train, valid, "
                           f"test) summing to 1, got {tuple(fractions)}")


def speaker_splits(groups: dict[str, str], fractions: Sequence[float], seed: int
                   ) -> dict[str, str]:
    """Speaker -> ``train|valid|test``, speaker-disjoint, drawn by ``seed``.

    ``groups`` maps each speaker to a group (gender, or one group for all). Of ``n`` speakers,
    test takes ``round(fractions[2] * n)`` and valid ``round(fractions[1] * n)`` (each at least
    one), train the rest (at least one). Speakers are dealt out in turn from each group's
    seeded permutation (groups in C order; a group's draw is seeded by ``seed`` and its name,
    so it does not depend on the others), test first, then valid: with two equal groups each
    split is balanced to within one speaker.
    """
    _check_fractions(fractions)
    n = len(groups)
    n_test = max(1, round(fractions[2] * n))
    n_valid = max(1, round(fractions[1] * n))
    if n - n_test - n_valid < 1:
        raise DataDirError(f"{n} speaker(s) are too few for speaker-disjoint train, valid and "
                           "test splits")
    queues = []
    for group in sorted_keys(set(groups.values())):
        members = sorted_keys(spk for spk, g in groups.items() if g == group)
        rng = np.random.default_rng([seed, zlib.crc32(group.encode("utf-8"))])
        queues.append([members[i] for i in rng.permutation(len(members))])
    dealt = []
    while any(queues):
        dealt += [queue.pop(0) for queue in queues if queue]
    splits = ["test"] * n_test + ["valid"] * n_valid + ["train"] * (n - n_test - n_valid)
    return dict(zip(dealt, splits))


def read_split_file(path: str | os.PathLike, speakers: Iterable[str]) -> dict[str, str]:
    """Speaker -> split from a ``<spk> train|valid|test`` file, which must name exactly
    ``speakers`` and leave no split empty."""
    path = Path(path)
    table = read_table(path, require_sorted=False)
    present = set(speakers)
    for spk, lineno in line_numbers(table).items():
        if table[spk] not in SPLITS:
            raise DataDirError(f"{path}:{lineno}: speaker '{spk}': split '{table[spk]}' is not "
                               "train, valid or test")
        if spk not in present:
            raise DataDirError(f"{path}:{lineno}: speaker '{spk}' is not in the corpus")
    missing = sorted_keys(present - set(table))
    if missing:
        raise DataDirError(f"{path}: no line for {len(missing)} speaker(s) of the corpus, e.g. "
                           f"'{missing[0]}'")
    empty = [split for split in SPLITS if split not in table.values()]
    if empty:
        raise DataDirError(f"{path}: no speakers in split(s) {', '.join(empty)}")
    return table


def _choose_splits(groups: dict[str, str], fractions: Sequence[float], seed: int,
                   split_file: str | os.PathLike | None) -> tuple[dict[str, str], str]:
    """Speaker -> split and a report line saying where the split came from."""
    if split_file is not None:
        return read_split_file(split_file, groups), f"speaker split: from {split_file}"
    splits = speaker_splits(groups, fractions, seed)
    sizes = "/".join(str(sum(s == split for s in splits.values())) for split in SPLITS)
    return splits, (f"speaker split: seeded (seed {seed}), train/valid/test {sizes} of "
                    f"{len(splits)} speakers")


def write_downstream_dirs(out_dir: str | os.PathLike, parts: dict[str, list[Utterance]],
                          spk2gender: dict[str, str] | None = None,
                          split_speakers: dict[str, str] | None = None) -> list[str]:
    """Write ``out_dir/<split>/`` for each of ``parts`` (plus ``split_speakers``), replacing
    ``out_dir`` whole; returns a report line per split."""
    out_dir = Path(out_dir)
    report = []
    with atomic_dir(out_dir) as tmp:
        for split, utts in parts.items():
            utt2spk = {u.key: u.speaker for u in utts}
            tables = DataDirTables(utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk),
                                   wav={u.key: u.audio for u in utts},
                                   utt2label={u.key: u.label for u in utts})
            if utts[0].video is not None:
                tables.video = {u.key: u.video for u in utts}
            if spk2gender is not None:
                tables.spk2gender = {spk: spk2gender[spk] for spk in tables.spk2utt}
            DataDir(tmp / split).write(tables)
            report.append(f"{out_dir / split}: {len(utts)} utterances, {len(tables.spk2utt)} "
                          f"speakers, {len({u.label for u in utts})} labels")
        if split_speakers is not None:
            write_table(tmp / SPLIT_FILE, split_speakers)
    return report


def _by_split(utts: list[Utterance], splits: dict[str, str]) -> dict[str, list[Utterance]]:
    return {split: [u for u in utts if splits[u.speaker] == split] for split in SPLITS}


# ---- CREMA-D ---------------------------------------------------------------------------------

def crema_d_name(path: Path) -> tuple[str, str]:
    """(actor, label) from a CREMA-D ``<actor>_<sentence>_<EMO>_<level>`` file name."""
    fields = path.stem.split("_")
    if len(fields) != 4:
        raise DataDirError(f"{path}: expected <actor>_<sentence>_<emotion>_<level>, got "
                           f"{len(fields)} '_'-separated field(s)")
    actor, sentence, emotion, level = fields
    if not (re.fullmatch(r"[0-9]{4}", actor) and int(actor) in CREMA_ACTORS):
        raise DataDirError(f"{path}: actor '{actor}' is not 1001-1091")
    if sentence not in CREMA_SENTENCES:
        raise DataDirError(f"{path}: sentence '{sentence}' is not one of "
                           f"{' '.join(CREMA_SENTENCES)}")
    if emotion not in CREMA_EMOTIONS:
        raise DataDirError(f"{path}: emotion '{emotion}' is not one of "
                           f"{' '.join(CREMA_EMOTIONS)}")
    if level not in CREMA_LEVELS:
        raise DataDirError(f"{path}: level '{level}' is not one of {' '.join(CREMA_LEVELS)}")
    return actor, CREMA_EMOTIONS[emotion]


def _crema_videos(root: Path, stems: set[str]) -> dict[str, str]:
    """stem -> flv path; every utterance needs its flv and every flv its wav."""
    flvs = {}
    for flv in _files(root / "VideoFlash", ".flv", "VideoFlash/<actor>_<sentence>_<EMO>_"
                                                    "<level>.flv"):
        crema_d_name(flv)
        _not_lfs_pointer(flv)
        if flv.stem not in stems:
            raise DataDirError(f"{flv}: no AudioWAV/{flv.stem}.wav for this video")
        flvs[flv.stem] = str(flv)
    missing = sorted_keys(stems - set(flvs))
    if missing:
        raise DataDirError(f"{root / 'VideoFlash'}: no flv for {len(missing)} utterance(s), "
                           f"e.g. {missing[0]}.flv")
    return flvs


def prepare_crema_d(root: str | os.PathLike, out_dir: str | os.PathLike, seed: int = 0,
                    fractions: Sequence[float] = CREMA_FRACTIONS,
                    split_file: str | os.PathLike | None = None,
                    with_video: bool = False) -> list[str]:
    """Speaker-disjoint train/valid/test data dirs of CREMA-D under ``out_dir``; returns a
    report.

    wav.scp points at ``root/AudioWAV/*.wav`` (16 kHz); ``with_video`` adds video.scp from
    ``root/VideoFlash``. Actors are split by ``fractions`` of them (``speaker_splits``, one
    group: the file names carry no gender) unless ``split_file`` gives the split.
    """
    # Checked first: a bad option costs no scan of the corpus.
    _check_fractions(fractions)
    root = Path(root)
    utts = []
    for wav in _files(root / "AudioWAV", ".wav", "AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav"):
        actor, label = crema_d_name(wav)
        _not_lfs_pointer(wav)
        utts.append(Utterance(f"crema{actor}-{wav.stem}", f"crema{actor}", str(wav), label))
    if with_video:
        flvs = _crema_videos(root, {Path(u.audio).stem for u in utts})
        utts = [Utterance(u.key, u.speaker, u.audio, u.label, flvs[Path(u.audio).stem])
                for u in utts]
    splits, how = _choose_splits({u.speaker: "all" for u in utts}, fractions, seed, split_file)
    return write_downstream_dirs(out_dir, _by_split(utts, splits),
                                 split_speakers=splits) + [how]


# ---- RAVDESS ---------------------------------------------------------------------------------

def ravdess_name(path: Path, modalities: Sequence[str], actor_dirs: Sequence[str]
                 ) -> dict[str, str]:
    """The seven fields of a RAVDESS file name, by name, checked.

    The modality must be one of ``modalities`` and the actor match the number of each
    ``Actor_NN``-style dir in ``actor_dirs`` (the names of the dirs holding the file).
    """
    values = path.stem.split("-")
    if len(values) != len(_RAVDESS_FIELDS) or not all(re.fullmatch(r"[0-9]{2}", v)
                                                      for v in values):
        raise DataDirError(f"{path}: expected seven two-digit fields MM-VC-EE-II-SS-RR-AA, got "
                           f"'{path.stem}'")
    fields = {}
    for (name, allowed, described), value in zip(_RAVDESS_FIELDS, values):
        if value not in allowed:
            raise DataDirError(f"{path}: {name} '{value}' is not {described}")
        fields[name] = value
    if fields["emotion"] == "01" and fields["intensity"] == "02":
        raise DataDirError(f"{path}: intensity 02 (strong) with emotion 01 (neutral), which "
                           "has no strong intensity")
    if fields["modality"] not in modalities:
        raise DataDirError(f"{path}: modality '{fields['modality']}' is not "
                           f"{' or '.join(modalities)}, what this dir holds")
    for dir_name in actor_dirs:
        if not dir_name.endswith(f"_{fields['actor']}"):
            raise DataDirError(f"{path}: actor {fields['actor']} is not the actor of its dir "
                               f"{dir_name}")
    return fields


def _actor_dirs(parent: Path, prefix: str) -> list[Path]:
    """``parent/<prefix>NN`` dirs, sorted; a dir named ``<prefix>...`` otherwise is an error."""
    dirs = sorted(d for d in parent.glob(f"{prefix}*") if d.is_dir())
    for d in dirs:
        if not (re.fullmatch(rf"{prefix}[0-9]{{2}}", d.name)
                and int(d.name[-2:]) in RAVDESS_ACTORS):
            raise DataDirError(f"{d}: expected {prefix}NN with NN 01-24")
    return dirs


def _ravdess_videos(root: Path, stems: set[str]) -> dict[str, str]:
    """audio-only stem -> full-AV mp4 of the same utterance (every speech utterance has one)."""
    videos = {}
    for outer in _actor_dirs(root, "Video_Speech_Actor_"):
        inner = outer / f"Actor_{outer.name[-2:]}"
        for mp4 in _files(inner, ".mp4", f"{inner.relative_to(root)}/MM-01-EE-II-SS-RR-AA.mp4"):
            fields = ravdess_name(mp4, (FULL_AV, VIDEO_ONLY), (outer.name, inner.name))
            if fields["vocal channel"] != SPEECH:
                raise DataDirError(f"{mp4}: vocal channel '{fields['vocal channel']}' (song) in "
                                   "a speech video archive")
            if fields["modality"] == FULL_AV:
                stem = AUDIO_ONLY + mp4.stem[2:]
                if stem not in stems:
                    raise DataDirError(f"{mp4}: no audio-only Actor_{fields['actor']}/{stem}.wav "
                                       "for this video")
                videos[stem] = str(mp4)
    missing = sorted_keys(stems - set(videos))
    if missing:
        first = FULL_AV + missing[0][2:]
        raise DataDirError(f"{root}: no full-AV mp4 for {len(missing)} utterance(s), e.g. "
                           f"Video_Speech_Actor_{first[-2:]}/Actor_{first[-2:]}/{first}.mp4")
    return videos


def prepare_ravdess(root: str | os.PathLike, out_dir: str | os.PathLike, seed: int = 0,
                    fractions: Sequence[float] = RAVDESS_FRACTIONS,
                    split_file: str | os.PathLike | None = None,
                    with_video: bool = False) -> list[str]:
    """Speaker-disjoint train/valid/test data dirs of RAVDESS speech under ``out_dir``;
    returns a report.

    wav.scp points at the audio-only ``root/Actor_NN/*.wav`` (48 kHz; readers resample);
    ``with_video`` adds video.scp from the full-AV mp4s. Actors are split by ``fractions``
    of them, dealt alternately by gender (``speaker_splits``), unless ``split_file`` gives
    the split. spk2gender follows the actor number (odd: m).
    """
    # Checked first: a bad option costs no scan of the corpus.
    _check_fractions(fractions)
    root = Path(root)
    actor_dirs = _actor_dirs(root, "Actor_")
    if not actor_dirs:
        raise DataDirError(f"{root}: no Actor_NN dirs (expected the audio-only speech archive "
                           "unpacked: Actor_AA/03-01-EE-II-SS-RR-AA.wav)")
    utts, songs = [], 0
    for actor_dir in actor_dirs:
        for wav in _files(actor_dir, ".wav", f"{actor_dir.name}/03-01-EE-II-SS-RR-AA.wav"):
            fields = ravdess_name(wav, (AUDIO_ONLY,), (actor_dir.name,))
            if fields["vocal channel"] != SPEECH:
                songs += 1
                continue
            spk = f"rav{fields['actor']}"
            utts.append(Utterance(f"{spk}-{wav.stem}", spk, str(wav),
                                  RAVDESS_EMOTIONS[fields["emotion"]]))
    if not utts:
        raise DataDirError(f"{root}: no speech files (vocal channel 01) under Actor_NN/")
    if with_video:
        videos = _ravdess_videos(root, {Path(u.audio).stem for u in utts})
        utts = [Utterance(u.key, u.speaker, u.audio, u.label, videos[Path(u.audio).stem])
                for u in utts]
    spk2gender = {u.speaker: "m" if int(u.speaker[-2:]) % 2 else "f" for u in utts}
    splits, how = _choose_splits(spk2gender, fractions, seed, split_file)
    report = write_downstream_dirs(out_dir, _by_split(utts, splits), spk2gender=spk2gender,
                                   split_speakers=splits) + [how]
    if songs:
        report.append(f"{root}: skipped {songs} song file(s) (vocal channel 02)")
    return report


# ---- LRW -------------------------------------------------------------------------------------

def lrw_txt_word(txt: Path) -> str:
    """The word on the ``Text:`` line of an LRW clip's txt file."""
    if not txt.is_file():
        raise DataDirError(f"{txt}: not found (every LRW clip has a txt naming its word)")
    try:
        lines = txt.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataDirError(f"{txt}: not valid UTF-8") from None
    words = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Text:")]
    if len(words) != 1:
        raise DataDirError(f"{txt}: expected one 'Text: <WORD>' line, found {len(words)}")
    return words[0]


def _lrw_clip(mp4: Path) -> str:
    """The word of an LRW clip, which its dir, its file name and its txt must agree on."""
    word = mp4.parent.parent.name
    if not LRW_WORD.fullmatch(word):
        raise DataDirError(f"{mp4}: word dir '{word}' is not an upper-case word")
    if not re.fullmatch(rf"{word}_[0-9]{{5}}", mp4.stem):
        raise DataDirError(f"{mp4}: expected {word}_<NNNNN>.mp4 (the word of its dir)")
    said = lrw_txt_word(mp4.with_suffix(".txt"))
    if said != word:
        raise DataDirError(f"{mp4.with_suffix('.txt')}: word '{said}' differs from '{word}' "
                           "(its dir and file name)")
    return word


def prepare_lrw(root: str | os.PathLike, out_dir: str | os.PathLike,
                with_video: bool = False) -> list[str]:
    """Train/valid/test data dirs of LRW (its official train/val/test) under ``out_dir``
    (with ``video.scp``, the mp4s, if ``with_video``); returns a report.

    Reads every clip's txt (about half a million files for the full corpus) but no mp4.
    """
    base = Path(root) / "lipread_mp4"
    if not base.is_dir():
        raise DataDirError(f"{base}: not found (expected lipread_mp4/<WORD>/{{train,val,test}}/"
                           "<WORD>_<NNNNN>.{mp4,txt})")
    parts = {}
    for official, split in LRW_SPLITS.items():
        mp4s = sorted(base.glob(f"*/{official}/*.mp4"))
        if not mp4s:
            raise DataDirError(f"{base}: no <WORD>/{official}/<WORD>_<NNNNN>.mp4 files")
        for txt in sorted(base.glob(f"*/{official}/*.txt")):
            if not txt.with_suffix(".mp4").is_file():
                raise DataDirError(f"{txt}: no mp4 beside this txt")
        utts = []
        for mp4 in mp4s:
            word = _lrw_clip(mp4)
            key = f"lrw-{official}-{mp4.stem}"
            utts.append(Utterance(key, key, ffmpeg_pipe(mp4), word,
                                  str(mp4) if with_video else None))
        parts[split] = utts
    return write_downstream_dirs(out_dir, parts) + [
        "LRW does not identify speakers: utt2spk maps each utterance to itself (Kaldi's "
        "convention for unknown speakers); the official splits are not known to be "
        "speaker-disjoint"]


# ---- VoxCeleb1 identification ----------------------------------------------------------------

IDEN_SPLITS = {"train": "train", "val": "valid", "test": "test"}


def _iden_tables(data_dir: Path):
    tables = DataDir(data_dir).load()
    if tables.utt2iden_split is None:
        raise DataDirError(f"{data_dir / 'utt2iden_split'}: file not found (stage 1 writes it "
                           "from VoxCeleb1's iden_split.txt)")
    return tables


def prepare_speaker_id(data_dirs: Sequence[str | os.PathLike],
                       out_dir: str | os.PathLike) -> list[str]:
    """VoxCeleb1 speaker identification: the utterances of ``data_dirs`` (VoxCeleb1 data dirs
    with ``utt2iden_split``) split by it into ``out_dir/{train,valid,test}``, each labelled
    with its speaker (an utterance in several dirs, once); returns a report. Identification
    is closed-set: a speaker tested but never trained on is an error naming it."""
    parts: dict[str, list[Utterance]] = {split: [] for split in SPLITS}
    seen: dict[str, Path] = {}
    for data_dir in map(Path, data_dirs):
        tables = _iden_tables(data_dir)
        for key in sorted_keys(tables.utt2spk):
            # The VoxCeleb recipe's spk_test also holds the dev utterances the E and H lists
            # name: an utterance in two dirs counts once.
            if key in seen:
                continue
            seen[key] = data_dir
            spk = tables.utt2spk[key]
            parts[IDEN_SPLITS[tables.utt2iden_split[key]]].append(
                Utterance(key, spk, tables.wav[key], spk))
    trained = {u.speaker for u in parts["train"]}
    for split in ("valid", "test"):
        unseen = sorted({u.speaker for u in parts[split]} - trained)
        if unseen:
            raise DataDirError(f"{', '.join(map(str, data_dirs))}: speaker '{unseen[0]}' has "
                               f"{split} utterances but none to train on (utt2iden_split)")
    if not all(parts.values()):
        empty = [split for split, utts in parts.items() if not utts][0]
        raise DataDirError(f"{', '.join(map(str, data_dirs))}: no utterance in the "
                           f"identification {empty} split (utt2iden_split)")
    return write_downstream_dirs(out_dir, parts)


def exclude_iden_test(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> str:
    """``data_dir`` without its identification test utterances (``utt2iden_split`` test),
    written whole to ``out_dir``: what a model may train on when the speaker-id task then
    tests on those utterances. Returns a report line."""
    tables = _iden_tables(Path(data_dir))
    keep = [k for k, split in tables.utt2iden_split.items() if split != "test"]
    with atomic_dir(out_dir) as tmp:
        DataDir(tmp).write(tables.subset(keep))
    return (f"{out_dir}: {len(keep)} of {len(tables.utt2spk)} utterances of {data_dir} (its "
            "identification test utterances left out)")
