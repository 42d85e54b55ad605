"""N-pair loss (Sohn 2016) for fine-tuning speaker embeddings (DESIGN §5, Table 4)."""
from __future__ import annotations

import torch
from torch import nn

from xmodal.losses.similarity import matching_loss


class NPairLoss(nn.Module):
    """N anchor/positive pairs from N distinct classes; logits = anchors @ positives^T.

    Each anchor must pick its own positive among all N positives (the other N-1 act as
    negatives), cross-entropy to the diagonal. ``l2_reg`` adds ``l2_reg * mean(|a|^2 + |p|^2)``:
    the dot-product logits are unbounded, and the penalty keeps the norms from growing instead
    of the angles improving (Sohn 2016).
    """

    def __init__(self, l2_reg: float = 0.0):
        super().__init__()
        self.l2_reg = l2_reg

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor,
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings ``(N, D)`` each -> (loss, accuracy); ``labels (N,)``, if given, are checked
        to be distinct (a repeated class would be scored as its own negative)."""
        if anchors.shape != positives.shape or anchors.dim() != 2:
            raise ValueError(f"anchors {tuple(anchors.shape)} and positives "
                             f"{tuple(positives.shape)} must both be (N, D)")
        if labels is not None and labels.unique().numel() != labels.numel():
            raise ValueError("n-pair batches need one pair per class; labels repeat")
        loss, accuracy = matching_loss(anchors @ positives.T)
        if self.l2_reg:
            norms = anchors.pow(2).sum(dim=1) + positives.pow(2).sum(dim=1)
            loss = loss + self.l2_reg * norms.mean()
        return loss, accuracy
