"""The optional discriminators of the face-generation method (Shukla et al. 2020, after
Vougioukas et al.'s speech-driven animation): a frame discriminator, which judges one frame
beside the still frame it was generated from (is it this person's face?), and a sequence
discriminator, which judges a window of frames with its audio (do they move, and move with
this audio?). Both give one logit per input; the losses are ``gan_losses``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

GAN_LOSSES = ("non_saturating", "hinge")


def _down(c_in: int, c_out: int) -> list[nn.Module]:
    # No BatchNorm: a discriminator judges real and generated batches separately.
    return [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]


def _image_encoder(c_in: int, channels: int, levels: int) -> nn.Sequential:
    """Strided convolutions, then a spatial mean: ``(B, c_in, H, W)`` -> ``(B, C)``."""
    layers: list[nn.Module] = []
    for i in range(levels):
        c_out = channels * min(2 ** i, 8)
        layers += _down(c_in, c_out)
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def encoder_width(channels: int, levels: int) -> int:
    """Output width of ``_image_encoder``."""
    return channels * min(2 ** (levels - 1), 8)


class FrameDiscriminator(nn.Module):
    """Frames ``(B, S, C, H, W)`` with their still frame ``(B, C, H, W)`` -> logits ``(B, S)``."""

    def __init__(self, frame_channels: int, channels: int, levels: int):
        super().__init__()
        self.encoder = _image_encoder(2 * frame_channels, channels, levels)
        self.logit = nn.Linear(encoder_width(channels, levels), 1)

    def forward(self, frames: torch.Tensor, still: torch.Tensor) -> torch.Tensor:
        batch, steps = frames.shape[:2]
        still = still.unsqueeze(1).expand_as(frames)
        x = torch.cat([frames, still], dim=2).flatten(0, 1)
        return self.logit(self.encoder(x)).view(batch, steps)


class SequenceDiscriminator(nn.Module):
    """Frames ``(B, S, C, H, W)`` with their audio features ``(B, D, S)`` -> logits ``(B,)``."""

    def __init__(self, frame_channels: int, audio_dim: int, channels: int, levels: int):
        super().__init__()
        self.frames = _image_encoder(frame_channels, channels, levels)
        width = encoder_width(channels, levels)
        # Over time: how consecutive frames change, and whether with the audio.
        self.temporal = nn.Sequential(
            nn.Conv1d(width + audio_dim, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv1d(width, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))
        self.logit = nn.Linear(width, 1)

    def forward(self, frames: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        batch, steps = frames.shape[:2]
        x = self.frames(frames.flatten(0, 1)).view(batch, steps, -1).transpose(1, 2)
        x = self.temporal(torch.cat([x, audio], dim=1))
        return self.logit(x.mean(dim=2)).squeeze(1)


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The discriminator's loss on logits of real and generated inputs."""
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator's loss on the discriminator's logits of generated inputs
    (non-saturating: -log D(fake); hinge: -D(fake))."""
    return -fake.mean() if kind == "hinge" else F.softplus(-fake).mean()
