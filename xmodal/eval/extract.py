"""Stage 5: identity and content embeddings of utterances from a trained model (DESIGN §2, §4).

- Whole utterance (default): the audio stream runs over all T feature frames at once (it is
  fully convolutional in time); each head's ``ceil(T/4) - 4`` steps are averaged over time:
  one float32 identity vector and one content vector per utterance.
- Crops (``crop_frames`` > 0): crops start at frames 0, hop, 2 hop, ... (``crop_hop``, default
  ``crop_frames``: no overlap), plus one ending at the last frame if the others miss the tail.
  The utterance vector is the plain mean of the crop vectors; an utterance no longer than one
  crop is embedded whole.
- Short utterances: fewer than the model's ``min_frames`` (17 for the two-stream audio
  trunk, ``MIN_FRAMES``; 15 for the x-vector extractor) give no output step, so the frames
  are tiled (1..T, 1..T, ...) up to exactly that many. Tiling keeps the statistics the trunk's
  instance norm sees (a constant pad is a value the utterance never had). They are listed
  in ``padded`` (``<utt> <original frames>``) and counted in every summary.
- Any audio encoder with ``forward_audio`` (``identity`` and ``content`` as ``(B, D, S)``),
  ``min_frames`` and ``cfg.n_mels`` is extracted the same way: the two-stream model, the
  x-vector extractor (whose ``identity`` is one pooled step), the mean log-mel floor.
- An encoder of raw waveform (``input_kind = "waveform"``, e.g. face_generation's) reads the
  dump dir's ``wave.scp`` (16 kHz samples, ``DumpConfig.waveform``) instead of ``feats.scp``;
  its frames (``min_frames``, ``crop_frames``) are then samples. Every other encoder reads
  log-mel (``input_kind`` absent or ``"logmel"``).
- An empty feature matrix, NaN/inf, a wrong number of bins or an scp entry that cannot be
  loaded (ark missing, offset past its end) is an error naming the utterance and
  ``feats.scp:line``.

Inputs of equal length share a forward pass; nothing is padded to batch, since the instance
norm and the zero-padded conv edges would change the result.

The files a run writes, and the merge of a set's jobs, are ``xmodal.eval.embedding_sets``'.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from xmodal.data.datadir import write_table
from xmodal.data.scp import ScpReader
from xmodal.data.vector_ark import vector_writer
from xmodal.eval.embedding_sets import (DONE_MARKER, HEADS, EmbeddingFiles, ExtractError,
                                        ExtractStats, finish_set, utterance_list, writing)
from xmodal.models.audio_trunk import MIN_INPUT_FRAMES

# Smallest input the two-stream audio trunk gives an output step for.
MIN_FRAMES = MIN_INPUT_FRAMES


@dataclass
class ExtractConfig:
    """How utterances are cut and batched (see the module docstring)."""

    crop_frames: int = 0            # 0: embed the whole utterance
    crop_hop: int = 0               # 0: crop_frames (crops do not overlap)
    max_batch_frames: int = 8000    # equal-length inputs per forward pass, in frames in total
    chunk_utts: int = 128           # utterances read ahead and grouped by length

    def __post_init__(self) -> None:
        if self.crop_frames < 0 or self.crop_hop < 0:
            raise ExtractError(f"crop_frames must be 0 (whole utterance) or > 0, and crop_hop "
                               f">= 0; got {self.crop_frames} and {self.crop_hop}")
        if self.max_batch_frames < 1 or self.chunk_utts < 1:
            raise ExtractError("max_batch_frames and chunk_utts must be >= 1")

    @property
    def hop(self) -> int:
        """Frames between crop starts."""
        return self.crop_hop or self.crop_frames


def repeat_pad(feats: np.ndarray, min_frames: int = MIN_FRAMES) -> np.ndarray:
    """``feats`` (frames first: ``(T, bins)``, or ``(T,)`` samples) tiled along time up to
    exactly ``min_frames`` frames; longer input unchanged."""
    if len(feats) >= min_frames:
        return feats
    repeats = -(-min_frames // len(feats))
    return np.tile(feats, (repeats,) + (1,) * (feats.ndim - 1))[:min_frames]


def crop_starts(n_frames: int, crop_frames: int, hop: int) -> list[int]:
    """First frames of the crops of an ``n_frames`` utterance; ``[0]`` if it fits in one crop."""
    if crop_frames <= 0 or n_frames <= crop_frames:
        return [0]
    starts = list(range(0, n_frames - crop_frames + 1, hop))
    if starts[-1] + crop_frames < n_frames:
        starts.append(n_frames - crop_frames)
    return starts


def utterance_inputs(feats: np.ndarray, config: ExtractConfig,
                     min_frames: int = MIN_FRAMES) -> list[np.ndarray]:
    """The model inputs of one utterance: itself (repeat-padded to ``min_frames`` if short)
    or its crops."""
    feats = repeat_pad(feats, min_frames)
    if not config.crop_frames:
        return [feats]
    return [feats[s:s + config.crop_frames]
            for s in crop_starts(len(feats), config.crop_frames, config.hop)]


@torch.inference_mode()
def embed_inputs(model: nn.Module, inputs: list[np.ndarray], max_batch_frames: int = 8000,
                 device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """Time-averaged ``identity`` and ``content`` vectors ``(len(inputs), D_head)`` of feature
    inputs, from an audio encoder's ``forward_audio``.

    Inputs of equal length are stacked into batches of at most ``max_batch_frames`` frames (at
    least one input each). The model must be in eval mode.
    """
    by_length: dict[int, list[int]] = {}
    for i, feats in enumerate(inputs):
        by_length.setdefault(len(feats), []).append(i)
    out: dict[str, np.ndarray] = {}
    for length, indices in by_length.items():
        per_batch = max(1, max_batch_frames // length)
        for start in range(0, len(indices), per_batch):
            part = indices[start:start + per_batch]
            batch = torch.from_numpy(np.stack([inputs[i] for i in part])).to(device)
            steps = model.forward_audio(batch)
            for head in HEADS:
                if head not in out:  # the heads' widths differ for some encoders
                    out[head] = np.empty((len(inputs), steps[head].shape[1]), np.float32)
                out[head][part] = steps[head].mean(dim=-1).float().cpu().numpy()
    return out


def checked_features(key: str, feats: np.ndarray, where: str, n_mels: int) -> np.ndarray:
    """``feats`` as float32 ``(T, n_mels)``; empty, wrongly shaped or non-finite input fails."""
    feats = np.asarray(feats, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise ExtractError(f"{where}: utterance '{key}' has an empty feature matrix "
                           f"(shape {feats.shape})")
    if feats.shape[1] != n_mels:
        raise ExtractError(f"{where}: utterance '{key}' has {feats.shape[1]} feature bins; the "
                           f"model expects {n_mels}")
    if not np.isfinite(feats).all():
        frame = int(np.argwhere(~np.isfinite(feats))[0][0])
        raise ExtractError(f"{where}: utterance '{key}' has NaN or inf features (first at "
                           f"frame {frame})")
    return feats


def is_waveform_encoder(model: nn.Module) -> bool:
    """Whether ``model`` reads 16 kHz samples (``input_kind = "waveform"``), not log-mel."""
    return getattr(model, "input_kind", "logmel") == "waveform"


def input_scp(model: nn.Module, dump_dir: str | os.PathLike) -> Path:
    """The scp of ``dump_dir`` that ``model`` reads: ``wave.scp`` for a waveform encoder (an
    ``ExtractError`` naming the dump dir if it has none), ``feats.scp`` otherwise."""
    if not is_waveform_encoder(model):
        return Path(dump_dir) / "feats.scp"
    path = Path(dump_dir) / "wave.scp"
    if not path.is_file():
        raise ExtractError(f"{dump_dir}: no wave.scp, and the model encodes raw waveform: "
                           "dump the set with 'waveform: true' in the dump config")
    return path


def checked_input(model: nn.Module, key: str, array: np.ndarray, where: str) -> np.ndarray:
    """``array`` as ``model``'s float32 input: log-mel ``(T, cfg.n_mels)``
    (``checked_features``), or samples ``(T,)`` for a waveform encoder; empty, wrongly shaped
    or non-finite input fails naming ``where`` and ``key``."""
    if not is_waveform_encoder(model):
        return checked_features(key, array, where, model.cfg.n_mels)
    wave = np.asarray(array, dtype=np.float32)
    if wave.ndim != 1 or wave.shape[0] == 0:
        raise ExtractError(f"{where}: utterance '{key}' is not a non-empty 1-D waveform "
                           f"(shape {wave.shape})")
    if not np.isfinite(wave).all():
        raise ExtractError(f"{where}: utterance '{key}' has NaN or inf samples (first at "
                           f"sample {int(np.argwhere(~np.isfinite(wave))[0][0])})")
    return wave


def feature_bins(feats_dir: str | os.PathLike) -> int:
    """Feature bins of a dump dir: the width of its first ``feats.scp`` entry."""
    reader = ScpReader(Path(feats_dir) / "feats.scp")
    key = next(iter(reader), None)
    if key is None:
        raise ExtractError(f"{feats_dir}/feats.scp: no utterances")
    return int(np.shape(reader[key])[-1])


def extract_embeddings(model: nn.Module, feats_dir: str | os.PathLike,
                       out_dir: str | os.PathLike, job: int | None = None,
                       data_dir: str | os.PathLike | None = None,
                       config: ExtractConfig | None = None,
                       device: str | torch.device = "cpu") -> ExtractStats:
    """Embed the utterances of ``feats_dir/feats.scp`` (``wave.scp`` for a waveform encoder,
    ``input_scp``) into ``out_dir``.

    ``data_dir`` (e.g. one part of a split of the dump dir) restricts the run to its
    utterances, each of which must have features. With ``job`` the run writes job files for
    ``merge_embeddings``; without, it writes the final files, speaker means and ``.done``.
    """
    config = config or ExtractConfig()
    min_frames = model.min_frames
    if 0 < config.crop_frames < min_frames:
        raise ExtractError(f"crop_frames {config.crop_frames} is shorter than the model's "
                           f"{min_frames}-frame minimum input")
    feats_scp = input_scp(model, feats_dir)
    feats_table = ScpReader(feats_scp, require_sorted=True)
    keys = utterance_list(data_dir) if data_dir is not None else list(feats_table)
    missing = [key for key in keys if key not in feats_table]
    if missing:
        raise ExtractError(f"{len(missing)} utterance(s) of {data_dir} have no features in "
                           f"{feats_scp}, e.g. {', '.join(missing[:3])} (split the dump dir, "
                           "not the source data dir)")
    out_dir = Path(out_dir)
    files = EmbeddingFiles(out_dir, job)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        # Earlier output of this run, and the set's completion mark, no longer count.
        (out_dir / DONE_MARKER).unlink(missing_ok=True)
        for path in files.all_files():
            path.unlink(missing_ok=True)
    padded: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        writers = {}
        for head in HEADS:
            stack.enter_context(writing(files.ark(head)))  # a failure to close it names it
            writers[head] = stack.enter_context(vector_writer(files.ark(head), files.scp(head)))
        # Closed on errors too, so an error message starts on a line of its own.
        progress = stack.enter_context(tqdm(
            total=len(keys), desc=f"extract{'' if job is None else f' job {job}'}", unit="utt",
            file=sys.stderr, mininterval=1.0))
        for start in range(0, len(keys), config.chunk_utts):
            chunk = keys[start:start + config.chunk_utts]
            inputs, owners = [], []
            for i, key in enumerate(chunk):
                feats = checked_input(model, key, feats_table[key], feats_table.where(key))
                if len(feats) < min_frames:
                    padded[key] = str(len(feats))
                pieces = utterance_inputs(feats, config, min_frames)
                inputs += pieces
                owners += [i] * len(pieces)
            vectors = embed_inputs(model, inputs, config.max_batch_frames, device)
            owners_array = np.asarray(owners)
            for i, key in enumerate(chunk):
                for head in HEADS:
                    with writing(files.ark(head)):
                        writers[head](key, vectors[head][owners_array == i].mean(axis=0))
            progress.update(len(chunk))
    stats = ExtractStats(len(keys), padded)
    with writing(out_dir):
        write_table(files.padded, padded)
        if job is None:
            stats.n_speakers = finish_set(out_dir, data_dir if data_dir is not None else feats_dir)
    return stats


