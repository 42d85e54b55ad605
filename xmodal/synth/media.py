"""Writing the corpus' media files with real encoders: H.264/AAC mp4, AAC m4a, PCM wav.

Every file is produced under a temporary name and renamed into place, and the encoders run
in bit-exact, single-threaded mode so the same frames and samples give the same bytes.
"""
from __future__ import annotations

import subprocess
import tempfile
import wave
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


def write_track(mp4_path: str | Path, m4a_path: str | Path, frames: np.ndarray,
                audio: np.ndarray, crf: int = 20) -> None:
    """Encode one face-track: ``frames`` (T, S, S, 3) uint8 RGB at 25 fps and its 16 kHz audio.

    The mp4 holds H.264 video and AAC audio; the m4a is the same AAC stream copied out, as in
    the VoxCeleb2 downloads. The audio must last exactly ``T * 640`` samples.
    """
    n_frames, height, width, _ = frames.shape
    if len(audio) != n_frames * SAMPLES_PER_FRAME:
        raise ValueError(f"{mp4_path}: audio has {len(audio)} samples, "
                         f"expected {n_frames * SAMPLES_PER_FRAME} for {n_frames} frames")
    mp4_path, m4a_path = Path(mp4_path), Path(m4a_path)
    with atomic_path(mp4_path) as tmp_mp4, tempfile.TemporaryDirectory(
            dir=mp4_path.parent, prefix=".pcm.") as scratch:
        tmp_pcm = Path(scratch) / "audio.pcm"
        tmp_pcm.write_bytes(to_pcm16(audio))
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y",
              "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS),
              "-i", "pipe:0",
              "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(tmp_pcm),
              "-map", "0:v", "-map", "1:a",
              "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
              "-threads", "1", "-c:a", "aac", "-b:a", "64k", *_BITEXACT, "-f", "mp4",
              str(tmp_mp4)], mp4_path, stdin=np.ascontiguousarray(frames).tobytes())
        with atomic_path(m4a_path) as tmp_m4a:
            _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tmp_mp4), "-map", "0:a",
                  "-c:a", "copy", *_BITEXACT, "-f", "ipod", str(tmp_m4a)], m4a_path)
