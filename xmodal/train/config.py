"""Training configuration of the cross-modal model: one yaml file per loss combination."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from xmodal.losses.identity import FACE_STEPS
from xmodal.models.two_stream import ModelConfig

SIMILARITIES = ("cosine", "euclidean")


@dataclass
class DataConfig:
    """How training windows are drawn (DESIGN §4: B tracks x N aligned frames)."""

    n_frames: int = 30            # N video frames per window (N-4 output steps)
    batch_size: int = 30          # B distinct face-tracks per batch (per process)
    batches_per_epoch: int = 1000  # a fixed number of clips per epoch, whatever the corpus
    valid_batches: int = 50       # fixed-seed batches of ssl_test scored after each epoch
    num_workers: int = 2          # DataLoader worker processes

    def __post_init__(self) -> None:
        if self.n_frames < 6:
            raise ValueError(f"data.n_frames must be >= 6 (receptive field 5), got {self.n_frames}")
        if self.batch_size < 2 or self.batches_per_epoch < 1 or self.valid_batches < 1:
            raise ValueError("data.batch_size >= 2, batches_per_epoch and valid_batches >= 1")


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
class LossConfig:
    """Which self-supervised objectives train the network; absent ones are not built."""

    content: bool = True          # N-way audio-visual sync within a track
    identity: bool = True         # B-way voice-to-face matching across tracks
    disentangle: bool = False     # confusion loss with two adversaries (needs both above)
    alpha: float = 1.0            # weight of the confusion terms
    similarity: str = "cosine"    # cosine (learnable scale/bias) or euclidean (negative distance)
    adversary_dim: int = 256      # projection size of each adversary
    # Face steps scored by the identity loss: one random step per track (paper) or every
    # step (the same objective's expectation over that draw, with less gradient noise).
    identity_face_steps: str = "random"

    def __post_init__(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"loss.similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if not (self.content or self.identity):
            raise ValueError("at least one of loss.content and loss.identity must be true")
        if self.identity_face_steps not in FACE_STEPS:
            raise ValueError(f"loss.identity_face_steps must be one of {FACE_STEPS}, "
                             f"got {self.identity_face_steps!r}")
        if self.disentangle and not (self.content and self.identity):
            raise ValueError("loss.disentangle needs loss.content and loss.identity")


@dataclass
class TrainConfig:
    """Everything ``python -m xmodal.bin.train`` needs besides the data and output paths."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    seed: int = 0
    amp: bool = False             # bf16 autocast on GPU; ignored on CPU
    average_last: int = 1         # the final model averages the last k epochs' weights
