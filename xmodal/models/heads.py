"""Embedding heads applied at every time step of a trunk output (DESIGN §4)."""
from __future__ import annotations

import torch
from torch import nn


class EmbeddingHead(nn.Module):
    """``(B, in_dim, S) -> (B, embed_dim, S)``: conv1d k1, BatchNorm, ReLU, conv1d k1.

    Kernel size 1 keeps each step's embedding a function of that step's trunk output only, so
    the time alignment (and receptive field) of the trunk is unchanged.
    """

    def __init__(self, in_dim: int = 512, hidden: int = 512, embed_dim: int = 1024):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(in_dim, hidden, 1), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Conv1d(hidden, embed_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk output ``(B, in_dim, S)`` -> embeddings ``(B, embed_dim, S)``."""
        return self.layers(x)
