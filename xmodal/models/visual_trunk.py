"""Visual trunk of the cross-modal model (DESIGN §4; VGG-M style, as in the official code).

Input: face frames ``(B, C, N, H, W)`` float. Only the first conv looks across time (5 frames,
stride 1), so the output has N-4 steps and step j sees exactly video frames j .. j+4.

Spatial arithmetic for the paper's 224 px faces (k = kernel, s = stride, p = padding):

    conv1 k7 s2         224 -> 109
    maxpool k3 s2       109 -> 54
    conv2 k5 s2 p1       54 -> 26
    maxpool k3 s2 p1     26 -> 13
    3 x conv k3 p1       13 -> 13
    maxpool k3 s2        13 -> 6
    last conv k6          6 -> 1

The second maxpool is padded by one pixel (as in SyncNet / VGG-M ports): without it 26 -> 12
-> 5 and the fixed 6x6 last kernel would not fit a 224 px face. Any other face size uses a
1x1 last conv followed by a spatial average, and pads the last maxpool too so faces down to
19 px fit.
"""
from __future__ import annotations

import torch
from torch import nn

from xmodal.models.audio_trunk import scaled_channels

PAPER_FACE_SIZE = 224
# Video frames seen by one output step; the output has N - (TIME_RECEPTIVE_FIELD - 1) steps.
TIME_RECEPTIVE_FIELD = 5


def _spatial_size(face_size: int, paper: bool) -> int:
    """Height (= width) left before the last conv; raises if the face is too small."""
    size = face_size
    # (kernel, stride, padding) along height/width of every layer before the last conv.
    for kernel, stride, pad in ((7, 2, 0), (3, 2, 0), (5, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1),
                                (3, 1, 1), (3, 2, 0 if paper else 1)):
        size = (size + 2 * pad - kernel) // stride + 1
        if size < 1:
            raise ValueError(f"face_size={face_size} is too small for the visual trunk "
                             "(need >= 19)")
    return size


def _conv_bn_relu(c_in: int, c_out: int, kernel, stride=1, padding=0) -> list[nn.Module]:
    return [nn.Conv3d(c_in, c_out, kernel, stride, padding), nn.BatchNorm3d(c_out),
            nn.ReLU(inplace=True)]


class VisualTrunk(nn.Module):
    """Faces ``(B, C, N, H, W)`` -> ``(B, out_dim, N - 4)``."""

    def __init__(self, face_size: int = PAPER_FACE_SIZE, channels: int = 3, width: float = 1.0,
                 out_dim: int = 512):
        super().__init__()
        paper = face_size == PAPER_FACE_SIZE
        side = _spatial_size(face_size, paper)   # 6 for the paper's 224 px
        c1, c2, c3 = (scaled_channels(c, width) for c in (96, 256, 256))
        self.face_size = face_size
        self.channels = channels
        self.layers = nn.Sequential(
            *_conv_bn_relu(channels, c1, (TIME_RECEPTIVE_FIELD, 7, 7), (1, 2, 2)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(c1, c2, (1, 5, 5), (1, 2, 2), (0, 1, 1)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn_relu(c2, c3, (1, 3, 3), padding=(0, 1, 1)),
            *_conv_bn_relu(c3, c3, (1, 3, 3), padding=(0, 1, 1)),
            *_conv_bn_relu(c3, c3, (1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 0, 0) if paper else (0, 1, 1)),
            *_conv_bn_relu(c3, out_dim, (1, side, side) if paper else 1),
        )

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        """Faces ``(B, C, N, H, W)`` -> ``(B, out_dim, N - 4)``."""
        expected = (self.channels, self.face_size, self.face_size)
        if faces.dim() != 5 or (faces.shape[1], faces.shape[3], faces.shape[4]) != expected:
            raise ValueError(f"expected faces (B, {expected[0]}, N, {expected[1]}, {expected[2]}), "
                             f"got {tuple(faces.shape)}")
        if faces.shape[2] < TIME_RECEPTIVE_FIELD:
            raise ValueError(f"need >= {TIME_RECEPTIVE_FIELD} frames, got {faces.shape[2]}")
        # Paper geometry leaves 1x1 (the mean is a squeeze); otherwise this is the global pool.
        return self.layers(faces).mean(dim=(3, 4))
