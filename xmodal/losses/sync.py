"""Content (synchronisation) loss, DESIGN §4: find the audio step that matches each face step."""
from __future__ import annotations

import torch
from torch import nn

from xmodal.losses.similarity import Similarity, matching_loss


class SyncLoss(nn.Module):
    """Per track, logits[i, j] = sim(visual_i, audio_j) over its S steps; target j = i.

    The S candidates all come from the same track (same speaker, same face), so only the
    timing of what is said tells them apart: this is what makes the embeddings "content".
    """

    def __init__(self, similarity: str = "cosine"):
        super().__init__()
        self.similarity = Similarity(similarity)

    def forward(self, visual: torch.Tensor,
                audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Content embeddings ``(B, D, S)`` of both streams -> (loss, accuracy), averaged over
        tracks."""
        if visual.shape != audio.shape:
            raise ValueError(f"visual {tuple(visual.shape)} and audio {tuple(audio.shape)} differ")
        logits = self.similarity.logits(visual.transpose(1, 2), audio.transpose(1, 2))  # (B, S, S)
        return matching_loss(logits)
