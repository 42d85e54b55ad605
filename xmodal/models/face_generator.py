"""The face generator of the face-generation method (Shukla et al. 2020; DESIGN §6): an
identity encoder of one still frame and a decoder that draws, for every video frame, the face
that frame's audio vector implies.

What is generated is the **lower face** only: a fixed region of the face crop
(``model.region``, fractions of the crop; by default the lower half, where the mouth and jaw
move), optionally grey and resized to ``model.gen_size`` pixels wide. Face-track crops wobble
with the tracker (the synthetic faces move by a smooth random walk per frame, like real
tracks), and an L1 over the whole face is dominated by that head pose, which the audio cannot
predict; the lower face keeps the pixels the audio drives. ``FaceRegion`` cuts and converts
real frames exactly as the loss and the generator see them.

The identity encoder is a strided 2-D convolution stack over the still frame's region; its
feature maps at every resolution are the decoder's skips (U-Net style), its coarsest map the
identity code. Per frame, the audio vector (after a small temporal convolution over the
window's vectors, for smooth motion) is projected to a map at the coarsest resolution,
concatenated with the identity code and upsampled back, level by level, with the skip of each
resolution; a sigmoid gives pixels in [0, 1] (faces / 255).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from xmodal.models.audio_encoders import AUDIO_ENCODERS, AudioEncoderConfig
from xmodal.models.audio_trunk import PAPER_N_MELS

# ITU-R BT.601 luma, as OpenCV's RGB -> grey conversion (the dump's face_gray).
LUMA = (0.299, 0.587, 0.114)


@dataclass
class GenerationModelConfig:
    """The audio encoder, the face region generated and the generator's sizes."""

    audio_encoder: str = "waveform"  # waveform (paper) or logmel (the recipe's trunk)
    audio_width: float = 1.0      # channel multiplier of the audio encoder's hidden convs
    audio_dim: int = 512          # audio features per video frame (what model.pt gives)
    n_mels: int = PAPER_N_MELS    # logmel input bins
    face_size: int = 224          # the dump's face crops (face_size of the dump config)
    face_channels: int = 3        # the dump's: 3 RGB, 1 grey
    # Generated region (top, bottom, left, right) as fractions of the crop: the lower face.
    region: list[float] = field(default_factory=lambda: [0.5, 1.0, 0.0, 1.0])
    gray: bool = False            # generate grey frames
    gen_size: int = 0             # generated width in pixels (height keeps the region's
                                  # aspect ratio); 0 = the region's own size in the crop
    gen_channels: int = 64        # channels of the first generator level (doubling, <= 8x)
    gen_levels: int = 4           # resolution halvings of the identity encoder
    temporal_kernel: int = 3      # frames of the audio-vector smoothing conv (1 = none)

    def __post_init__(self) -> None:
        if self.audio_encoder not in AUDIO_ENCODERS:
            raise ValueError(f"model.audio_encoder must be one of {AUDIO_ENCODERS}, got "
                             f"{self.audio_encoder!r}")
        if len(self.region) != 4 or not (0 <= self.region[0] < self.region[1] <= 1
                                         and 0 <= self.region[2] < self.region[3] <= 1):
            raise ValueError("model.region must be [top, bottom, left, right] with 0 <= top < "
                             f"bottom <= 1 and 0 <= left < right <= 1, got {self.region}")
        if self.face_channels not in (1, 3):
            raise ValueError(f"model.face_channels must be 1 or 3, got {self.face_channels}")
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f"model.temporal_kernel must be odd and >= 1, got "
                             f"{self.temporal_kernel}")
        if min(self.audio_dim, self.gen_channels, self.gen_levels, self.face_size) < 1 \
                or self.gen_size < 0 or self.audio_width <= 0:
            raise ValueError("model.audio_dim, gen_channels, gen_levels, face_size >= 1, "
                             "gen_size >= 0 and audio_width > 0 are required")
        height, width = self.frame_shape
        step = 2 ** self.gen_levels
        if height % step or width % step:
            raise ValueError(f"the generated frames ({height}x{width} px from model.region, "
                             f"face_size and gen_size) must be multiples of 2^gen_levels = "
                             f"{step} px in both directions")

    @property
    def region_pixels(self) -> tuple[int, int, int, int]:
        """Rows [top, bottom) and columns [left, right) of the region in the crop."""
        top, bottom, left, right = (round(f * self.face_size) for f in self.region)
        return top, bottom, left, right

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of generated frames, pixels."""
        top, bottom, left, right = self.region_pixels
        if not self.gen_size:
            return bottom - top, right - left
        return round(self.gen_size * (bottom - top) / (right - left)), self.gen_size

    @property
    def out_channels(self) -> int:
        """Channels of generated frames: 1 if grey (or grey faces), else 3."""
        return 1 if self.gray or self.face_channels == 1 else 3

    def audio(self) -> AudioEncoderConfig:
        """The audio encoder's settings."""
        return AudioEncoderConfig(self.audio_encoder, self.n_mels, self.audio_width,
                                  self.audio_dim)


class FaceRegion(nn.Module):
    """uint8 face crops ``(..., S, S, C)`` -> the generated region as float ``(..., C', H, W)``
    in [0, 1]: cut, made grey if ``gray``, resized to the generated size (area-like
    antialiased bilinear)."""

    def __init__(self, cfg: GenerationModelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("luma", torch.tensor(LUMA).view(3, 1, 1), persistent=False)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        size, channels = self.cfg.face_size, self.cfg.face_channels
        if faces.dim() < 3 or tuple(faces.shape[-3:]) != (size, size, channels):
            raise ValueError(f"expected face crops (..., {size}, {size}, {channels}) as "
                             f"model.face_size and face_channels say, got {tuple(faces.shape)}")
        top, bottom, left, right = self.cfg.region_pixels
        lead = faces.shape[:-3]
        x = faces[..., top:bottom, left:right, :].reshape(-1, bottom - top, right - left,
                                                          channels)
        x = x.permute(0, 3, 1, 2).float() / 255.0
        if self.cfg.out_channels == 1 and channels == 3:
            x = (x * self.luma).sum(dim=1, keepdim=True)
        shape = self.cfg.frame_shape
        if tuple(x.shape[-2:]) != shape:
            x = F.interpolate(x, size=shape, mode="bilinear", antialias=True,
                              align_corners=False)
        return x.reshape(*lead, *x.shape[1:])


def level_channels(cfg: GenerationModelConfig) -> list[int]:
    """Channels at full resolution and after each halving (doubling, capped at 8x)."""
    return [cfg.gen_channels * min(2 ** i, 8) for i in range(cfg.gen_levels + 1)]


class IdentityEncoder(nn.Module):
    """Still-frame region ``(B, C', H, W)`` -> feature maps at every resolution, full first;
    the last (``H / 2^L``) is the identity code."""

    def __init__(self, cfg: GenerationModelConfig):
        super().__init__()
        ch = level_channels(cfg)
        self.levels = nn.ModuleList([nn.Sequential(
            nn.Conv2d(cfg.out_channels, ch[0], 3, padding=1), nn.BatchNorm2d(ch[0]),
            nn.LeakyReLU(0.2, inplace=True))])
        for i in range(cfg.gen_levels):
            self.levels.append(nn.Sequential(
                nn.Conv2d(ch[i], ch[i + 1], 4, stride=2, padding=1), nn.BatchNorm2d(ch[i + 1]),
                nn.LeakyReLU(0.2, inplace=True)))

    def forward(self, still: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        x = still
        for level in self.levels:
            x = level(x)
            maps.append(x)
        return maps


class FrameGenerator(nn.Module):
    """Audio features ``(B, D, S)`` and identity maps -> frames ``(B, S, C', H, W)`` in [0, 1]."""

    def __init__(self, cfg: GenerationModelConfig):
        super().__init__()
        ch = level_channels(cfg)
        height, width = cfg.frame_shape
        self.coarse = (ch[-1], height >> cfg.gen_levels, width >> cfg.gen_levels)
        k = cfg.temporal_kernel
        self.smooth = nn.Sequential(nn.Conv1d(cfg.audio_dim, cfg.audio_dim, k, padding=k // 2),
                                    nn.BatchNorm1d(cfg.audio_dim), nn.ReLU(inplace=True))
        self.audio_map = nn.Linear(cfg.audio_dim, ch[-1] * self.coarse[1] * self.coarse[2])
        self.bottleneck = nn.Sequential(nn.Conv2d(2 * ch[-1], ch[-1], 3, padding=1),
                                        nn.BatchNorm2d(ch[-1]), nn.ReLU(inplace=True))
        # Level i: upsample from resolution i+1 to i, concatenate skip i, convolve to ch[i].
        self.up = nn.ModuleList(nn.Sequential(
            nn.Conv2d(ch[i + 1] + ch[i], ch[i], 3, padding=1), nn.BatchNorm2d(ch[i]),
            nn.ReLU(inplace=True)) for i in range(cfg.gen_levels))
        self.out = nn.Conv2d(ch[0], cfg.out_channels, 1)

    def forward(self, audio: torch.Tensor, identity: list[torch.Tensor]) -> torch.Tensor:
        batch, _, steps = audio.shape
        a = self.smooth(audio).transpose(1, 2).reshape(batch * steps, -1)
        x = self.audio_map(a).view(batch * steps, *self.coarse)

        def per_frame(m: torch.Tensor) -> torch.Tensor:
            return m.repeat_interleave(steps, dim=0)

        x = self.bottleneck(torch.cat([x, per_frame(identity[-1])], dim=1))
        for i in reversed(range(len(self.up))):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.up[i](torch.cat([x, per_frame(identity[i])], dim=1))
        frames = torch.sigmoid(self.out(x))
        return frames.view(batch, steps, *frames.shape[1:])
