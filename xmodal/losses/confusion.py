"""Disentanglement (confusion) loss after Alvi et al. 2018 (DESIGN §4).

Two adversaries, each a small learnable classifier for one of the model's own tasks solved
from the *other* embedding:

- ``SyncAdversary``: the content (sync) task from the identity embeddings;
- ``IdentityAdversary``: the identity (track) task from the content embeddings.

Each is used twice per step:

- ``adversary_loss``: its own cross-entropy on detached features, stepped by its own
  optimiser, so it keeps learning whatever the embeddings leak;
- ``confusion_loss``: cross-entropy of its softmax to the uniform distribution, computed with
  its parameters frozen (detached), so gradients reach the embeddings and not the adversary.
  The trainer weights it by ``alpha``.

Both return the adversary's accuracy: above chance means the other factor leaks.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from xmodal.losses.identity import pick_random_step
from xmodal.losses.similarity import Similarity, matching_loss


class _Adversary(nn.Module):
    """Per-modality linear projections ``D -> adv_dim`` and a similarity; ``forward`` gives
    the task's square logits (target = diagonal)."""

    def __init__(self, dim: int, adv_dim: int = 256, similarity: str = "cosine"):
        super().__init__()
        self.project_visual = nn.Linear(dim, adv_dim)
        self.project_audio = nn.Linear(dim, adv_dim)
        self.similarity = Similarity(similarity)

    def adversary_loss(self, visual: torch.Tensor, audio: torch.Tensor,
                       generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """The adversary's own (loss, accuracy) on detached embeddings ``(B, D, S)``."""
        return matching_loss(self(visual.detach(), audio.detach(), generator))

    def confusion_loss(self, visual: torch.Tensor, audio: torch.Tensor,
                       generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-entropy of the adversary's softmax to uniform, adversary accuracy).

        Equals log K when the adversary cannot tell the K candidates apart. The adversary's
        parameters enter detached: only the embeddings receive gradients.
        """
        frozen = {name: p.detach() for name, p in self.named_parameters()}
        logits = functional_call(self, frozen, (visual, audio), {"generator": generator})
        loss = -F.log_softmax(logits, dim=-1).mean(dim=-1).mean()
        _, accuracy = matching_loss(logits.detach())
        return loss, accuracy


class SyncAdversary(_Adversary):
    """Sync task from identity embeddings: per track, logits[i, j] = sim(visual_i, audio_j)."""

    def forward(self, visual: torch.Tensor, audio: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Identity embeddings ``(B, D, S)`` -> logits ``(B, S, S)`` (``generator`` unused)."""
        return self.similarity.logits(self.project_visual(visual.transpose(1, 2)),
                                      self.project_audio(audio.transpose(1, 2)))


class IdentityAdversary(_Adversary):
    """Track-identity task from content embeddings, pooled as in ``IdentityLoss``."""

    def forward(self, visual: torch.Tensor, audio: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Content embeddings ``(B, D, S)`` -> logits ``(B, B)``: one random face step vs the
        time-averaged voice."""
        face = self.project_visual(pick_random_step(visual, generator))
        voice = self.project_audio(audio.mean(dim=-1))
        return self.similarity.logits(face, voice)
