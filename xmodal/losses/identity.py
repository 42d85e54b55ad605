"""Identity loss, DESIGN §4: match each track's face to its own voice among the batch's tracks."""
from __future__ import annotations

import torch
from torch import nn

from xmodal.losses.similarity import Similarity, matching_loss


def pick_random_step(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One uniformly drawn time step per track: ``(B, D, S) -> (B, D)``.

    Indices are drawn on the generator's device (CPU when None: the global generator).
    """
    batch, _, steps = x.shape
    device = generator.device if generator is not None else torch.device("cpu")
    index = torch.randint(steps, (batch,), generator=generator, device=device).to(x.device)
    return x[torch.arange(batch, device=x.device), :, index]


class IdentityLoss(nn.Module):
    """B x B logits[i, j] = sim(face_i, voice_j); target j = i.

    voice = time-average of the audio identity head; face = the visual identity head at one
    random step, because averaging face steps would let matching fall back on lip reading
    (paper).
    """

    def __init__(self, similarity: str = "cosine"):
        super().__init__()
        self.similarity = Similarity(similarity)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Identity embeddings ``(B, D, S)`` of both streams -> (loss, accuracy)."""
        face = pick_random_step(visual, generator)
        voice = audio.mean(dim=-1)
        return matching_loss(self.similarity.logits(face, voice))
