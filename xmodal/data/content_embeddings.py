"""Frozen frame-level content embeddings of a cross-modal model, as a content input.

The reconstruction method's ``content_embedding`` input (DESIGN §6) is what a trained
cross-modal model (``method: cross_modal``) hears being said: its audio content head, one
vector per video frame (25 per second), learnt from lip sync with no transcripts. Neither
paper has this combination: Stafylakis et al.'s decoder told what is said by the speech
itself through another network's self-supervised content stream.

Files in a dump dir:

``content_emb.scp`` / ``content_emb.ark``
    kaldiio float32 ``(S, D)`` matrices, one row per step of the model's audio trunk: step
    ``j`` is centred on feature frame ``4 j + 8`` (``xmodal.models.audio_trunk``), so an
    utterance of T frames (a multiple of 4) has ``T/4 - 4`` steps; ``(0, D)`` for one too
    short for a step.
``content_emb.source``
    the experiment dir the embeddings came from, so a different model is not mistaken for
    the one written.

``expand_to_frames`` gives each feature frame the step nearest to it (the edges, which no
step is centred on, take the first or last step).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xmodal.data.datadir import DataDirError
from xmodal.data.scp import ScpReader
from xmodal.models.audio_trunk import FIRST_STEP_CENTRE, FRAMES_PER_STEP

CONTENT_EMB_SCP = "content_emb.scp"
CONTENT_EMB_ARK = "content_emb.ark"
CONTENT_EMB_SOURCE = "content_emb.source"


def frame_steps(n_frames: int, n_steps: int) -> np.ndarray:
    """Index of the step nearest to each of ``n_frames`` feature frames, ``(n_frames,)``."""
    if n_steps < 1:
        raise ValueError("a frame needs at least one step to take its embedding from")
    centres = np.arange(n_frames) - FIRST_STEP_CENTRE
    # Round half up: frame 4j + 10 lies between the centres of steps j and j + 1.
    return np.clip((centres + FRAMES_PER_STEP // 2) // FRAMES_PER_STEP, 0, n_steps - 1)


def expand_to_frames(steps: np.ndarray, n_frames: int) -> np.ndarray:
    """Step embeddings ``(S, D)`` -> per-frame ``(n_frames, D)`` float32 (zeros if S = 0)."""
    steps = np.asarray(steps, dtype=np.float32)
    if len(steps) == 0:
        return np.zeros((n_frames, steps.shape[1]), np.float32)
    return steps[frame_steps(n_frames, len(steps))]


class ContentEmbeddings(ScpReader):
    """Utterance -> float32 ``(S, D)`` step embeddings of a ``content_emb.scp``, read on
    access (``ScpReader``'s checked loading); every matrix must be 2-D with the width of the
    first."""

    def __init__(self, scp_path: str | os.PathLike):
        scp_path = Path(scp_path)
        if not scp_path.is_file():
            raise DataDirError(f"{scp_path}: file not found (write it with "
                               "xmodal.bin.dump_content_embeddings)")
        super().__init__(scp_path)
        first = next(iter(self), None)
        if first is None:
            raise DataDirError(f"{scp_path}: no utterances")
        self.width: int | None = None
        self.width = self[first].shape[1]

    def __getitem__(self, utt: str) -> np.ndarray:
        matrix = np.asarray(super().__getitem__(utt), dtype=np.float32)
        if matrix.ndim != 2 or (self.width is not None and matrix.shape[1] != self.width):
            raise DataDirError(f"{self.path}: utterance '{utt}': expected a (steps, "
                               f"{self.width or 'D'}) matrix, got shape {matrix.shape}")
        return matrix
