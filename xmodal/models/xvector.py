"""The x-vector extractor (Snyder et al. 2018) of the reconstruction method (DESIGN §6).

Five TDNN frame layers over log-mel frames, statistics pooling (mean and standard deviation
over time of the fifth layer) and an affine embedding layer, whose output is the x-vector.
The frame layers see the standard contexts {t-2..t+2}, {t-2, t, t+2}, {t-3, t, t+3}, {t}, {t}:
a receptive field of 15 frames, so an input of T frames gives T - 14 frame outputs (no
padding: every frame output sees real input). The input is mean-normalised per bin over the
utterance (Kaldi's CMN without variance normalisation), which removes a fixed channel gain.

``forward_audio`` gives the same heads as ``TwoStreamModel.forward_audio``, so extraction and
the content probe take either model: ``identity`` is the x-vector ``(B, D, 1)`` and
``content`` the frame-level output of the fourth layer ``(B, channels, T - 14)``, the last
per-frame representation before pooling (what the probe asks about: how much of what is said
survives up to where the embedding pools).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# (kernel size, dilation) of the five frame layers: the standard x-vector contexts.
FRAME_CONTEXTS = ((5, 1), (3, 2), (3, 3), (1, 1), (1, 1))
RECEPTIVE_FIELD = 1 + sum((k - 1) * d for k, d in FRAME_CONTEXTS)


@dataclass
class XVectorConfig:
    """Sizes; the defaults are the standard x-vector's (Kaldi's voxceleb/v2 recipe)."""

    n_mels: int = 40
    channels: int = 512           # frame layers 1-4
    pooled_dim: int = 1500        # frame layer 5, the input of statistics pooling
    embed_dim: int = 512          # the x-vector

    def __post_init__(self) -> None:
        if min(self.n_mels, self.channels, self.pooled_dim, self.embed_dim) < 1:
            raise ValueError("model.n_mels, channels, pooled_dim and embed_dim must be >= 1")


def _frame_layer(in_dim: int, out_dim: int, kernel: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(in_dim, out_dim, kernel, dilation=dilation),
                         nn.ReLU(), nn.BatchNorm1d(out_dim))


class XVectorExtractor(nn.Module):
    """Log-mel ``(B, T, n_mels)`` -> x-vectors, through TDNN layers and statistics pooling."""

    min_frames = RECEPTIVE_FIELD
    frame_heads = ("content",)  # the identity head is one pooled step

    def __init__(self, cfg: XVectorConfig | None = None):
        super().__init__()
        cfg = cfg or XVectorConfig()
        self.cfg = cfg
        dims = [cfg.n_mels] + [cfg.channels] * 4 + [cfg.pooled_dim]
        self.frames = nn.ModuleList(_frame_layer(dims[i], dims[i + 1], k, d)
                                    for i, (k, d) in enumerate(FRAME_CONTEXTS))
        self.embedding = nn.Linear(2 * cfg.pooled_dim, cfg.embed_dim)

    @property
    def head_dims(self) -> dict[str, int]:
        """Width of each head's output."""
        return {"identity": self.cfg.embed_dim, "content": self.cfg.channels}

    def frame_outputs(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel ``(B, T, n_mels)`` -> (layer-4 output ``(B, channels, T-14)``, layer-5
        output ``(B, pooled_dim, T-14)``)."""
        if feats.shape[1] < RECEPTIVE_FIELD:
            raise ValueError(f"the x-vector extractor needs >= {RECEPTIVE_FIELD} frames, got "
                             f"{feats.shape[1]}")
        x = feats - feats.mean(dim=1, keepdim=True)
        x = x.transpose(1, 2)
        for layer in self.frames[:4]:
            x = layer(x)
        return x, self.frames[4](x)

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(B, T, n_mels)`` -> x-vectors ``(B, embed_dim)``."""
        return self.pool(self.frame_outputs(feats)[1])

    def pool(self, frames: torch.Tensor) -> torch.Tensor:
        """Layer-5 output ``(B, pooled_dim, S)`` -> x-vectors: mean and standard deviation over
        time, then the embedding layer."""
        std = frames.var(dim=2, unbiased=False).clamp(min=1e-5).sqrt()
        return self.embedding(torch.cat([frames.mean(dim=2), std], dim=1))

    def forward_audio(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Log-mel ``(B, T, n_mels)`` -> ``identity`` (the x-vector, ``(B, D, 1)``) and
        ``content`` (the layer-4 frames, ``(B, channels, T-14)``)."""
        content, pooled = self.frame_outputs(feats)
        return {"identity": self.pool(pooled).unsqueeze(-1), "content": content}
