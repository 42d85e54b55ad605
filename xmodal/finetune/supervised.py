"""The fully supervised baseline of paper Table 4: the audio stream trained end to end on labels.

The audio trunk and audio identity head of a ``TwoStreamModel`` (same architecture as the
self-supervised network) are trained on random fixed-length crops of the utterances of a
labelled subset (its ``utt2spk`` chooses the utterances and speakers). The loss is either
cross-entropy of a linear classifier over the subset's speakers on the time-averaged identity
embedding, or the n-pair loss on those embeddings. Every random choice is a function of
(seed, epoch, batch index) and the initial weights of the seed, so a run is reproducible.
The output dir reads like a self-supervised experiment (``load_pretrained``), so stages 5-6
extract and score it unchanged; its visual stream is left at its initial weights, unused.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from xmodal.config import save_config
from xmodal.data.datadir import read_table
from xmodal.data.scp import ScpReader
from xmodal.finetune.npair_layer import FinetuneError, SpeakerGroups
from xmodal.losses.npair import NPairLoss
from xmodal.models.audio_trunk import audio_output_steps
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import save_checkpoint
from xmodal.train.config import TrainConfig

log = logging.getLogger(__name__)
PathLike = str | os.PathLike
LOSSES = ("softmax", "npair")


@dataclass
class SupervisedConfig:
    """The supervised baseline (``conf/supervised.yaml``); optimiser as in the paper's SGD."""

    model: ModelConfig = field(default_factory=ModelConfig)
    crop_frames: int = 200        # feature frames per training crop (multiple of 4; 100/s)
    batch_size: int = 64          # crops per batch (n-pair: batch_size // 2 speakers x 2)
    steps_per_epoch: int = 500
    epochs: int = 30
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 1e-5
    lr_decay: float = 0.95        # lr multiplied by this after every epoch
    loss: str = "softmax"         # softmax (classifier over the subset's speakers) or npair
    npair_l2_reg: float = 0.002   # n-pair penalty on embedding norms (Sohn 2016)
    seed: int = 0
    num_workers: int = 2

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.crop_frames % 4 or audio_output_steps(self.crop_frames) < 1:
            raise ValueError(f"crop_frames must be a multiple of 4 and >= 20, "
                             f"got {self.crop_frames}")
        if self.batch_size < 2 or self.steps_per_epoch < 1 or self.epochs < 1:
            raise ValueError("batch_size >= 2, steps_per_epoch >= 1 and epochs >= 1 are required")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1 or self.num_workers < 0:
            raise ValueError("lr > 0, 0 < lr_decay <= 1 and num_workers >= 0 are required")


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
                raise FinetuneError(f"{utt2spk_path}:{line}: utterance '{utt}' has no features "
                                    f"in {feats_scp}")
        speakers = sorted(set(utt2spk.values()))
        index = {spk: i for i, spk in enumerate(speakers)}
        labels = np.array([index[s] for s in utt2spk.values()], dtype=np.int64)
        return cls(list(utt2spk), labels, speakers, feats_scp)


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
        feats = np.asarray(self._feats[self.data.keys[utt]])
        if len(feats) < self.crop_frames:
            feats = np.tile(feats, (math.ceil(self.crop_frames / len(feats)), 1))
        start = np.random.default_rng(seed).integers(0, len(feats) - self.crop_frames + 1)
        # A copy: kaldiio may hand out read-only views, which torch must not wrap.
        crop = np.array(feats[start:start + self.crop_frames], dtype=np.float32)
        return torch.from_numpy(crop), int(self.data.labels[utt])


class CropBatchSampler(Sampler):
    """Batches of ``(utterance, crop seed)`` items; a pure function of (seed, epoch, index).

    softmax: ``batch_size`` utterances drawn uniformly (without replacement when there are
    enough). npair: ``batch_size // 2`` distinct speakers (capped at those with two or more
    utterances), anchors first, then their positives (another utterance of each speaker).
    """

    def __init__(self, labels: np.ndarray, loss: str, batch_size: int, steps: int, seed: int):
        self.labels = labels
        self.batch_size = batch_size
        self.steps = steps
        self.seed = seed
        self.epoch = 0
        self.groups = (SpeakerGroups.from_labels([str(x) for x in labels])
                       if loss == "npair" else None)
        if self.groups is not None and len(self.groups.speakers) < 2:
            raise FinetuneError("n-pair training needs >= 2 speakers with >= 2 utterances")

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches are drawn next."""
        self.epoch = epoch

    def batch(self, index: int) -> list[tuple[int, int]]:
        """Batch ``index`` of the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.groups is None:
            n = len(self.labels)
            utts = rng.choice(n, size=self.batch_size, replace=self.batch_size > n)
        else:
            anchors, positives = self.groups.draw(
                min(self.batch_size // 2, len(self.groups.speakers)), rng)
            utts = np.concatenate([anchors, positives])
        seeds = rng.integers(0, 2**31, size=len(utts))
        return [(int(u), int(s)) for u, s in zip(utts, seeds)]

    def __iter__(self):
        for index in range(self.steps):
            yield self.batch(index)

    def __len__(self) -> int:
        return self.steps


class SupervisedNetwork(nn.Module):
    """A ``TwoStreamModel`` whose audio identity embedding is trained with speaker labels."""

    def __init__(self, cfg: SupervisedConfig, n_speakers: int):
        super().__init__()
        self.model = TwoStreamModel(cfg.model)
        self.classifier = (nn.Linear(cfg.model.embed_dim, n_speakers)
                           if cfg.loss == "softmax" else None)
        self.npair = NPairLoss(cfg.npair_l2_reg)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Audio trunk, audio identity head and classifier: all the loss reaches."""
        modules = [self.model.audio_trunk, self.model.audio_identity]
        if self.classifier is not None:
            modules.append(self.classifier)
        return [p for m in modules for p in m.parameters()]

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        """Crops ``(B, T, n_mels)`` -> time-averaged identity embeddings ``(B, D)``."""
        # The trunk and identity head only: the content head would waste time and would
        # update its BatchNorm statistics on a task it is not trained for.
        return self.model.audio_identity(self.model.audio_trunk(feats)).mean(dim=-1)

    def forward(self, feats: torch.Tensor,
                labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, accuracy) of a batch; for npair the batch is anchors then positives."""
        emb = self.embed(feats)
        if self.classifier is not None:
            logits = self.classifier(emb)
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
            return nn.functional.cross_entropy(logits, labels), accuracy
        n = len(emb) // 2
        return self.npair(emb[:n], emb[n:], labels[:n])


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no GPU is visible")
    use_cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def train_supervised(cfg: SupervisedConfig, feats_dir: PathLike, utt2spk: PathLike,
                     output_dir: PathLike, device: str = "auto", force: bool = False) -> bool:
    """Train the baseline into ``output_dir``; returns False (a no-op) if already trained.

    Writes ``config.yaml`` (a ``TrainConfig`` holding ``cfg.model``, for ``load_pretrained``),
    ``supervised.yaml`` (the resolved ``cfg``), ``train_log.jsonl`` (one line per epoch) and,
    last, ``model.pt`` (``{"model": TwoStreamModel state_dict}``): its presence marks a
    finished run, which is kept unless ``force``.
    """
    output_dir = Path(output_dir)
    final = output_dir / "model.pt"
    if final.exists() and not force:
        log.info("%s exists; skipping (pass --force to retrain)", final)
        return False
    data = LabelledUtterances.load(feats_dir, utt2spk)
    dev = _device(device)
    output_dir.mkdir(parents=True, exist_ok=True)
    final.unlink(missing_ok=True)
    save_config(TrainConfig(model=cfg.model), output_dir / "config.yaml")
    save_config(cfg, output_dir / "supervised.yaml")
    log_path = output_dir / "train_log.jsonl"
    log_path.unlink(missing_ok=True)

    torch.manual_seed(cfg.seed)
    network = SupervisedNetwork(cfg, len(data.speakers)).to(dev)
    optimizer = torch.optim.SGD(network.trainable_parameters(), lr=cfg.lr,
                                momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.lr_decay)
    sampler = CropBatchSampler(data.labels, cfg.loss, cfg.batch_size, cfg.steps_per_epoch,
                               cfg.seed)
    dataset = CropDataset(data, cfg.crop_frames)
    log.info("supervised %s baseline: %d utterances of %d speakers", cfg.loss, len(data.keys),
             len(data.speakers))
    network.train()
    for epoch in range(1, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        losses, accuracies, crops, start = [], [], 0, time.time()
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.num_workers,
                            pin_memory=dev.type == "cuda")
        bar = tqdm(loader, total=len(sampler), desc=f"epoch {epoch}/{cfg.epochs}",
                   dynamic_ncols=True, unit="batch")
        for step, (feats, labels) in enumerate(bar):
            loss, accuracy = network(feats.to(dev), labels.to(dev))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {float(loss)} at epoch {epoch} "
                                         f"step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            accuracies.append(float(accuracy))
            crops += len(labels)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.close()
        scheduler.step()
        seconds = time.time() - start
        entry = {"epoch": epoch, "lr": lr, "seconds": round(seconds, 2),
                 "loss": float(np.mean(losses)), "accuracy": float(np.mean(accuracies)),
                 "crops_per_s": round(crops / seconds, 2)}
        with open(log_path, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
        log.info("epoch %d: loss %.4f, accuracy %.3f", epoch, entry["loss"], entry["accuracy"])
    state = {k: v.cpu() for k, v in network.model.state_dict().items()}
    save_checkpoint({"model": state}, final)
    return True
