"""The post-hoc leakage meter: known answers from embeddings that carry one factor exactly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from xmodal.eval.leakage import measure_leakage


class TimeCodedIdentity(nn.Module):
    """Identity embeddings that are the window step's one-hot code (so the sync task can be
    read from them exactly); content embeddings that are the same everywhere (so nothing,
    identity included, can be read from them)."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.dim = dim
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, feats: torch.Tensor, faces: torch.Tensor) -> dict:
        b, steps = feats.shape[0], faces.shape[1] - 4
        code = torch.eye(self.dim)[:steps].T.expand(b, self.dim, steps)
        same = torch.ones(b, self.dim, steps)
        stream = {"identity": code.clone(), "content": same}
        return {"audio": stream, "visual": {k: v.clone() for k, v in stream.items()}}


def test_probes_read_what_the_embeddings_carry_and_nothing_else(tiny_dump: Path):
    r = measure_leakage(TimeCodedIdentity(), tiny_dump / "ssl_train", tiny_dump / "ssl_test",
                        embed_dim=16, n_frames=12, batch_size=2, train_steps=150, test_batches=10,
                        probe_dim=16, lr=3e-2, n_boot=100)
    assert r["chance_sync"] == 1 / 8 and r["chance_identity"] == 1 / 2
    assert r["leak_sync_from_identity"] > 0.9, r
    # Identical logits: the argmax is always the first candidate, right once per batch.
    assert r["leak_identity_from_content"] == pytest.approx(0.5), r
    low, high = r["leak_sync_from_identity_ci"]
    assert low <= r["leak_sync_from_identity"] <= high
