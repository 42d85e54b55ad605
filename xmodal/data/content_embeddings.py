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
from collections.abc import Iterator, Mapping
from pathlib import Path

import kaldiio
import numpy as np

from xmodal.data.datadir import DataDirError
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


class ContentEmbeddings(Mapping):
    """Utterance -> float32 ``(S, D)`` step embeddings of a ``content_emb.scp``, read on
    access; every matrix must be 2-D with the width of the first."""

    def __init__(self, scp_path: str | os.PathLike):
        self.scp_path = Path(scp_path)
        if not self.scp_path.is_file():
            raise DataDirError(f"{self.scp_path}: file not found (write it with "
                               "xmodal.bin.dump_content_embeddings)")
        try:
            self._loader = kaldiio.load_scp(str(self.scp_path))
        except ValueError as err:  # a line without '<utt> <ark>:<offset>'
            raise DataDirError(f"{self.scp_path}: {err}") from None
        first = next(iter(self._loader), None)
        if first is None:
            raise DataDirError(f"{self.scp_path}: no utterances")
        self.width = self[first].shape[1]

    def __getitem__(self, utt: str) -> np.ndarray:
        where = f"{self.scp_path}: utterance '{utt}'"
        try:
            matrix = np.asarray(self._loader[utt], dtype=np.float32)
        except KeyError:
            raise KeyError(utt) from None
        except Exception as err:  # kaldiio: missing ark, bad offset, unknown data type
            raise DataDirError(f"{where}: cannot read the matrix: {err}") from None
        if matrix.ndim != 2 or (hasattr(self, "width") and matrix.shape[1] != self.width):
            raise DataDirError(f"{where}: expected a (steps, {getattr(self, 'width', 'D')}) "
                               f"matrix, got shape {matrix.shape}")
        return matrix

    def __iter__(self) -> Iterator[str]:
        return iter(self._loader)

    def __len__(self) -> int:
        return len(self._loader)
