"""One utterance in, one speaker embedding out: the graph that packed models run and export.

Every audio encoder of the recipes (``forward_audio`` returning ``identity`` as ``(B, D, S)``)
gives its utterance embedding as the time average of the identity head, exactly as stage 5
computes it (``xmodal.eval.extract.embed_inputs``). This module is that average as an
``nn.Module`` of one input, so that TorchScript and ONNX export see a plain tensor -> tensor
graph with a dynamic time axis.

Input: the encoder's own input kind, without a batch-size restriction:
- log-mel encoders: ``(B, T, n_mels)`` float32 features (``xmodal.data.features.LogMel``),
- waveform encoders (``input_kind == "waveform"``): ``(B, T)`` float32 16 kHz samples.
Output: ``(B, D)`` float32, not normalised (scoring subtracts a mean and takes the cosine).
"""
from __future__ import annotations

import torch
from torch import nn


class UtteranceEmbedder(nn.Module):
    """``encoder.forward_audio(x)["identity"].mean(-1)``: the stage-5 identity embedding."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    @property
    def input_kind(self) -> str:
        """``"logmel"`` or ``"waveform"``: what ``forward`` takes."""
        return getattr(self.encoder, "input_kind", "logmel")

    @property
    def min_frames(self) -> int:
        """Shortest input (feature frames, or samples for a waveform encoder)."""
        return int(self.encoder.min_frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs ``(B, T, n_mels)`` or ``(B, T)`` samples -> embeddings ``(B, D)``."""
        return self.encoder.forward_audio(x)["identity"].mean(dim=-1)
