"""The cross-modal method of Nagrani et al. 2020 (``method: cross_modal``, DESIGN §4).

A two-stream network (``TwoStreamModel``) trained on aligned windows of face-tracks with the
content (sync) loss, the identity (face-voice matching) loss, or both, and optionally the
confusion loss of two adversaries that removes each factor from the other's embedding. Every
loss combination is one yaml config; the losses a config leaves out are not built, so a
content-only run has no identity loss, no adversaries and spends nothing on them.

Under DDP each rank holds a slice of the global batch. The content task compares steps within
one track, so each rank's mean is enough (DDP averages the gradients). The identity tasks
compare tracks with each other: in training they gather every rank's embeddings
(``gather_batch``) and score the whole global batch, so B-way means the global B and the
result does not depend on the number of processes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset
from xmodal.losses.confusion import IdentityAdversary, SyncAdversary
from xmodal.losses.identity import FACE_STEPS, IdentityLoss
from xmodal.losses.similarity import SIMILARITY_KINDS
from xmodal.losses.sync import SyncLoss
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.config import RunConfig
from xmodal.train.distributed import gather_batch
from xmodal.train.method import Auxiliary, Method, MethodNetwork, TrainingData


@dataclass
class DataConfig:
    """How training windows are drawn (DESIGN §4: B tracks x N aligned frames)."""

    n_frames: int = 30            # N video frames per window (N-4 output steps)
    batch_size: int = 30          # B distinct face-tracks per batch (the global batch)
    batches_per_epoch: int = 1000  # a fixed number of clips per epoch, whatever the corpus
    valid_batches: int = 50       # fixed-seed batches of ssl_test scored after each epoch
    num_workers: int = 2          # DataLoader worker processes
    # Re-align each track by its utt2av_offset (VoxCeleb2's txt Offset) when cutting windows,
    # in training and in stage 4: without it the sync task learns from shifted tracks.
    apply_av_offset: bool = False

    def __post_init__(self) -> None:
        if self.n_frames < 6:
            raise ValueError(f"data.n_frames must be >= 6 (receptive field 5), got {self.n_frames}")
        if self.batch_size < 2 or self.batches_per_epoch < 1 or self.valid_batches < 1:
            raise ValueError("data.batch_size >= 2, batches_per_epoch and valid_batches >= 1")


@dataclass
class LossConfig:
    """Which self-supervised objectives train the network; absent ones are not built."""

    content: bool = True          # N-way audio-visual sync within a track
    identity: bool = True         # B-way voice-to-face matching across tracks
    disentangle: bool = False     # confusion loss with two adversaries (needs both above)
    alpha: float = 1.0            # weight of the confusion terms
    # Adversary strength: epochs trained without the confusion term (the adversaries learn
    # meanwhile), and adversary updates per model update.
    confusion_warmup_epochs: int = 0
    adversary_steps: int = 1
    similarity: str = "cosine"    # cosine (learnable scale/bias) or euclidean (negative distance)
    adversary_dim: int = 256      # projection size of each adversary
    # Face steps scored by the identity loss: one random step per track (paper) or every
    # step (the same objective's expectation over that draw, with less gradient noise).
    identity_face_steps: str = "random"

    def __post_init__(self) -> None:
        if self.similarity not in SIMILARITY_KINDS:
            raise ValueError(f"loss.similarity must be one of {SIMILARITY_KINDS}, "
                             f"got {self.similarity!r}")
        if not (self.content or self.identity):
            raise ValueError("at least one of loss.content and loss.identity must be true")
        if self.identity_face_steps not in FACE_STEPS:
            raise ValueError(f"loss.identity_face_steps must be one of {FACE_STEPS}, "
                             f"got {self.identity_face_steps!r}")
        if self.disentangle and not (self.content and self.identity):
            raise ValueError("loss.disentangle needs loss.content and loss.identity")
        if self.confusion_warmup_epochs < 0 or self.adversary_steps < 1:
            raise ValueError("loss.confusion_warmup_epochs must be >= 0 and loss.adversary_steps "
                             f">= 1, got {self.confusion_warmup_epochs} and {self.adversary_steps}")


@dataclass
class CrossModalConfig(RunConfig):
    """A cross-modal training run (egs/*/v1/conf/ssl_*.yaml); ``method`` may be left out."""

    method: str = "cross_modal"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)


Outputs = dict[str, dict[str, torch.Tensor]]


def _global_batch(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` of every rank in training; this process' own ``x`` in evaluation, which runs on
    one rank only (gathering there would wait for ranks that never come)."""
    return gather_batch(x) if module.training else x


class CrossModalObjective(nn.Module):
    """Content, identity and confusion losses; the learnable similarities live here."""

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        self.sync = SyncLoss(cfg.similarity) if cfg.content else None
        self.identity = (IdentityLoss(cfg.similarity, cfg.identity_face_steps)
                         if cfg.identity else None)

    def forward(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Losses and accuracies; ``loss`` is the weighted sum the network minimises."""
        a, v = out["audio"], out["visual"]
        terms: dict[str, torch.Tensor] = {}
        total = 0.0
        if self.sync is not None:
            terms["content_loss"], terms["content_acc"] = self.sync(v["content"], a["content"])
            total = total + terms["content_loss"]
        if self.identity is not None:
            terms["identity_loss"], terms["identity_acc"] = self.identity(
                _global_batch(self, v["identity"]), _global_batch(self, a["identity"]), generator)
            total = total + terms["identity_loss"]
        terms["loss"] = total
        return terms


class Adversaries(Auxiliary):
    """The two confusion adversaries (DESIGN §4), trained by their own optimiser."""

    model_loss_key = "confusion_loss"
    own_loss_key = "adversary_loss"

    def __init__(self, cfg: LossConfig, embed_dim: int):
        super().__init__()
        self.alpha = cfg.alpha
        self.warmup_epochs = cfg.confusion_warmup_epochs
        self.weight = cfg.alpha  # 0 during the warm-up (set_epoch)
        self.steps_per_model_step = cfg.adversary_steps
        # (a) sync from identity embeddings, (b) track identity from content embeddings.
        self.sync_from_identity = SyncAdversary(embed_dim, cfg.adversary_dim, cfg.similarity)
        self.identity_from_content = IdentityAdversary(embed_dim, cfg.adversary_dim, cfg.similarity)

    def set_epoch(self, epoch: int) -> None:
        """The confusion term is off for the first ``confusion_warmup_epochs`` epochs."""
        self.weight = 0.0 if epoch <= self.warmup_epochs else self.alpha

    def model_terms(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """alpha x (CE to uniform) of both adversaries, adversaries frozen; their accuracies.

        The weight is 0 during the warm-up: the term is still computed, so the logged leakage
        accuracies show what the adversaries find before the model is pushed to hide it."""
        a, v = out["audio"], out["visual"]
        sync_conf, sync_acc = self.sync_from_identity.confusion_loss(v["identity"], a["identity"])
        id_conf, id_acc = self.identity_from_content.confusion_loss(
            _global_batch(self, v["content"]), _global_batch(self, a["content"]), generator)
        return {"confusion_loss": self.weight * (sync_conf + id_conf),
                "leak_content_in_identity_acc": sync_acc,
                "leak_identity_in_content_acc": id_acc}

    def own_terms(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The adversaries' own loss on detached embeddings (no gradient reaches the model)."""
        a, v = out["audio"], out["visual"]
        sync_loss, _ = self.sync_from_identity.adversary_loss(v["identity"], a["identity"])
        id_loss, _ = self.identity_from_content.adversary_loss(
            _global_batch(self, v["content"].detach()), _global_batch(self, a["content"].detach()),
            generator)
        return {"adversary_loss": sync_loss + id_loss}


class CrossModalNetwork(MethodNetwork):
    """Model + objective in one module, so DDP also synchronises the learnable similarities."""

    def __init__(self, cfg: CrossModalConfig):
        super().__init__()
        self.model = TwoStreamModel(cfg.model)
        self.objective = CrossModalObjective(cfg.loss)

    def forward(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator):
        """``(feats, faces)`` windows -> (losses and accuracies, the model's embeddings)."""
        feats, faces = batch
        out = self.model(feats, faces)
        return self.objective(out, generator), out


class CrossModal(Method):
    """``method: cross_modal``: the registry's entry for this module."""

    name = "cross_modal"
    config_class = CrossModalConfig

    def encoder(self, cfg: CrossModalConfig) -> TwoStreamModel:
        """The two-stream model."""
        return TwoStreamModel(cfg.model)

    def network(self, cfg: CrossModalConfig, data: TrainingData) -> CrossModalNetwork:
        """Two-stream model and the configured losses."""
        return CrossModalNetwork(cfg)

    def auxiliary(self, cfg: CrossModalConfig) -> Adversaries | None:
        """The confusion adversaries, when ``loss.disentangle``."""
        return Adversaries(cfg.loss, cfg.model.embed_dim) if cfg.loss.disentangle else None

    def every_parameter_used(self, cfg: CrossModalConfig) -> bool:
        """A config that leaves a loss out leaves that loss' heads without gradients."""
        return cfg.loss.content and cfg.loss.identity

    def train_batches(self, cfg: CrossModalConfig, data: TrainingData, rank: int,
                      world_size: int) -> tuple[TrackWindowDataset, TrackBatchSampler]:
        """B-track windows of the training dump (no labels read)."""
        dataset = TrackWindowDataset(data.train_dir, cfg.data.n_frames, cfg.data.apply_av_offset)
        return dataset, TrackBatchSampler(dataset.num_frames, cfg.data.n_frames,
                                          cfg.data.batch_size, cfg.data.batches_per_epoch,
                                          cfg.seed, rank, world_size)

    def valid_batches(self, cfg: CrossModalConfig, data: TrainingData,
                      seed: int) -> tuple[TrackWindowDataset, TrackBatchSampler] | None:
        """Held-out tracks, B of B different identities per batch, as stage 4 scores them
        (the identities are read only here, for evaluation)."""
        if data.valid_dir is None:
            return None
        dataset = TrackWindowDataset(data.valid_dir, cfg.data.n_frames, cfg.data.apply_av_offset)
        speakers = dataset.speakers()
        batch = min(cfg.data.batch_size, len(set(speakers)))
        return dataset, TrackBatchSampler(dataset.num_frames, cfg.data.n_frames, batch,
                                          cfg.data.valid_batches, seed, groups=speakers)


METHOD = CrossModal()
