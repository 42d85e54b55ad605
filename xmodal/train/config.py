"""What the one trainer reads from every method's config: optimiser, seed, AMP, averaging.

Each method's config (``xmodal.methods``) is a ``RunConfig`` with its own ``model``, ``data``
and ``loss`` sections added; the trainer reads only the fields declared here and
``data.batch_size`` / ``data.num_workers``, which every method's data section has.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

OPTIMIZERS = ("sgd", "adam")


@dataclass
class OptimConfig:
    """The optimiser and its per-epoch exponential decay (paper: SGD, the default values)."""

    epochs: int = 30
    name: str = "sgd"             # sgd (momentum; paper) or adam (betas 0.9, 0.999)
    lr: float = 1e-2
    momentum: float = 0.9         # sgd only
    weight_decay: float = 1e-5    # L2 penalty, either optimiser
    lr_decay: float = 0.95        # lr multiplied by this after every epoch
    adversary_lr: float = 1e-2    # the confusion adversaries' own optimiser (same kind)
    grad_clip: float = 0.0        # max gradient norm; 0 = off

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"optim.name must be one of {OPTIMIZERS}, got {self.name!r}")
        if self.epochs < 1 or self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise ValueError("optim.epochs >= 1, lr > 0 and 0 < lr_decay <= 1 are required")

    def make(self, params, lr: float, weight_decay: float | None = None) -> torch.optim.Optimizer:
        """The configured optimiser over ``params`` at learning rate ``lr``."""
        decay = self.weight_decay if weight_decay is None else weight_decay
        if self.name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=decay)
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum, weight_decay=decay)


@dataclass
class RunConfig:
    """The fields every method's config shares."""

    method: str = ""              # the registry's name for the method (xmodal.methods)
    optim: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0
    amp: bool = False             # bf16 autocast on GPU; ignored on CPU
    average_last: int = 1         # the final model averages the last k epochs' weights

    def __post_init__(self) -> None:
        # Each method's config declares its own name as the default of ``method``.
        own = next(f.default for f in dataclasses.fields(self) if f.name == "method")
        if self.method != own:
            raise ValueError(f"method must be {own!r} in a {type(self).__name__}, "
                             f"got {self.method!r}")
        if self.average_last < 1:
            raise ValueError(f"average_last must be >= 1, got {self.average_last}")
