"""Audio encoders of the face-generation method (Shukla et al. 2020; DESIGN §6): one feature
vector per 25 fps video frame, from log-mel or from raw waveform.

- ``logmel``: the recipe's log-mel trunk (``xmodal.models.audio_trunk.AudioTrunk``, with its
  ``width``). An N-video-frame window (4N feature frames) gives N-4 vectors: the trunk's
  receptive field spans 5 video frames, and vector j is centred on video frame j + 2. The
  generator therefore draws the central N-4 frames of a window (``frame_offset`` 2), not
  padded edges the audio never saw.
- ``waveform``: the paper's kind, a strided 1-D convolution stack over 16 kHz samples. Each
  layer has kernel = stride + 2 x padding, so T samples give exactly floor(T / stride)
  outputs; the strides multiply to 640 samples, one vector per video frame (N frames, N
  vectors, ``frame_offset`` 0). A last stride-1 convolution gives each vector its
  neighbours' context. The input is standardised per utterance (gain does not matter).

``FrameAudioEncoder`` is the encoder ``model.pt`` holds, with the interface stages 5 and the
downstream stage use (``forward_audio``, ``head_dims``, ``min_frames``, ``frame_heads``,
``cfg.n_mels``; ``input_kind`` says which dump file it reads, ``xmodal.eval.extract``). There
is one audio representation, so its ``identity`` and ``content`` heads are the same
per-frame features: stage 5 averages them over time, the downstream probes take them per
frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from xmodal.data.features import SAMPLES_PER_VIDEO_FRAME
from xmodal.models.audio_trunk import MIN_INPUT_FRAMES, PAPER_N_MELS, AudioTrunk, scaled_channels

AUDIO_ENCODERS = ("logmel", "waveform")
# (stride, kernel, channels before width) of the waveform layers: 5 x 4 x 4 x 4 x 2 = 640.
WAVEFORM_LAYERS = ((5, 11, 64), (4, 8, 128), (4, 8, 256), (4, 8, 256), (2, 4, 0))
LOGMEL_FRAME_OFFSET = 2  # the log-mel trunk's first vector is centred on video frame 2


@dataclass(frozen=True)
class AudioEncoderConfig:
    """What builds an audio encoder; ``n_mels`` is read by stage 5 for log-mel input."""

    kind: str = "waveform"        # AUDIO_ENCODERS
    n_mels: int = PAPER_N_MELS    # logmel input bins
    width: float = 1.0            # channel multiplier of the hidden convolutions
    dim: int = 512                # features per video frame


class WaveformEncoder(nn.Module):
    """16 kHz samples ``(B, T)`` -> ``(B, dim, T // 640)``."""

    def __init__(self, width: float, dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for stride, kernel, channels in WAVEFORM_LAYERS:
            c_out = scaled_channels(channels, width) if channels else dim
            layers += [nn.Conv1d(c_in, c_out, kernel, stride, (kernel - stride) // 2),
                       nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        layers += [nn.Conv1d(dim, dim, 3, padding=1), nn.BatchNorm1d(dim), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Samples ``(B, T)``, T >= 640 -> features ``(B, dim, T // 640)``."""
        if wave.dim() != 2 or wave.shape[1] < SAMPLES_PER_VIDEO_FRAME:
            raise ValueError(f"expected samples (B, T >= {SAMPLES_PER_VIDEO_FRAME}), got "
                             f"{tuple(wave.shape)}")
        x = wave - wave.mean(dim=1, keepdim=True)
        x = x / (x.std(dim=1, keepdim=True) + 1e-5)
        return self.layers(x.unsqueeze(1))


class FrameAudioEncoder(nn.Module):
    """One feature vector per video frame, from log-mel or waveform (module docstring)."""

    frame_heads = ("identity", "content")  # both heads: the per-frame features

    def __init__(self, cfg: AudioEncoderConfig):
        super().__init__()
        if cfg.kind not in AUDIO_ENCODERS:
            raise ValueError(f"model.audio_encoder must be one of {AUDIO_ENCODERS}, got "
                             f"{cfg.kind!r}")
        self.cfg = cfg
        self.input_kind = cfg.kind
        if cfg.kind == "logmel":
            self.encoder = AudioTrunk(cfg.n_mels, cfg.width, cfg.dim)
            self.min_frames = MIN_INPUT_FRAMES  # feature frames
            self.frame_offset = LOGMEL_FRAME_OFFSET
        else:
            self.encoder = WaveformEncoder(cfg.width, cfg.dim)
            self.min_frames = SAMPLES_PER_VIDEO_FRAME  # samples
            self.frame_offset = 0

    @property
    def head_dims(self) -> dict[str, int]:
        """Width of each head's output (both the per-frame features)."""
        return {"identity": self.cfg.dim, "content": self.cfg.dim}

    def frame_steps(self, n_video_frames: int) -> int:
        """Feature vectors of an ``n_video_frames`` window: N-4 (log-mel) or N (waveform)."""
        return n_video_frames - 2 * self.frame_offset

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(B, 4N, n_mels)`` or samples ``(B, 640N)`` -> ``(B, dim, frame_steps(N))``;
        vector j belongs to video frame ``frame_offset + j`` of the window."""
        return self.encoder(audio)

    def forward_audio(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """``identity`` and ``content``, each the per-frame features ``(B, dim, S)``."""
        x = self.encoder(audio)
        return {"identity": x, "content": x}
