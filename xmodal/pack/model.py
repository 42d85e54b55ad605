"""A trained encoder used on its own: embed recordings, score and verify pairs (``xmodal.load``).

``load_model(path)`` takes a pack (``xmodal.pack.format``) or an experiment dir. An
experiment dir with a ``pack/`` inside is loaded as that pack; one without gives raw cosine
scores and no calibration (stage 6's ``<trials>.scores``).

A recording goes through exactly what stages 2 and 5 do to an audio-only utterance, so the
embeddings and scores equal the recipe's: decoded by ``xmodal.data.audio_io.read_audio`` (any
container and sample rate ffmpeg's libraries read, channels averaged, resampled to 16 kHz),
cut to whole 25 fps video frames (640 samples), log-mel of ``xmodal.data.features`` (or the
samples themselves for a waveform encoder), the identity head averaged over the whole
recording (``xmodal.eval.extract.embed_inputs``). Unlike stage 5, which tiles a too-short
utterance up to the model's minimum input, a recording shorter than that is an error here: a
user asking about one file should hear that it is too short, not get a score of a tiled one.
A silent recording (peak below -80 dBFS) is an error too: its features are the log floor.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch

from xmodal.data.audio_io import MediaError, read_audio
from xmodal.data.features import SAMPLE_RATE, SAMPLES_PER_VIDEO_FRAME, LogMel, logmel_for_video
from xmodal.eval.calibration import Calibration
from xmodal.eval.extract import embed_inputs, is_waveform_encoder
from xmodal.eval.scoring import cosine_scores
from xmodal.methods import load_pretrained
from xmodal.pack.format import PackError, is_pack, read_pack_meta

# A recording whose peak is below this (-80 dBFS) is taken for silence.
SILENCE_PEAK = 1e-4
# Recordings embedded per forward-pass group by embed_batch (memory, not speed).
BATCH_CHUNK = 64

Audio = Union[str, os.PathLike, np.ndarray]


class InputError(ValueError):
    """A recording cannot be embedded: unreadable, too short or silent (the message names it)."""


@dataclass(frozen=True)
class Verification:
    """The outcome of comparing two recordings.

    ``score`` is the cosine (after the pack's mean subtraction); ``llr`` the calibrated
    log-likelihood ratio, ``same`` the decision at the pack's threshold (``llr >=
    threshold_llr``, the Bayes threshold for ``p_target``); the last four are ``None`` for a
    model without calibration.
    """

    score: float
    llr: float | None
    same: bool | None
    threshold_llr: float | None
    p_target: float | None


class PackedModel:
    """An encoder with its scoring settings; build it with ``load_model`` (``xmodal.load``)."""

    def __init__(self, encoder: torch.nn.Module, source: Path, method: str,
                 mean: np.ndarray | None = None, calibration: Calibration | None = None,
                 meta: dict | None = None, device: str | torch.device = "cpu"):
        self.encoder = encoder
        self.source = source
        self.method = method
        self.mean = mean
        self.calibration = calibration
        self.meta = meta or {}
        self.device = device
        self._logmel = None if self.input_kind == "waveform" else LogMel(encoder.cfg.n_mels)

    @property
    def input_kind(self) -> str:
        """``"logmel"`` or ``"waveform"``: what the encoder reads."""
        return "waveform" if is_waveform_encoder(self.encoder) else "logmel"

    @property
    def min_samples(self) -> int:
        """Shortest recording the encoder gives an embedding for, in 16 kHz samples (whole
        video frames of 640 samples, as the features are cut)."""
        frames = int(self.encoder.min_frames)
        if self.input_kind == "waveform":
            return -(-frames // SAMPLES_PER_VIDEO_FRAME) * SAMPLES_PER_VIDEO_FRAME
        # Four feature frames per video frame.
        return -(-frames // 4) * SAMPLES_PER_VIDEO_FRAME

    def read(self, audio: Audio, where: str = "") -> np.ndarray:
        """16 kHz mono samples of a file (any container ffmpeg reads) or of an array already at
        16 kHz, cut to whole video frames; ``InputError`` naming it if unreadable, shorter than
        ``min_samples`` or silent."""
        if isinstance(audio, np.ndarray):
            name = where or "<array>"
            samples = np.asarray(audio, dtype=np.float32)
            if samples.ndim != 1 or not np.isfinite(samples).all():
                raise InputError(f"{name}: expected finite 1-D samples, got shape "
                                 f"{samples.shape}")
        else:
            name = str(audio)
            try:
                samples, _ = read_audio(name, where, SAMPLE_RATE)
            except MediaError as err:
                raise InputError(str(err)) from None
        if len(samples) < self.min_samples:
            raise InputError(f"{name}: too short: {len(samples) / SAMPLE_RATE:.3f} s; the model "
                             f"needs at least {self.min_samples / SAMPLE_RATE:.2f} s "
                             f"({self.min_samples} samples at 16 kHz)")
        peak = float(np.abs(samples).max())
        if peak < SILENCE_PEAK:
            raise InputError(f"{name}: silent (peak amplitude {peak:.2g}, below -80 dBFS)")
        n_frames = len(samples) // SAMPLES_PER_VIDEO_FRAME
        return samples[:n_frames * SAMPLES_PER_VIDEO_FRAME]

    def model_input(self, samples: np.ndarray) -> np.ndarray:
        """The encoder's input for samples of whole video frames: log-mel ``(T, n_mels)``, or
        the samples themselves for a waveform encoder."""
        if self._logmel is None:
            return samples
        return logmel_for_video(samples, len(samples) // SAMPLES_PER_VIDEO_FRAME, self._logmel)

    def embed(self, audio: Audio) -> np.ndarray:
        """The identity embedding ``(D,)`` float32 of one recording (a path or 16 kHz samples)."""
        return self.embed_batch([audio])[0]

    def embed_batch(self, recordings: Sequence[Audio],
                    wheres: Sequence[str] | None = None) -> np.ndarray:
        """Embeddings ``(N, D)`` float32 of several recordings, in order; recordings of equal
        length share a forward pass. ``wheres[i]`` (e.g. ``wav.scp:3``) goes into recording
        i's error messages."""
        if len(recordings) == 0:
            raise InputError("no recordings to embed")
        wheres = list(wheres) if wheres is not None else [""] * len(recordings)
        rows = []
        for start in range(0, len(recordings), BATCH_CHUNK):
            part = range(start, min(start + BATCH_CHUNK, len(recordings)))
            inputs = [self.model_input(self.read(recordings[i], wheres[i])) for i in part]
            rows.append(embed_inputs(self.encoder, inputs, device=self.device)["identity"])
        return np.concatenate(rows)

    def score_embeddings(self, enroll: np.ndarray, test: np.ndarray) -> np.ndarray:
        """Cosine scores of row pairs ``enroll[i]``, ``test[i]`` after subtracting the pack's
        mean (stage 6's score: ``<trials>.meansub.scores``, or ``.scores`` without a mean)."""
        enroll = np.atleast_2d(np.asarray(enroll, dtype=np.float64))
        test = np.atleast_2d(np.asarray(test, dtype=np.float64))
        if self.mean is not None:
            enroll, test = enroll - self.mean, test - self.mean
        index = np.arange(len(enroll))
        return cosine_scores(enroll, test, index, index)

    def llr(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated log-likelihood ratios of scores; ``PackError`` if the model has none."""
        if self.calibration is None:
            why = self.meta.get("provenance", {}).get("calibration_error",
                                                      "an experiment dir, not a pack")
            raise PackError(f"{self.source}: no calibration ({why})")
        return self.calibration.llr(np.asarray(scores, dtype=np.float64))

    def verify(self, audio_a: Audio, audio_b: Audio,
               p_target: float | None = None) -> Verification:
        """Score two recordings and, with a calibration, their LLR and same/different decision:
        the Bayes decision for the prior ``p_target`` (default: the pack's), which an LLR
        allows to choose at use time (threshold ``log((1 - p) / p)``)."""
        emb = self.embed_batch([audio_a, audio_b])
        score = float(self.score_embeddings(emb[:1], emb[1:])[0])
        if self.calibration is None:
            return Verification(score, None, None, None, None)
        llr = float(self.llr(np.array([score]))[0])
        if p_target is None:
            p_target = self.calibration.p_target
        if not 0.0 < p_target < 1.0:
            raise InputError(f"p_target must be in (0, 1), got {p_target}")
        threshold = float(np.log((1.0 - p_target) / p_target))
        return Verification(score, llr, llr >= threshold, threshold, p_target)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> PackedModel:
    """The model of a pack dir, or of an experiment dir (its ``pack/`` if it has one).

    A missing dir, a dir that is neither, a pack of another format version or unreadable
    weights is a ``PackError`` naming the path.
    """
    # Imported here: CheckpointError and ConfigError are what a broken pack's files raise.
    from xmodal.config import ConfigError
    from xmodal.train.checkpoint import CheckpointError

    path = Path(path)
    if not is_pack(path) and is_pack(path / "pack"):
        path = path / "pack"
    try:
        if is_pack(path):
            meta = read_pack_meta(path)
            encoder, _ = load_pretrained(path, device)
            mean = np.load(path / "mean.npy") if meta["scoring"].get("mean") else None
            if mean is not None and mean.shape != (meta["embedding_dim"],):
                raise PackError(f"{path}/mean.npy: shape {mean.shape}, expected "
                                f"({meta['embedding_dim']},)")
            calibration = (None if meta["calibration"] is None
                           else Calibration.from_dict(meta["calibration"]))
            model = PackedModel(encoder, path, meta["method"], mean, calibration, meta, device)
        elif (path / "config.yaml").is_file() and (path / "model.pt").is_file():
            encoder, cfg = load_pretrained(path, device)
            model = PackedModel(encoder, path, cfg.method,
                                device=device)
        else:
            read_pack_meta(path)  # raises the PackError that says what is missing
            raise AssertionError("unreachable")
    except (ConfigError, CheckpointError, OSError, ValueError) as err:
        if isinstance(err, PackError):
            raise
        raise PackError(f"{path}: cannot load the model: {err}") from None
    return model
