"""Audio trunk of the cross-modal model (DESIGN §4, filterbank variant of the official code).

Input: log-mel features ``(B, T, n_mels)``. With 4 feature frames per 25 fps video frame
(``xmodal.data.features``: 640*V samples give T = 4V frames), the time arithmetic is

    conv1 k7 p2        4V   -> 4V-2
    maxpool k3 s2      4V-2 -> 2V-2
    conv2 k5 p1        2V-2 -> 2V-4
    maxpool k3 s1      2V-4 -> 2V-6
    3 x conv k3 p1     2V-6 -> 2V-6
    maxpool k3 s2      2V-6 -> V-4
    last conv k1       V-4  -> V-4

so an N-frame training window (T = 4N) gives N-4 steps, like the visual trunk, and a whole
utterance of 4V frames gives V-4 steps (the trunk is fully convolutional in time). Step j
sees feature frames 4j-10 .. 4j+26 (zero-padded at the edges) and steps are 4 frames (one
video frame) apart.

Frequency (paper, 40 mel bins): 40 -> 40 -> 40 -> 19 -> 9 -> 9 -> 4, and the last conv's
k(4,1) kernel collapses the 4 bins. Any other ``n_mels`` uses a 1x1 last conv followed by an
average over the remaining bins, with the last maxpool padded by one bin so small inputs fit.
"""
from __future__ import annotations

import torch
from torch import nn

PAPER_N_MELS = 40


def scaled_channels(channels: int, width: float) -> int:
    """Channel count of a trunk conv under the ``width`` multiplier (at least 1)."""
    return max(1, round(channels * width))


def audio_output_steps(n_feature_frames: int) -> int:
    """Number of output steps the audio trunk gives for ``n_feature_frames`` input frames.

    Equals ``V - 4`` for ``4V`` frames; in general ``ceil(T / 4) - 4``.
    """
    t = n_feature_frames - 2           # conv1 k7 p2
    t = (t - 3) // 2 + 1               # maxpool k3 s2
    t = t - 2                          # conv2 k5 p1
    t = t - 2                          # maxpool k3 s1
    return (t - 3) // 2 + 1            # 3 x conv k3 p1 keep t; maxpool k3 s2


# The shortest input that gives one output step (17 frames).
MIN_INPUT_FRAMES = next(t for t in range(1, 64) if audio_output_steps(t) >= 1)
# Output step j is centred on feature frame FIRST_STEP_CENTRE + FRAMES_PER_STEP * j (it sees
# frames 4j-10 .. 4j+26).
FRAMES_PER_STEP = 4
FIRST_STEP_CENTRE = 8


def _frequency_bins(n_mels: int, paper: bool) -> int:
    """Bins left before the last conv; raises if ``n_mels`` is too small for the trunk."""
    size = n_mels
    # (kernel, stride, padding) along frequency of every layer before the last conv.
    for kernel, stride, pad in ((5, 1, 2), (1, 1, 0), (5, 2, 1), (3, 2, 0), (3, 1, 1), (3, 1, 1),
                                (3, 1, 1), (3, 2, 0 if paper else 1)):
        size = (size + 2 * pad - kernel) // stride + 1
        if size < 1:
            raise ValueError(f"n_mels={n_mels} is too small for the audio trunk (need >= 7)")
    return size


def _conv_bn_relu(c_in: int, c_out: int, kernel, stride=1, padding=0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


class AudioTrunk(nn.Module):
    """Log-mel ``(B, T, n_mels)`` -> ``(B, out_dim, ceil(T/4) - 4)``."""

    def __init__(self, n_mels: int = PAPER_N_MELS, width: float = 1.0, out_dim: int = 512):
        super().__init__()
        paper = n_mels == PAPER_N_MELS
        bins = _frequency_bins(n_mels, paper)
        c1, c2, c3, c4, c5 = (scaled_channels(c, width) for c in (96, 256, 384, 256, 256))
        self.n_mels = n_mels
        # Each mel bin normalised over time per utterance: removes channel/gain offsets.
        self.norm = nn.InstanceNorm1d(n_mels)
        # Layout (B, 1, freq, time): kernels and strides below are (freq, time).
        self.layers = nn.Sequential(
            *_conv_bn_relu(1, c1, (5, 7), padding=(2, 2)),
            nn.MaxPool2d((1, 3), (1, 2)),
            *_conv_bn_relu(c1, c2, 5, stride=(2, 1), padding=1),
            nn.MaxPool2d(3, (2, 1)),
            *_conv_bn_relu(c2, c3, 3, padding=1),
            *_conv_bn_relu(c3, c4, 3, padding=1),
            *_conv_bn_relu(c4, c5, 3, padding=1),
            nn.MaxPool2d(3, 2, padding=(0 if paper else 1, 0)),
            *_conv_bn_relu(c5, out_dim, (bins, 1) if paper else 1),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Features ``(B, T, n_mels)`` -> ``(B, out_dim, audio_output_steps(T))``."""
        if feats.dim() != 3 or feats.shape[2] != self.n_mels:
            raise ValueError(f"expected features (B, T, {self.n_mels}), got {tuple(feats.shape)}")
        if audio_output_steps(feats.shape[1]) < 1:
            raise ValueError(f"{feats.shape[1]} feature frames give no output step (need >= 17)")
        x = self.norm(feats.transpose(1, 2)).unsqueeze(1)
        # Paper geometry leaves one bin (the mean is a squeeze); otherwise this is the global pool.
        return self.layers(x).mean(dim=2)
