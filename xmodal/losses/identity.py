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


FACE_STEPS = ("random", "every")


class IdentityLoss(nn.Module):
    """B x B logits[i, j] = sim(face_i, voice_j); target j = i.

    voice = time-average of the audio identity head; face = the visual identity head at one
    step, because averaging face steps would let matching fall back on lip reading (paper).
    ``face_steps="random"`` scores one random step per track, as the paper does;
    ``"every"`` scores every step as its own query and averages the losses. That is the
    expectation of the random-step loss over the step drawn, the same objective without the
    draw's noise: every face step the trunk computed sends back a gradient, not one in S-4.
    """

    def __init__(self, similarity: str = "cosine", face_steps: str = "random"):
        super().__init__()
        if face_steps not in FACE_STEPS:
            raise ValueError(f"unknown face_steps {face_steps!r} (choose from {FACE_STEPS})")
        self.similarity = Similarity(similarity)
        self.face_steps = face_steps

    def forward(self, visual: torch.Tensor, audio: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Identity embeddings ``(B, D, S)`` of both streams -> (loss, accuracy)."""
        voice = audio.mean(dim=-1)
        if self.face_steps == "every":
            faces = visual.permute(2, 0, 1)  # (S, B, D): one B x B matching per step
            return matching_loss(self.similarity.logits(faces, voice.expand_as(faces)))
        return matching_loss(self.similarity.logits(pick_random_step(visual, generator), voice))
