"""The two-stream cross-modal model of Nagrani et al. 2020 (DESIGN §4).

An audio trunk and a visual trunk each give one ``trunk_dim`` vector per video frame step;
four heads turn those into content (what is said, in sync) and identity (who speaks)
embeddings for each modality.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from xmodal.models.audio_trunk import MIN_INPUT_FRAMES, PAPER_N_MELS, AudioTrunk
from xmodal.models.heads import EmbeddingHead
from xmodal.models.visual_trunk import PAPER_FACE_SIZE, VisualTrunk


@dataclass
class ModelConfig:
    """Model sizes; the defaults are the paper's configuration."""

    width: float = 1.0            # channel multiplier of every hidden trunk conv
    face_size: int = PAPER_FACE_SIZE
    face_channels: int = 3        # 3 = RGB, 1 = grayscale
    n_mels: int = PAPER_N_MELS
    embed_dim: int = 1024
    head_hidden: int = 512
    trunk_dim: int = 512          # trunk output channels = head input


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``module``; buffers are not counted."""
    return sum(p.numel() for p in module.parameters())


def faces_to_input(faces: torch.Tensor) -> torch.Tensor:
    """Face frames ``(B, N, H, W, C)`` -> trunk input ``(B, C, N, H, W)`` float.

    uint8 frames are scaled to [-0.5, 0.5]; float frames are taken as already scaled.
    """
    if faces.dim() != 5:
        raise ValueError(f"expected faces (B, N, H, W, C), got {tuple(faces.shape)}")
    if faces.dtype == torch.uint8:
        faces = faces.float() / 255.0 - 0.5
    return faces.permute(0, 4, 1, 2, 3)


class TwoStreamModel(nn.Module):
    """Audio and visual streams, each with a content and an identity head."""

    min_frames = MIN_INPUT_FRAMES  # the audio stream's shortest input
    frame_heads = ("identity", "content")  # audio heads with one output per time step

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.cfg = cfg
        self.audio_trunk = AudioTrunk(cfg.n_mels, cfg.width, cfg.trunk_dim)
        self.visual_trunk = VisualTrunk(cfg.face_size, cfg.face_channels, cfg.width,
                                        cfg.trunk_dim)
        head_sizes = (cfg.trunk_dim, cfg.head_hidden, cfg.embed_dim)
        self.audio_content = EmbeddingHead(*head_sizes)
        self.audio_identity = EmbeddingHead(*head_sizes)
        self.visual_content = EmbeddingHead(*head_sizes)
        self.visual_identity = EmbeddingHead(*head_sizes)

    @property
    def head_dims(self) -> dict[str, int]:
        """Width of each audio head's output."""
        return {"identity": self.cfg.embed_dim, "content": self.cfg.embed_dim}

    def forward_audio(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        """Log-mel ``(B, T, n_mels)`` -> ``identity`` and ``content``, each ``(B, D, S)``.

        S = T/4 - 4 for T a multiple of 4 (see ``audio_output_steps``).
        """
        x = self.audio_trunk(feats)
        return {"identity": self.audio_identity(x), "content": self.audio_content(x)}

    def forward_visual(self, faces: torch.Tensor) -> dict[str, torch.Tensor]:
        """Faces ``(B, N, H, W, C)``, uint8 or scaled float -> ``identity``, ``content``,
        each ``(B, D, N-4)``."""
        x = self.visual_trunk(faces_to_input(faces))
        return {"identity": self.visual_identity(x), "content": self.visual_content(x)}

    def forward(self, feats: torch.Tensor,
                faces: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """Both streams: ``{"audio": forward_audio(feats), "visual": forward_visual(faces)}``."""
        return {"audio": self.forward_audio(feats), "visual": self.forward_visual(faces)}

    @torch.no_grad()
    def embed_utterance(self, feats: torch.Tensor) -> torch.Tensor:
        """Speaker embedding ``(D,)`` of one whole utterance ``(1, T, n_mels)``.

        The audio stream runs over the whole utterance (fully convolutional in time) and the
        identity head is averaged over time. Put the model in eval mode first: in training
        mode BatchNorm would normalise with this utterance's own statistics.
        """
        if feats.dim() != 3 or feats.shape[0] != 1:
            raise ValueError(f"expected one utterance (1, T, n_mels), got {tuple(feats.shape)}")
        return self.forward_audio(feats)["identity"][0].mean(dim=-1)
