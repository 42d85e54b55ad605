"""The fully supervised baseline of paper Table 4 (``method: supervised``).

The audio trunk and audio identity head of a ``TwoStreamModel`` (the architecture of the
self-supervised network) trained on random fixed-length crops of the utterances of a
labelled subset (``--utt2spk`` chooses the utterances and speakers). The loss is either
cross-entropy of a linear classifier over the subset's speakers on the time-averaged identity
embedding, or the n-pair loss on those embeddings. The output dir reads like a
self-supervised experiment, so stages 5-6 extract and score it unchanged; its visual stream
and audio content head keep their initial weights, unused.

Under DDP each rank takes a slice of every global batch: whole (anchor, positive) pairs for
n-pair, whose loss then gathers every rank's embeddings and scores the global batch.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.scp import ScpReader
from xmodal.data.track_windows import SeededBatchSampler, check_even_split
from xmodal.finetune.npair_layer import SpeakerGroups
from xmodal.losses.npair import NPairLoss
from xmodal.models.audio_trunk import audio_output_steps
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.config import RunConfig
from xmodal.train.distributed import gather_batch
from xmodal.train.method import Method, MethodNetwork, TrainingData

PathLike = str | os.PathLike
LOSSES = ("softmax", "npair")


@dataclass
class SupervisedData:
    """Training crops: ``batch_size`` crops of ``crop_frames`` feature frames per step."""

    crop_frames: int = 200        # feature frames per training crop (multiple of 4; 100/s)
    batch_size: int = 64          # the global batch (n-pair: batch_size // 2 speakers x 2)
    batches_per_epoch: int = 500
    num_workers: int = 2          # DataLoader worker processes

    def __post_init__(self) -> None:
        if self.crop_frames % 4 or audio_output_steps(self.crop_frames) < 1:
            raise ValueError(f"data.crop_frames must be a multiple of 4 and >= 20, "
                             f"got {self.crop_frames}")
        if self.batch_size < 2 or self.batches_per_epoch < 1 or self.num_workers < 0:
            raise ValueError("data.batch_size >= 2, batches_per_epoch >= 1 and "
                             "num_workers >= 0 are required")


@dataclass
class SupervisedLoss:
    """Softmax over the subset's speakers, or n-pair on the embeddings."""

    kind: str = "softmax"         # softmax (classifier over the subset's speakers) or npair
    npair_l2_reg: float = 0.002   # n-pair penalty on embedding norms (Sohn 2016)

    def __post_init__(self) -> None:
        if self.kind not in LOSSES:
            raise ValueError(f"loss.kind must be one of {LOSSES}, got {self.kind!r}")


@dataclass
class SupervisedConfig(RunConfig):
    """A supervised baseline run (egs/*/v1/conf/supervised.yaml); SGD as in the paper."""

    method: str = "supervised"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: SupervisedData = field(default_factory=SupervisedData)
    loss: SupervisedLoss = field(default_factory=SupervisedLoss)


# The keys of the supervised yaml before it moved onto the one trainer, and where they went.
OLD_KEYS = {"crop_frames": "data.crop_frames", "batch_size": "data.batch_size",
            "steps_per_epoch": "data.batches_per_epoch", "num_workers": "data.num_workers",
            "epochs": "optim.epochs", "lr": "optim.lr", "momentum": "optim.momentum",
            "weight_decay": "optim.weight_decay", "lr_decay": "optim.lr_decay",
            "loss": "loss.kind", "npair_l2_reg": "loss.npair_l2_reg"}


@dataclass
class LabelledUtterances:
    """The training utterances (utt2spk order), their speaker indices and speaker names."""

    keys: list[str]
    labels: np.ndarray            # index into ``speakers``
    speakers: list[str]           # sorted
    feats_scp: Path

    @classmethod
    def load(cls, feats_dir: PathLike, utt2spk_path: PathLike) -> LabelledUtterances:
        """Utterances of ``utt2spk``, each of which must be in ``feats_dir/feats.scp``."""
        feats_scp = Path(feats_dir) / "feats.scp"
        feats = read_table(feats_scp)
        utt2spk = read_table(utt2spk_path)
        for line, utt in enumerate(utt2spk, 1):
            if utt not in feats:
                raise DataDirError(f"{utt2spk_path}:{line}: utterance '{utt}' has no features "
                                   f"in {feats_scp}")
        speakers = sorted(set(utt2spk.values()))
        index = {spk: i for i, spk in enumerate(speakers)}
        labels = np.array([index[s] for s in utt2spk.values()], dtype=np.int64)
        return cls(list(utt2spk), labels, speakers, feats_scp)


def tiled_crop(feats: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``frames``-frame crop, float32 (a copy: kaldiio may hand out read-only views,
    which torch must not wrap); a shorter utterance is tiled end to end first."""
    if len(feats) < frames:
        feats = np.tile(feats, (math.ceil(frames / len(feats)), 1))
    start = int(rng.integers(0, len(feats) - frames + 1))
    return np.array(feats[start:start + frames], dtype=np.float32)


class CropDataset(Dataset):
    """Item ``(utterance index, crop seed)`` -> (features ``(crop_frames, n_mels)``, label).

    The crop start is drawn from the item's own seed, so a batch is the same in any worker.
    An utterance shorter than a crop is tiled (repeated end to end) before cropping.
    """

    def __init__(self, data: LabelledUtterances, crop_frames: int):
        self.data = data
        self.crop_frames = crop_frames
        self._feats = ScpReader(data.feats_scp)

    def __len__(self) -> int:
        return len(self.data.keys)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, int]:
        utt, seed = item
        crop = tiled_crop(np.asarray(self._feats[self.data.keys[utt]]), self.crop_frames,
                          np.random.default_rng(seed))
        return torch.from_numpy(crop), int(self.data.labels[utt])


class CropBatchSampler(SeededBatchSampler):
    """Batches of ``(utterance, crop seed)`` items; a pure function of (seed, epoch, index).

    softmax: ``batch_size`` utterances drawn uniformly (without replacement when there are
    enough). npair: ``batch_size // 2`` distinct speakers (capped at those with two or more
    utterances), anchors first, then their positives (another utterance of each speaker).
    With ``num_replicas`` R > 1, replica ``rank`` yields its share of every global batch
    (for n-pair: its share of the pairs, its anchors then their positives).
    """

    def __init__(self, labels: np.ndarray, loss: str, batch_size: int, steps: int, seed: int,
                 rank: int = 0, num_replicas: int = 1):
        super().__init__(steps, seed, rank, num_replicas)
        self.labels = labels
        self.loss = loss
        self.groups = (SpeakerGroups.from_labels([str(x) for x in labels])
                       if loss == "npair" else None)
        if self.groups is not None and len(self.groups.speakers) < 2:
            raise DataDirError("n-pair training needs >= 2 speakers with >= 2 utterances")
        # The global batch: n-pair batches are capped at one pair per speaker.
        self.batch_size = (batch_size if self.groups is None
                           else 2 * min(batch_size // 2, len(self.groups.speakers)))
        units = self.batch_size // 2 if self.groups is not None else self.batch_size
        if self.groups is not None:
            check_even_split(units, num_replicas, "data.batch_size / 2 (n-pair: pairs)",
                             "anchor-positive pairs")
        else:
            check_even_split(units, num_replicas, "data.batch_size", "crops")

    def batch(self, index: int) -> list[tuple[int, int]]:
        """Global batch ``index`` of the current epoch."""
        rng = self.rng(index)
        if self.groups is None:
            n = len(self.labels)
            utts = rng.choice(n, size=self.batch_size, replace=self.batch_size > n)
        else:
            anchors, positives = self.groups.draw(self.batch_size // 2, rng)
            utts = np.concatenate([anchors, positives])
        seeds = rng.integers(0, 2**31, size=len(utts))
        return [(int(u), int(s)) for u, s in zip(utts, seeds)]

    def __iter__(self):
        for index in range(self.steps):
            batch = self.batch(index)
            if self.groups is None:
                yield batch[self.own(self.batch_size)]
            else:
                pairs = self.batch_size // 2
                own = self.own(pairs)
                yield batch[:pairs][own] + batch[pairs:][own]


class SupervisedObjective(nn.Module):
    """Cross-entropy of a linear speaker classifier, or the n-pair loss."""

    def __init__(self, cfg: SupervisedConfig, n_speakers: int):
        super().__init__()
        self.classifier = (nn.Linear(cfg.model.embed_dim, n_speakers)
                           if cfg.loss.kind == "softmax" else None)
        self.npair = NPairLoss(cfg.loss.npair_l2_reg)

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings ``(B, D)`` (n-pair: anchors then positives) -> loss and accuracy."""
        if self.classifier is not None:
            logits = self.classifier(emb)
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
            return {"loss": nn.functional.cross_entropy(logits, labels), "accuracy": accuracy}
        n = len(emb) // 2
        anchors, positives = emb[:n], emb[n:]
        if self.training:  # the global batch's pairs (evaluation runs on one rank)
            anchors, positives = gather_batch(anchors), gather_batch(positives)
        loss, accuracy = self.npair(anchors, positives, None if self.training else labels[:n])
        return {"loss": loss, "accuracy": accuracy}


class SupervisedNetwork(MethodNetwork):
    """A ``TwoStreamModel`` whose audio identity embedding is trained with speaker labels."""

    def __init__(self, cfg: SupervisedConfig, n_speakers: int):
        super().__init__()
        self.model = TwoStreamModel(cfg.model)
        self.objective = SupervisedObjective(cfg, n_speakers)

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        """Crops ``(B, T, n_mels)`` -> time-averaged identity embeddings ``(B, D)``."""
        # The trunk and identity head only: the content head would waste time and would
        # update its BatchNorm statistics on a task it is not trained for.
        return self.model.audio_identity(self.model.audio_trunk(feats)).mean(dim=-1)

    def forward(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator):
        """``(crops, labels)`` -> (loss and accuracy, the embeddings)."""
        feats, labels = batch
        emb = self.embed(feats)
        return self.objective(emb, labels), emb


class Supervised(Method):
    """``method: supervised``: the registry's entry for this module."""

    name = "supervised"
    config_class = SupervisedConfig

    def encoder(self, cfg: SupervisedConfig) -> TwoStreamModel:
        """The two-stream model, of which the audio identity path is trained."""
        return TwoStreamModel(cfg.model)

    def network(self, cfg: SupervisedConfig, data: TrainingData) -> SupervisedNetwork:
        """The model and the loss over the training subset's speakers."""
        return SupervisedNetwork(cfg, len(self._labelled(data).speakers))

    def every_parameter_used(self, cfg: SupervisedConfig) -> bool:
        """The visual stream and the audio content head get no gradient."""
        return False

    def train_batches(self, cfg: SupervisedConfig, data: TrainingData, rank: int,
                      world_size: int) -> tuple[CropDataset, CropBatchSampler]:
        """Crops of the labelled utterances (``data.utt2spk``) of ``data.train_dir``."""
        labelled = self._labelled(data)
        return CropDataset(labelled, cfg.data.crop_frames), CropBatchSampler(
            labelled.labels, cfg.loss.kind, cfg.data.batch_size, cfg.data.batches_per_epoch,
            cfg.seed, rank, world_size)

    @staticmethod
    def _labelled(data: TrainingData) -> LabelledUtterances:
        if data.utt2spk is None:
            raise ValueError("method supervised trains on labels: pass --utt2spk")
        return LabelledUtterances.load(data.train_dir, data.utt2spk)


METHOD = Supervised()
