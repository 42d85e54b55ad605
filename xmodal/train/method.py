"""The interface a training method implements for the one trainer (``xmodal.train.trainer``).

A method supplies what differs between methods: its config dataclass, the network (the
encoder that ``model.pt`` holds, plus the objective's own parameters), optional auxiliary
modules with an optimiser of their own (the confusion adversaries), and its batches. The
trainer owns everything else: the loop, checkpoints and bit-exact resume, DDP, AMP, weight
averaging, logs and tensorboard. It calls a method only through this interface, so it knows
no method by name.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, Sampler

from xmodal.train.config import RunConfig

Terms = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TrainingData:
    """Where a run's examples come from; each method reads the parts it needs."""

    train_dir: Path               # dump dir of the training set
    valid_dir: Path | None = None  # dump dir scored after every epoch (held-out, unlabelled use)
    utt2spk: Path | None = None   # labels, and the utterances to train on (labelled methods)
    labelled_dir: Path | None = None  # dump dir of a separate labelled set (semi-supervised)


class MethodNetwork(nn.Module, ABC):
    """The trained network: ``model`` (the encoder, saved alone as ``model.pt``) and
    ``objective`` (the loss's own parameters, e.g. learnable similarities or a classifier).

    ``forward(batch, generator)`` returns ``(terms, outputs)``: ``terms["loss"]`` is what the
    trainer minimises, the other terms are logged; ``outputs`` go to the auxiliary modules.
    Every random choice inside comes from ``generator``, which the trainer seeds per step.
    """

    model: nn.Module
    objective: nn.Module

    @abstractmethod
    def forward(self, batch: tuple[torch.Tensor, ...],
                generator: torch.Generator) -> tuple[Terms, object]:
        """One batch (as the method's batches yield it, on the device) -> (terms, outputs)."""


class Auxiliary(nn.Module, ABC):
    """Modules trained on the network's outputs by an optimiser of their own.

    ``model_terms`` are computed with the auxiliary parameters frozen; its entry
    ``model_loss_key`` is added to the network's loss. ``own_terms`` see detached outputs;
    its entry ``own_loss_key`` is what the auxiliary optimiser minimises.
    """

    model_loss_key: str
    own_loss_key: str
    # Updates of these modules per network update, each on the same (detached) outputs.
    steps_per_model_step: int = 1

    def set_epoch(self, epoch: int) -> None:
        """Called before each training epoch (1-based), e.g. for a warm-up; default: nothing."""

    @abstractmethod
    def model_terms(self, outputs: object, generator: torch.Generator) -> Terms:
        """Terms whose ``model_loss_key`` entry trains the network."""

    @abstractmethod
    def own_terms(self, outputs: object, generator: torch.Generator) -> Terms:
        """Terms whose ``own_loss_key`` entry trains these modules."""


class Method(ABC):
    """A training method, registered under ``name`` in ``xmodal.methods``."""

    name: str
    config_class: type[RunConfig]

    @abstractmethod
    def encoder(self, cfg: RunConfig) -> nn.Module:
        """The untrained encoder that ``model.pt`` holds (what extraction loads)."""

    @abstractmethod
    def network(self, cfg: RunConfig, data: TrainingData) -> MethodNetwork:
        """The network the trainer optimises (its size may depend on the data, e.g. the
        number of speakers); built after ``torch.manual_seed(cfg.seed)``."""

    def auxiliary(self, cfg: RunConfig) -> Auxiliary | None:
        """Modules with their own optimiser (built after the network), or None."""
        return None

    def every_parameter_used(self, cfg: RunConfig) -> bool:
        """Whether every network parameter gets a gradient each step (DDP must know)."""
        return True

    @abstractmethod
    def train_batches(self, cfg: RunConfig, data: TrainingData, rank: int,
                      world_size: int) -> tuple[Dataset, Sampler]:
        """Dataset and batch sampler of the training set; rank ``rank`` of ``world_size``
        takes its slice of every global batch, a pure function of (seed, epoch, index)."""

    def valid_batches(self, cfg: RunConfig, data: TrainingData,
                      seed: int) -> tuple[Dataset, Sampler] | None:
        """Fixed validation batches (the same every epoch), or None to skip validation."""
        return None
