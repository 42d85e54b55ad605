"""Similarity scores between embeddings, and the matching loss every objective here shares."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SIMILARITY_KINDS = ("cosine", "euclidean")


class Similarity(nn.Module):
    """Pairwise similarity logits: ``w * cos + b`` (learnable) or negative Euclidean distance.

    ``cosine``: w starts at 10 and b at -5 (official code), so the logits span [-15, 5] and
    the softmax is sharp enough to learn from at initialisation. ``euclidean`` (paper) has no
    parameters.
    """

    def __init__(self, kind: str = "cosine", init_scale: float = 10.0, init_bias: float = -5.0):
        super().__init__()
        if kind not in SIMILARITY_KINDS:
            raise ValueError(f"unknown similarity {kind!r} "
                             f"(choose from {', '.join(SIMILARITY_KINDS)})")
        self.kind = kind
        if kind == "cosine":
            self.scale = nn.Parameter(torch.tensor(float(init_scale)))
            self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    def logits(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x (..., M, D)``, ``y (..., K, D)`` -> ``(..., M, K)``, entry [m, k] = sim(x_m, y_k)."""
        if self.kind == "cosine":
            cos = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(-1, -2)
            return self.scale * cos + self.bias
        # The direct (non-matmul) form is exact at zero distance, where its gradient is 0
        # rather than the NaN/inf a sqrt of a cancelled |x|^2 + |y|^2 - 2xy can give.
        return -torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


def matching_loss(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of square ``logits (..., K, K)`` with target column = row; and accuracy.

    Row i scores candidate k for query i; the right answer is k = i. Both results are means
    over every row; the accuracy is detached.
    """
    k = logits.shape[-1]
    if logits.shape[-2] != k:
        raise ValueError(f"matching logits must be square, got {tuple(logits.shape)}")
    flat = logits.reshape(-1, k)
    target = torch.arange(k, device=logits.device).repeat(flat.shape[0] // k)
    loss = F.cross_entropy(flat, target)
    accuracy = (flat.detach().argmax(dim=-1) == target).float().mean()
    return loss, accuracy
