"""The self-supervised objective of one training step, built from the loss config.

Only the losses a config asks for are built: a content-only run has no identity loss, no
adversaries and spends nothing on them.
"""
from __future__ import annotations

import torch
from torch import nn

from xmodal.losses.confusion import IdentityAdversary, SyncAdversary
from xmodal.losses.identity import IdentityLoss
from xmodal.losses.sync import SyncLoss
from xmodal.train.config import LossConfig

Outputs = dict[str, dict[str, torch.Tensor]]


class CrossModalObjective(nn.Module):
    """Content, identity and confusion losses; the learnable similarities live here."""

    def __init__(self, cfg: LossConfig, embed_dim: int):
        super().__init__()
        self.cfg = cfg
        self.sync = SyncLoss(cfg.similarity) if cfg.content else None
        self.identity = IdentityLoss(cfg.similarity) if cfg.identity else None

    def forward(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Losses and accuracies; ``loss`` is the weighted sum the network minimises."""
        a, v = out["audio"], out["visual"]
        terms: dict[str, torch.Tensor] = {}
        total = 0.0
        if self.sync is not None:
            terms["content_loss"], terms["content_acc"] = self.sync(v["content"], a["content"])
            total = total + terms["content_loss"]
        if self.identity is not None:
            terms["identity_loss"], terms["identity_acc"] = self.identity(
                v["identity"], a["identity"], generator)
            total = total + terms["identity_loss"]
        terms["loss"] = total
        return terms


class Adversaries(nn.Module):
    """The two confusion adversaries (DESIGN §4), trained by their own optimiser."""

    def __init__(self, cfg: LossConfig, embed_dim: int):
        super().__init__()
        self.alpha = cfg.alpha
        # (a) sync from identity embeddings, (b) track identity from content embeddings.
        self.sync_from_identity = SyncAdversary(embed_dim, cfg.adversary_dim, cfg.similarity)
        self.identity_from_content = IdentityAdversary(embed_dim, cfg.adversary_dim, cfg.similarity)

    def confusion(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """alpha x (CE to uniform) of both adversaries, adversaries frozen; their accuracies."""
        a, v = out["audio"], out["visual"]
        sync_conf, sync_acc = self.sync_from_identity.confusion_loss(v["identity"], a["identity"])
        id_conf, id_acc = self.identity_from_content.confusion_loss(
            v["content"], a["content"], generator)
        return {"confusion_loss": self.alpha * (sync_conf + id_conf),
                "leak_content_in_identity_acc": sync_acc,
                "leak_identity_in_content_acc": id_acc}

    def forward(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The adversaries' own loss on detached embeddings (no gradient reaches the model)."""
        a, v = out["audio"], out["visual"]
        sync_loss, _ = self.sync_from_identity.adversary_loss(v["identity"], a["identity"])
        id_loss, _ = self.identity_from_content.adversary_loss(v["content"], a["content"], generator)
        return {"adversary_loss": sync_loss + id_loss}
