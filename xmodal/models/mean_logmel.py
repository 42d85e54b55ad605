"""The floor of speaker embeddings: an utterance's mean log-mel vector, nothing learnt.

It keeps exactly the long-term spectrum that the cross-modal audio trunk's instance norm
removes (vocal tract, but also the recording channel), so a learnt embedding that does not
beat it has learnt nothing a spectrum average does not already give. It has the audio
interface stage 5 uses (``forward_audio``), so it is extracted and scored like a model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MeanLogMelConfig:
    """What stage 5 reads of a model's config: input bins and embedding size (the same)."""

    n_mels: int

    @property
    def embed_dim(self) -> int:
        """One dimension per mel bin."""
        return self.n_mels


class MeanLogMel(nn.Module):
    """``forward_audio``: the features themselves as per-step embeddings, so the time
    average stage 5 takes is the mean log-mel vector."""

    min_frames = 1

    def __init__(self, n_mels: int):
        super().__init__()
        self.cfg = MeanLogMelConfig(n_mels)

    def forward_audio(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Log-mel ``(B, T, n_mels)`` -> ``identity`` and ``content``, each ``(B, n_mels, T)``."""
        if feats.dim() != 3 or feats.shape[2] != self.cfg.n_mels:
            raise ValueError(f"expected features (B, T, {self.cfg.n_mels}), got "
                             f"{tuple(feats.shape)}")
        steps = feats.transpose(1, 2)
        return {"identity": steps, "content": steps}
