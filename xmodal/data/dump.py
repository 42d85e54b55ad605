"""Stage 2: dump log-mel features and face frames of a data dir, in parallel jobs.

``xmodal.bin.split_data`` splits ``DIR`` into ``DIR/splitN/{1..N}``; job J reads part J and
writes into ``OUT``:

    feats.J.ark/.scp     float32 (4V, n_mels) log-mel, Kaldi matrices
    wave.J.ark/.scp      float32 (640V,) 16 kHz samples, Kaldi vectors, if ``waveform``: the
                         audio the features were computed from, for raw-waveform encoders
    faces.J.ark/.scp     face frames (V, S, S, C), if video.scp: uint8 arrays (kaldiio numpy
                         format), raw or JPEG-coded per ``face_format`` (``face_store``)
    face_format.J        the format of faces.J.ark, if video.scp
    utt2num_frames.J     V, the number of video frames (audio-only sets: floor(samples / 640))
    skipped.J            ``<utt> <reason>`` for utterances left out

Arks and scps are written under temporary names and renamed when the job ends, ``skipped.J``
last, so a killed job never leaves a set of files that looks complete. ``xmodal.data.dump_merge``
then checks the jobs and merges them into the set's dump dir.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import kaldiio
import numpy as np
from tqdm import tqdm

from xmodal.atomic import write_lines_atomic
from xmodal.data.audio_io import MediaError, read_audio
from xmodal.data.datadir import DataDir, write_table
from xmodal.data.dump_merge import DONE_MARKER, DumpError, JobOutputs
from xmodal.data.face_store import FACE_FORMATS, encode_track, write_face_format
from xmodal.data.features import (FEATS_PER_VIDEO_FRAME, SAMPLE_RATE, SAMPLES_PER_VIDEO_FRAME,
                                  VIDEO_FPS, LogMel, logmel_for_video)
from xmodal.data.npy_ark import NumpyArkWriter
from xmodal.data.validate import line_numbers
from xmodal.data.video_io import read_video

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
    # Also dump each utterance's 16 kHz samples (wave.J.ark), aligned like the features:
    # encoders of raw waveform (face_generation's) read them; 4x the size of 40 log-mel bins.
    waveform: bool = False

    def __post_init__(self):
        if self.face_size < 1 or self.n_mels < 1 or self.av_tolerance_s < 0:
            raise ValueError("face_size and n_mels must be positive, av_tolerance_s >= 0")
        if self.face_format not in FACE_FORMATS:
            raise ValueError(f"face_format must be one of {', '.join(FACE_FORMATS)}, got "
                             f"'{self.face_format}'")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1-100, got {self.jpeg_quality}")


class SkipUtterance(Exception):
    """This utterance cannot be dumped; the message is the reason logged in ``skipped.J``."""


def temporary(path: Path) -> Path:
    """The name ``path`` is written under until it is complete."""
    return path.with_name(f".{path.name}.tmp")


def fit_length(audio: np.ndarray, n_samples: int) -> np.ndarray:
    """``audio`` cropped, or zero-padded at the end, to ``n_samples``."""
    if len(audio) >= n_samples:
        return audio[:n_samples]
    return np.pad(audio, (0, n_samples - len(audio)))


def dump_utterance(wav_spec: str, wav_where: str, video_path: str | None, video_where: str,
                   config: DumpConfig, logmel: LogMel
                   ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Features ``(4V, n_mels)``, faces ``(V, S, S, C)`` (``None`` without video) and the
    float32 audio ``(640V,)`` the features were computed from, of one utterance.

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
    audio = np.asarray(fit_length(audio, SAMPLES_PER_VIDEO_FRAME * n_frames), np.float32)
    return logmel_for_video(audio, n_frames, logmel), faces, audio


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
    if config.waveform:
        arks.append((outputs.wave_ark, outputs.wave_scp))
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
            wave_writer = stack.enter_context(kaldiio.WriteHelper(
                f"ark,scp:{temporary(outputs.wave_ark)},{temporary(outputs.wave_scp)}"
            )) if config.waveform else None
            # kaldiio's numpy format, written without kaldiio's in-memory copies of the frames.
            faces_writer = stack.enter_context(NumpyArkWriter(
                temporary(outputs.faces_ark), temporary(outputs.faces_scp))) if has_video else None
            progress = tqdm(tables.wav.items(), total=len(tables.wav), desc=f"dump job {job_id}",
                            unit="utt", file=sys.stderr, mininterval=1.0)
            for utt, wav_spec in progress:
                video = tables.video[utt] if has_video else None
                try:
                    feats, faces, audio = dump_utterance(
                        wav_spec, f"{data.wav_scp}:{wav_lines[utt]}", video,
                        f"{data.video_scp}:{video_lines.get(utt)}", config, logmel)
                except (SkipUtterance, MediaError) as err:
                    skipped[utt] = skip_reason(err)
                    tqdm.write(f"dump: skipping {utt}: {skipped[utt]}", file=sys.stderr)
                    continue
                _write(feats_writer, outputs.feats_ark, utt, feats)
                if wave_writer is not None:
                    _write(wave_writer, outputs.wave_ark, utt, audio)
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
