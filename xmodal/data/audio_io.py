"""Decoding one wav.scp entry to a float32 mono waveform.

An entry is a media path or a Kaldi pipe (``cmd ... |``, run through the shell as Kaldi does,
its stdout a WAV stream). PCM wav files are read with the stdlib ``wave`` module, which is exact
and notices a file shorter than its header says; everything else (m4a/aac/mp4/flac, pipe
output) is decoded in-process by PyAV. Every failure (including NaN/inf samples, which a float
wav can hold) is a ``MediaError`` naming the file and where the entry came from
(``data/x/wav.scp:12``).
"""
from __future__ import annotations

import io
import os
import subprocess
import wave

import av
import numpy as np
import torch
import torchaudio

SAMPLE_RATE = 16000
# A container's duration may exceed what decodes by codec padding; more than this is truncation.
_DURATION_SLACK_SAMPLES = 2048
_PCM_SCALE = {1: 128.0, 2: 32768.0, 4: 2147483648.0}
_PCM_DTYPE = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}


class MediaError(RuntimeError):
    """A media file (or a pipe producing one) is missing, empty, truncated or undecodable."""


def media_error(what: str, problem: str, where: str = "") -> MediaError:
    """A ``MediaError`` reading ``<what>: <problem> (<where>)``."""
    return MediaError(f"{what}: {problem}" + (f" ({where})" if where else ""))


def check_media_file(path: str | os.PathLike, where: str = "") -> None:
    """Raise ``MediaError`` unless ``path`` is an existing, non-empty file."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise media_error(str(path), "no such file", where) from None
    if size == 0:
        raise media_error(str(path), "file is empty", where)


def _read_pcm_wav(path: str, where: str) -> tuple[np.ndarray, int]:
    try:
        with wave.open(path, "rb") as w:
            n_channels, width, rate, n_frames = (w.getnchannels(), w.getsampwidth(),
                                                 w.getframerate(), w.getnframes())
            data = w.readframes(n_frames)
    except EOFError:
        raise media_error(path, "truncated wav header", where) from None
    except wave.Error:
        # Not plain PCM (e.g. float or WAVE_FORMAT_EXTENSIBLE), or corrupt: PyAV decides.
        return _decode_with_av(path, path, where)
    if width not in _PCM_DTYPE:
        return _decode_with_av(path, path, where)
    frame_bytes = n_channels * width
    if len(data) < n_frames * frame_bytes:
        raise media_error(path, f"truncated: the header announces {n_frames} samples, the file "
                                f"holds {len(data) // frame_bytes}", where)
    samples = np.frombuffer(data, dtype=_PCM_DTYPE[width]).astype(np.float32)
    if width == 1:
        samples -= 128.0  # 8-bit PCM is unsigned
    samples /= _PCM_SCALE[width]
    return samples.reshape(-1, n_channels).mean(axis=1, dtype=np.float32), rate


def _decode_with_av(source: str | io.BytesIO, label: str, where: str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of ``source`` (path or bytes) with PyAV, channels averaged."""
    chunks = []
    try:
        with av.open(source) as container:
            if not container.streams.audio:
                raise media_error(label, "no audio stream", where)
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            # Planar float keeps each channel separate, so the mono mix is a plain average.
            resampler = av.AudioResampler(format="fltp")
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
            expected = (None if stream.duration is None or isinstance(source, io.BytesIO)
                        else int(stream.duration * stream.time_base * rate))
    except av.error.FFmpegError as err:
        if chunks:
            # A cut-off file opens and decodes up to the cut: say how far it got.
            decoded = sum(chunk.shape[1] for chunk in chunks)
            raise media_error(label, f"truncated or corrupt: decoding failed after {decoded} "
                                     f"samples: {err}", where) from None
        raise media_error(label, f"cannot decode: {err}", where) from None
    if not chunks:
        raise media_error(label, "no audio samples", where)
    audio = np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32)
    if expected is not None and len(audio) + _DURATION_SLACK_SAMPLES < expected:
        raise media_error(label, f"truncated: decoded {len(audio)} of {expected} samples", where)
    return audio, rate


def _read_pipe(command: str, where: str) -> tuple[np.ndarray, int]:
    # shell=True is the Kaldi convention for "cmd |" entries: they are shell command lines.
    proc = subprocess.run(command, shell=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    label = f"pipe '{command} |'"
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()[-500:]
        raise media_error(label, f"exited with status {proc.returncode}: {stderr}", where)
    if not proc.stdout:
        raise media_error(label, "produced no output", where)
    return _decode_with_av(io.BytesIO(proc.stdout), label, where)


def read_audio(spec: str, where: str = "",
               sample_rate: int | None = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Decode a wav.scp value to ``(float32 mono samples in [-1, 1], sample rate)``.

    ``spec`` is a media path or a Kaldi pipe ending in ``|``. Audio at another rate than
    ``sample_rate`` is resampled (``None`` keeps the file's rate). ``where`` (e.g.
    ``data/x/wav.scp:12``) is added to error messages.
    """
    spec = spec.strip()
    if spec.endswith("|"):
        audio, rate = _read_pipe(spec[:-1].strip(), where)
    else:
        check_media_file(spec, where)
        if spec.lower().endswith(".wav"):
            audio, rate = _read_pcm_wav(spec, where)
        else:
            audio, rate = _decode_with_av(spec, spec, where)
    if len(audio) == 0:
        raise media_error(spec, "no audio samples", where)
    finite = np.isfinite(audio)
    if not finite.all():
        # Float wavs can hold NaN/inf; they would turn whole feature frames into NaN.
        raise media_error(spec, f"{int((~finite).sum())} NaN or inf sample(s), the first at "
                                f"sample {int(np.argmin(finite))}", where)
    if sample_rate is not None and rate != sample_rate:
        audio = torchaudio.functional.resample(torch.from_numpy(audio), rate, sample_rate).numpy()
        rate = sample_rate
    return audio, rate
