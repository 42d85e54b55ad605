"""Stage 2: dump log-mel features and face frames of a data dir, in parallel jobs.

``xmodal.bin.split_data`` splits ``DIR`` into ``DIR/splitN/{1..N}``; job J reads part J and
writes into ``OUT``:

    feats.J.ark/.scp     float32 (4V, n_mels) log-mel, Kaldi matrices
    faces.J.ark/.scp     face frames (V, S, S, C), if video.scp: uint8 arrays (kaldiio numpy
                         format), raw or JPEG-coded per ``face_format`` (``face_store``)
    face_format.J        the format of faces.J.ark, if video.scp
    utt2num_frames.J     V, the number of video frames (audio-only sets: floor(samples / 640))
    skipped.J            ``<utt> <reason>`` for utterances left out

Arks and scps are written under temporary names and renamed when the job ends, ``skipped.J``
last, so a killed job never leaves a set of files that looks complete. ``merge_dump`` then
checks that every utterance was dumped or skipped, and turns ``OUT`` into a data dir of the
dumped utterances (feats.scp, faces.scp, face_format, utt2num_frames, the source tables,
filtered trials) marked ``OUT/.done``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import kaldiio
import numpy as np
from tqdm import tqdm

from xmodal.atomic import write_lines_atomic, write_text_atomic
from xmodal.data.audio_io import MediaError, read_audio
from xmodal.data.datadir import DataDir, read_table, sorted_keys, write_table
from xmodal.data.face_store import (FACE_FORMATS, FORMAT_FILE, encode_track, read_format_file,
                                    write_face_format)
from xmodal.data.features import (FEATS_PER_VIDEO_FRAME, SAMPLE_RATE, SAMPLES_PER_VIDEO_FRAME,
                                  VIDEO_FPS, LogMel, logmel_for_video)
from xmodal.data.npy_ark import NumpyArkWriter
from xmodal.data.validate import line_numbers, validate_data_dir
from xmodal.data.video_io import read_video

DONE_MARKER = ".done"


@dataclass
class DumpConfig:
    """Stage 2 settings (``conf/dump.yaml``)."""

    face_size: int = 224
    face_gray: bool = False
    # How face frames are stored (``xmodal.data.face_store``): raw uint8, or one JPEG per
    # frame at jpeg_quality (8-23x smaller at q90; decoded when a training window is read).
    face_format: Literal["raw", "jpeg"] = "raw"
    jpeg_quality: int = 90
    n_mels: int = 40
    # Audio longer or shorter than 640 samples x video frames by more than this is skipped.
    av_tolerance_s: float = 0.1

    def __post_init__(self):
        if self.face_size < 1 or self.n_mels < 1 or self.av_tolerance_s < 0:
            raise ValueError("face_size and n_mels must be positive, av_tolerance_s >= 0")
        if self.face_format not in FACE_FORMATS:
            raise ValueError(f"face_format must be one of {', '.join(FACE_FORMATS)}, got "
                             f"'{self.face_format}'")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1-100, got {self.jpeg_quality}")


class DumpError(RuntimeError):
    """A dump job's output is incomplete or inconsistent."""


class SkipUtterance(Exception):
    """This utterance cannot be dumped; the message is the reason logged in ``skipped.J``."""


@dataclass(frozen=True)
class JobOutputs:
    """The files dump job ``job`` writes into ``out_dir``."""

    out_dir: Path
    job: int

    def path(self, name: str) -> Path:
        """``out_dir/<name with the job number>``, e.g. ``feats.3.ark``."""
        return self.out_dir / name.format(job=self.job)

    @property
    def feats_ark(self) -> Path:
        return self.path("feats.{job}.ark")

    @property
    def feats_scp(self) -> Path:
        return self.path("feats.{job}.scp")

    @property
    def faces_ark(self) -> Path:
        return self.path("faces.{job}.ark")

    @property
    def faces_scp(self) -> Path:
        return self.path("faces.{job}.scp")

    @property
    def face_format(self) -> Path:
        return self.path(FORMAT_FILE + ".{job}")

    @property
    def num_frames(self) -> Path:
        return self.path("utt2num_frames.{job}")

    @property
    def skipped(self) -> Path:
        return self.path("skipped.{job}")

    def all_files(self) -> list[Path]:
        """Every final file of the job, its completion mark ``skipped`` first."""
        return [self.skipped, self.num_frames, self.feats_scp, self.feats_ark, self.faces_scp,
                self.faces_ark, self.face_format]


def is_done(out_dir: str | os.PathLike) -> bool:
    """Whether the dump dir ``out_dir`` is complete (merged and checked)."""
    return (Path(out_dir) / DONE_MARKER).is_file()


def temporary(path: Path) -> Path:
    """The name ``path`` is written under until it is complete."""
    return path.with_name(f".{path.name}.tmp")


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """``audio`` cropped, or zero-padded at the end, to ``n_samples``."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))


def dump_utterance(wav_spec: str, wav_where: str, video_path: str | None, video_where: str,
                   config: DumpConfig, logmel: LogMel) -> tuple[np.ndarray, np.ndarray | None]:
    """Features ``(4V, n_mels)`` and faces ``(V, S, S, C)`` (``None`` without video) of one utt.

    Raises ``SkipUtterance`` when audio and video lengths disagree by more than the tolerance
    (decoded AAC is a little longer than the source: within tolerance it is cropped to 640V).
    """
    faces = None
    audio, _ = read_audio(wav_spec, wav_where)
    if video_path is None:
        n_frames = len(audio) // SAMPLES_PER_VIDEO_FRAME
        if n_frames == 0:
            raise SkipUtterance(f"too short: audio of {len(audio)} samples, less than one "
                                "video frame")
    else:
        faces, fps = read_video(video_path, config.face_size, config.face_gray, video_where)
        if abs(fps - VIDEO_FPS) > 0.01:
            raise SkipUtterance(f"wrong frame rate: video at {fps:g} fps, expected {VIDEO_FPS}")
        n_frames = len(faces)
        excess = len(audio) - SAMPLES_PER_VIDEO_FRAME * n_frames
        if abs(excess) > round(config.av_tolerance_s * SAMPLE_RATE):
            raise SkipUtterance(
                f"audio/video length mismatch: {len(audio)} samples vs {n_frames} frames x "
                f"{SAMPLES_PER_VIDEO_FRAME} ({excess / SAMPLE_RATE:+.3f} s, tolerance "
                f"{config.av_tolerance_s} s)")
    audio = fit_length(audio, SAMPLES_PER_VIDEO_FRAME * n_frames)
    return logmel_for_video(audio, n_frames, logmel), faces


def skip_reason(err: Exception) -> str:
    """One-line ``<category>: <details>`` reason for ``skipped.J``."""
    reason = " ".join(str(err).split())
    return f"unreadable media: {reason}" if isinstance(err, MediaError) else reason


def _publish_ark(ark: Path, scp: Path) -> None:
    """Rename a finished temporary ark into place; its scp re-pointed at the final name."""
    lines = []
    for line in temporary(scp).read_text(encoding="utf-8").splitlines():
        key, _, location = line.partition(" ")
        lines.append(f"{key} {ark}:{location.rsplit(':', 1)[1]}")
    os.replace(temporary(ark), ark)
    write_lines_atomic(scp, lines)
    temporary(scp).unlink()


def _write(writer: Callable[[str, np.ndarray], None], ark: Path, utt: str,
           array: np.ndarray) -> None:
    """``writer(utt, array)``; a failed write (e.g. a full disk) names ``ark``."""
    try:
        writer(utt, array)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(ark)) from None


def dump_data_dir(data_dir: str | os.PathLike, out_dir: str | os.PathLike, job_id: int,
                  config: DumpConfig) -> tuple[int, int]:
    """Dump job ``job_id``: every utterance of ``data_dir`` (one split part) into ``out_dir``.

    Returns (dumped, skipped) counts. Unreadable media and audio/video length mismatches
    beyond the tolerance are skipped, not trimmed, with their reason in ``skipped.<job>`` and
    on stderr. A file that cannot be written (full disk, read-only dir) is a ``DumpError``
    naming it.
    """
    data = DataDir(data_dir)
    tables = data.load()
    out_dir = Path(out_dir)
    outputs = JobOutputs(out_dir, job_id)
    has_video = tables.video is not None
    wav_lines = line_numbers(tables.wav)
    video_lines = line_numbers(tables.video) if has_video else {}
    logmel = LogMel(config.n_mels)
    num_frames, skipped = {}, {}
    arks = [(outputs.feats_ark, outputs.feats_scp)]
    if has_video:
        arks.append((outputs.faces_ark, outputs.faces_scp))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Whatever this job wrote before no longer counts, nor does the merged result.
        (out_dir / DONE_MARKER).unlink(missing_ok=True)
        for path in outputs.all_files():
            path.unlink(missing_ok=True)
        with contextlib.ExitStack() as stack:
            feats_writer = stack.enter_context(kaldiio.WriteHelper(
                f"ark,scp:{temporary(outputs.feats_ark)},{temporary(outputs.feats_scp)}"))
            # kaldiio's numpy format, written without kaldiio's in-memory copies of the frames.
            faces_writer = stack.enter_context(NumpyArkWriter(
                temporary(outputs.faces_ark), temporary(outputs.faces_scp))) if has_video else None
            progress = tqdm(tables.wav.items(), total=len(tables.wav), desc=f"dump job {job_id}",
                            unit="utt", file=sys.stderr, mininterval=1.0)
            for utt, wav_spec in progress:
                video = tables.video[utt] if has_video else None
                try:
                    feats, faces = dump_utterance(
                        wav_spec, f"{data.wav_scp}:{wav_lines[utt]}", video,
                        f"{data.video_scp}:{video_lines.get(utt)}", config, logmel)
                except (SkipUtterance, MediaError) as err:
                    skipped[utt] = skip_reason(err)
                    tqdm.write(f"dump: skipping {utt}: {skipped[utt]}", file=sys.stderr)
                    continue
                _write(feats_writer, outputs.feats_ark, utt, feats)
                if faces_writer is not None:
                    _write(faces_writer, outputs.faces_ark, utt,
                           encode_track(faces, config.face_format, config.jpeg_quality))
                num_frames[utt] = str(len(feats) // FEATS_PER_VIDEO_FRAME)
        for ark, scp in arks:
            _publish_ark(ark, scp)
        if has_video:
            write_face_format(outputs.face_format, config.face_format)
        write_table(outputs.num_frames, num_frames)
        write_table(outputs.skipped, skipped)
    except OSError as err:  # a full disk, a read-only dir
        raise DumpError(f"dump job {job_id}: {err.filename or out_dir}: "
                        f"{err.strerror or err}") from None
    finally:
        for ark, scp in arks:
            temporary(ark).unlink(missing_ok=True)
            temporary(scp).unlink(missing_ok=True)
    return len(num_frames), len(skipped)


@dataclass
class MergeSummary:
    """What ``merge_dump`` found: counts, skip reasons, trials kept and dropped per list."""

    n_dumped: int
    n_skipped: int
    skip_reasons: Counter = field(default_factory=Counter)
    trials_kept: dict[str, int] = field(default_factory=dict)
    trials_dropped: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable report, one fact per line."""
        out = [f"{self.n_dumped} utterances dumped, {self.n_skipped} skipped"]
        out += [f"  skipped {n} x: {reason}" for reason, n in self.skip_reasons.most_common()]
        out += [f"{name}: kept {self.trials_kept[name]} trials, dropped "
                f"{self.trials_dropped[name]} naming skipped utterances"
                for name in self.trials_kept]
        return out


def _merge_tables(paths: list[Path]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in paths:
        for key, value in read_table(path).items():
            if key in merged:
                raise DumpError(f"{path}: utterance '{key}' was also written by another job")
            merged[key] = value
    return {key: merged[key] for key in sorted_keys(merged)}


def _merged_face_format(jobs: list[JobOutputs]) -> str:
    """The face format all ``jobs`` wrote (one faces.scp cannot mix formats)."""
    formats = {}
    for job in jobs:
        try:
            formats[job.job] = read_format_file(job.face_format)
        except ValueError as err:
            raise DumpError(str(err)) from None
    if len(set(formats.values())) > 1:
        raise DumpError(f"{jobs[0].out_dir}: dump jobs wrote faces in different formats ("
                        + ", ".join(f"job {j}: {f}" for j, f in formats.items())
                        + "); rerun them with one config")
    return formats[jobs[0].job]


def merge_dump(data_dir: str | os.PathLike, out_dir: str | os.PathLike,
               num_jobs: int) -> MergeSummary:
    """Merge the outputs of dump jobs ``1..num_jobs`` of ``data_dir`` into the data dir ``out_dir``.

    Fails (``DumpError``) if a job's files are missing, an utterance of wav.scp is neither
    dumped nor skipped, or an ark an scp points at does not exist. Writes ``out_dir/.done`` last.
    """
    source_dir = DataDir(data_dir)
    source = source_dir.load()
    out = DataDir(out_dir)
    has_video = source.video is not None
    jobs = [JobOutputs(out.root, job) for job in range(1, num_jobs + 1)]
    for job in jobs:
        needed = [job.feats_scp, job.num_frames, job.skipped]
        for path in needed + ([job.faces_scp, job.face_format] if has_video else []):
            if not path.is_file():
                raise DumpError(f"dump job {job.job} did not complete: {path} is missing "
                                f"(see {out.root}/log/dump.{job.job}.log)")
    feats = _merge_tables([job.feats_scp for job in jobs])
    num_frames = _merge_tables([job.num_frames for job in jobs])
    skipped = _merge_tables([job.skipped for job in jobs])
    faces = _merge_tables([job.faces_scp for job in jobs]) if has_video else None
    face_format = _merged_face_format(jobs) if has_video else None
    for name, table in (("utt2num_frames", num_frames), ("faces.scp", faces)):
        if table is not None and list(table) != list(feats):
            raise DumpError(f"{out.root}: the utterances of {name} differ from feats.scp")
    unaccounted = [u for u in source.wav if u not in feats and u not in skipped]
    if unaccounted:
        raise DumpError(f"{len(unaccounted)} utterance(s) of {source_dir.wav_scp} are neither "
                        f"dumped nor skipped, e.g. '{unaccounted[0]}' (were the jobs run on "
                        f"{source_dir}/split{num_jobs}?)")
    foreign = [u for u in [*feats, *skipped] if u not in source.wav]
    if foreign:
        raise DumpError(f"{out.root}: utterance '{foreign[0]}' is not in {source_dir}; stale "
                        "output of another data dir?")
    for ark in sorted({v.rsplit(":", 1)[0] for v in [*feats.values(), *(faces or {}).values()]}):
        if not os.path.isfile(ark):
            raise DumpError(f"{out.root}: ark '{ark}' named in an scp does not exist")
    if not feats:
        raise DumpError(f"{out.root}: every utterance was skipped (see {out.root}/skipped)")
    dumped = source.subset(feats)
    dumped.feats, dumped.faces, dumped.utt2num_frames = feats, faces, num_frames
    # A merge that fails part-way (e.g. a full disk) must not leave an old mark standing.
    out.file(DONE_MARKER).unlink(missing_ok=True)
    out.write(dumped)
    if face_format is not None:
        write_face_format(out.file(FORMAT_FILE), face_format)
    write_table(out.file("skipped"), skipped)
    validate_data_dir(out.root, check_files=False)
    write_text_atomic(out.file(DONE_MARKER), "")
    return MergeSummary(
        n_dumped=len(feats), n_skipped=len(skipped),
        # Reasons read "<category>: <details>"; the report counts categories.
        skip_reasons=Counter(reason.split(":")[0] for reason in skipped.values()),
        trials_kept={name: len(t) for name, t in dumped.trials.items()},
        trials_dropped={name: len(source.trials[name]) - len(t)
                        for name, t in dumped.trials.items()})
