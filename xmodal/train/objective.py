"""The self-supervised objective of one training step, built from the loss config.

Only the losses a config asks for are built: a content-only run has no identity loss, no
adversaries and spends nothing on them.

Under DDP each rank holds a slice of the global batch. The content task compares steps within
one track, so each rank's mean is enough (DDP averages the gradients). The identity tasks
compare tracks with each other: in training they gather every rank's embeddings
(``gather_batch``) and score the whole global batch, so B-way means the global B and the
result does not depend on the number of processes.
"""
from __future__ import annotations

import torch
from torch import nn

from xmodal.losses.confusion import IdentityAdversary, SyncAdversary
from xmodal.losses.identity import IdentityLoss
from xmodal.losses.sync import SyncLoss
from xmodal.train.config import LossConfig
from xmodal.train.distributed import gather_batch

Outputs = dict[str, dict[str, torch.Tensor]]


def _global_batch(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` of every rank in training; this process' own ``x`` in evaluation, which runs on
    one rank only (gathering there would wait for ranks that never come)."""
    return gather_batch(x) if module.training else x


class CrossModalObjective(nn.Module):
    """Content, identity and confusion losses; the learnable similarities live here."""

    def __init__(self, cfg: LossConfig, embed_dim: int):
        super().__init__()
        self.cfg = cfg
        self.sync = SyncLoss(cfg.similarity) if cfg.content else None
        self.identity = (IdentityLoss(cfg.similarity, cfg.identity_face_steps)
                         if cfg.identity else None)

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
                _global_batch(self, v["identity"]), _global_batch(self, a["identity"]), generator)
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
            _global_batch(self, v["content"]), _global_batch(self, a["content"]), generator)
        return {"confusion_loss": self.alpha * (sync_conf + id_conf),
                "leak_content_in_identity_acc": sync_acc,
                "leak_identity_in_content_acc": id_acc}

    def forward(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The adversaries' own loss on detached embeddings (no gradient reaches the model)."""
        a, v = out["audio"], out["visual"]
        sync_loss, _ = self.sync_from_identity.adversary_loss(v["identity"], a["identity"])
        id_loss, _ = self.identity_from_content.adversary_loss(
            _global_batch(self, v["content"].detach()), _global_batch(self, a["content"].detach()),
            generator)
        return {"adversary_loss": sync_loss + id_loss}
