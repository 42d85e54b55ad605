"""Loading a trained experiment for evaluation, extraction or fine-tuning.

Tools read the resolved training config saved beside the weights (``config.yaml``), so no
inference script re-declares the training options.
"""
from __future__ import annotations

from pathlib import Path

import torch

from xmodal.config import load_config
from xmodal.models.two_stream import TwoStreamModel
from xmodal.train.checkpoint import load_checkpoint, load_model_weights
from xmodal.train.config import TrainConfig


def load_pretrained(exp_dir: str | Path, device: str | torch.device = "cpu",
                    weights: str = "model.pt") -> tuple[TwoStreamModel, TrainConfig]:
    """The model of ``exp_dir`` (in eval mode) and its training config."""
    exp_dir = Path(exp_dir)
    cfg = load_config(exp_dir / "config.yaml", TrainConfig)
    model = TwoStreamModel(cfg.model)
    path = exp_dir / weights
    load_model_weights(model, load_checkpoint(path)["model"], str(path))
    return model.to(device).eval(), cfg
