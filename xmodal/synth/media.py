"""Writing the corpus' media files with real encoders: H.264/AAC mp4, AAC m4a, PCM wav.

Every file is produced under a temporary name and renamed into place, and the encoders run
in bit-exact, single-threaded mode so the same frames and samples give the same bytes.
"""
from __future__ import annotations

import contextlib
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.atomic import atomic_path

SAMPLE_RATE = 16000
FPS = 25
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS

# No encoder version strings, creation times or other run-dependent metadata in the output.
_BITEXACT = ["-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1"]


class EncodeError(RuntimeError):
    """An encoder process failed; the message carries its stderr."""


def to_pcm16(audio: np.ndarray) -> bytes:
    """Float audio in [-1, 1] as little-endian 16-bit PCM bytes (clipped, rounded)."""
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio as a 16-bit PCM wav file, atomically."""
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(to_pcm16(audio))


def _run(cmd: list[str], what: Path, stdin: bytes | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise EncodeError(f"{what}: {cmd[0]} failed ({proc.returncode}): "
                          f"{proc.stderr.decode(errors='replace').strip()[-2000:]}")


@dataclass(frozen=True)
class FaceTrack:
    """One face-track to encode: ``frames`` (T, S, S, 3) uint8 RGB at 25 fps and its 16 kHz
    ``audio`` of exactly ``T * 640`` samples, to ``mp4`` (H.264 + AAC) and ``m4a`` (the AAC)."""

    mp4: Path
    m4a: Path
    frames: np.ndarray
    audio: np.ndarray


def write_tracks(tracks: list[FaceTrack], crf: int = 20) -> None:
    """Encode face-tracks, all in one ffmpeg process; each file is written atomically.

    The mp4 holds H.264 video and AAC audio; the m4a is the same AAC stream, as in the
    VoxCeleb2 downloads (the tee muxer writes both from one encoding). ffmpeg's start-up
    (~0.15 s) costs more than encoding a short small track, so several tracks share one
    process; each output has its own encoders, so a track's bytes do not depend on the
    others it was encoded with.
    """
    for track in tracks:
        n_frames = len(track.frames)
        if len(track.audio) != n_frames * SAMPLES_PER_FRAME:
            raise ValueError(f"{track.mp4}: audio has {len(track.audio)} samples, "
                             f"expected {n_frames * SAMPLES_PER_FRAME} for {n_frames} frames")
    if not tracks:
        return
    tracks[0].mp4.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(
            dir=tracks[0].mp4.parent, prefix=".encode.")))
        inputs: list[str] = []
        outputs: list[str] = []
        for k, track in enumerate(tracks):
            inputs += raw_inputs(scratch, k, track.frames, track.audio)
            tmp_mp4 = stack.enter_context(atomic_path(track.mp4))
            tmp_m4a = stack.enter_context(atomic_path(track.m4a))
            outputs += [*h264_aac_options(k, crf), "-f", "tee",
                        f"[f=mp4:fflags=+bitexact]{_tee_path(tmp_mp4)}|"
                        f"[f=ipod:select=a:fflags=+bitexact]{_tee_path(tmp_m4a)}"]
        what = tracks[0].mp4 if len(tracks) == 1 else \
            Path(f"{tracks[0].mp4} (and {len(tracks) - 1} other tracks encoded with it)")
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *outputs], what)


def raw_inputs(scratch: Path, k: int, frames: np.ndarray, audio: np.ndarray) -> list[str]:
    """ffmpeg input options of clip ``k`` of a shared encode: its frames ``(T, H, W, 3)`` and
    audio written raw into ``scratch`` (inputs ``2k`` video, ``2k + 1`` audio)."""
    _, height, width, _ = frames.shape
    (scratch / f"{k}.rgb").write_bytes(np.ascontiguousarray(frames).tobytes())
    (scratch / f"{k}.pcm").write_bytes(to_pcm16(audio))
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", str(FPS), "-i", str(scratch / f"{k}.rgb"),
            "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(scratch / f"{k}.pcm")]


def h264_aac_options(k: int, crf: int) -> list[str]:
    """Output options of clip ``k`` (``raw_inputs``): its own H.264 and AAC encoders, one
    thread each and bit-exact, so its bytes do not depend on the clips encoded with it."""
    return ["-map", f"{2 * k}:v", "-map", f"{2 * k + 1}:a",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
            "-pix_fmt", "yuv420p", "-threads", "1", "-c:a", "aac", "-b:a", "64k", *_BITEXACT]


def write_track(mp4_path: str | Path, m4a_path: str | Path, frames: np.ndarray,
                audio: np.ndarray, crf: int = 20) -> None:
    """Encode one face-track (``write_tracks`` of one)."""
    write_tracks([FaceTrack(Path(mp4_path), Path(m4a_path), frames, audio)], crf)


def _tee_path(path: Path) -> str:
    """``path`` escaped for a tee muxer output list (its separators are ``|[]:\\``)."""
    text = str(path)
    for char in "\\|[]:":
        text = text.replace(char, "\\" + char)
    return text
