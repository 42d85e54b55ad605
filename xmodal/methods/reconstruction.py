"""Speaker embeddings learnt by reconstructing speech frames (Stafylakis et al. 2019;
``method: reconstruction``, DESIGN §6).

An x-vector extractor (``xmodal.models.xvector``) embeds segment A of an utterance; a decoder
predicts the log-mel frames of a segment B of the same utterance, which never overlaps A, from
that embedding plus B's *content input*. Told what is said in B, the decoder needs from the
embedding only who says it and how it sounds (including the recording's channel, which A and
B share). After training only the extractor is kept (``model.pt``).

Content input of B (``data.content``):

- ``phones``: the per-frame phone labels of the dump dir (``frame_phones`` and ``phones.txt``,
  ``xmodal.data.frame_labels``), exact in the synthetic corpus;
- ``noisy``: the same labels corrupted once per utterance at ``data.phone_error_rate``, like a
  real recogniser's output (the same errors every epoch);
- ``phone_posteriors``: per-frame posteriors (``phone_post.scp`` over ``phone_post.txt``),
  e.g. of the toolkit's CTC phone recogniser (``xmodal.recogniser``);
- ``units``: discrete units learnt without labels by k-means on log-mel frames
  (``frame_units`` and ``units.txt``, ``xmodal.data.units``);
- ``content_embedding``: the frozen frame-level content embeddings of a trained cross-modal
  model (``content_emb.scp``, ``xmodal.data.content_embeddings``): the lip-sync-trained
  content stream of Nagrani et al. telling Stafylakis et al.'s decoder what is said;
- ``content_units``: k-means units of those content embeddings (``frame_content_units``);
- ``none``: nothing (the ablation: the decoder can then only draw on the embedding).

Targets are B's log-mel frames normalised with *global* statistics of the training set (a
per-utterance normalisation would remove the long-term spectral cues that carry the speaker).

Speaker classification (``loss.classify_weight > 0``) is an optional second loss on the
x-vectors of A, with the standard x-vector classifier, from labels of ``data.labels``:
``train`` (the training set's own utt2spk: classification regularised by reconstruction) or
``labelled`` (a separate labelled set, ``--labelled-dir`` with ``--utt2spk``: the
semi-supervised setting, reconstruction on the large unlabelled set). With
``loss.reconstruction_weight: 0`` the method is a plain supervised x-vector.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.features import FEATS_PER_VIDEO_FRAME
from xmodal.data import content_inputs
from xmodal.data.frame_labels import recogniser_labels
from xmodal.data.scp import ScpReader
from xmodal.methods.supervised import LabelledUtterances, tiled_crop
from xmodal.data.track_windows import SeededBatchSampler, check_even_split
from xmodal.models.xvector import XVectorConfig, XVectorExtractor
from xmodal.train.config import RunConfig
from xmodal.train.method import Method, MethodNetwork, TrainingData

CONTENTS = (*content_inputs.KINDS, "none")
LABELS = ("none", "train", "labelled")
RECONSTRUCTION_LOSSES = ("l1", "l2")
log = logging.getLogger(__name__)
# Utterances whose frames give the global normalisation statistics of the targets.
STATS_UTTERANCES = 500


@dataclass
class ReconstructionData:
    """Segments, batches and the inputs of the decoder and the classifier."""

    segment_a_frames: int = 200   # frames of A, the segment the extractor embeds (100/s)
    segment_b_frames: int = 200   # frames of B, the segment the decoder reconstructs
    min_gap_frames: int = 0       # at least this many frames between A and B
    content: str = "phones"       # B's content input (CONTENTS; xmodal.data.content_inputs)
    phone_error_rate: float = 0.2  # content noisy: the simulated recogniser's phone error rate
    labels: str = "none"          # speaker labels: none, train (train dir), labelled (--labelled-dir)
    batch_size: int = 64          # (A, B) pairs (or labelled crops, without reconstruction)
                                  # of the training set per global batch
    labelled_batch_size: int = 0  # labels labelled: labelled crops per global batch
    batches_per_epoch: int = 500
    valid_batches: int = 20       # fixed held-out batches scored after every epoch
    num_workers: int = 2

    def __post_init__(self) -> None:
        if self.content not in CONTENTS:
            raise ValueError(f"data.content must be one of {CONTENTS}, got {self.content!r}")
        if self.labels not in LABELS:
            raise ValueError(f"data.labels must be one of {LABELS}, got {self.labels!r}")
        if min(self.segment_a_frames, self.segment_b_frames) < 1 or self.min_gap_frames < 0:
            raise ValueError("data.segment_a_frames, segment_b_frames >= 1 and "
                             "min_gap_frames >= 0 are required")
        if not 0.0 <= self.phone_error_rate <= 1.0:
            raise ValueError(f"data.phone_error_rate must be in [0, 1], got "
                             f"{self.phone_error_rate}")
        if self.labels == "labelled" and self.labelled_batch_size < 1:
            raise ValueError("data.labels labelled needs data.labelled_batch_size >= 1")
        if self.labels != "labelled" and self.labelled_batch_size:
            raise ValueError("data.labelled_batch_size is for data.labels labelled only")
        if self.batch_size < 0 or self.batches_per_epoch < 1 or self.num_workers < 0:
            raise ValueError("data.batch_size >= 0, batches_per_epoch >= 1 and "
                             "num_workers >= 0 are required")


@dataclass
class DecoderConfig:
    """The frame decoder: 1-D convolutions over B's frames (same length in and out)."""

    content_dim: int = 64         # the content input's embedding per frame
    hidden: int = 512
    layers: int = 3
    kernel: int = 5               # frames of context of each layer (odd)

    def __post_init__(self) -> None:
        if self.kernel % 2 == 0 or min(self.content_dim, self.hidden, self.layers) < 1:
            raise ValueError("decoder.kernel must be odd; content_dim, hidden, layers >= 1")


@dataclass
class ReconstructionLoss:
    """Weights of the reconstruction and the speaker-classification losses."""

    reconstruction: str = "l2"    # l1 or l2, on globally normalised log-mel frames
    reconstruction_weight: float = 1.0
    classify_weight: float = 0.0  # 0: no labels used (fully self-supervised)

    def __post_init__(self) -> None:
        if self.reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"loss.reconstruction must be one of {RECONSTRUCTION_LOSSES}, got "
                             f"{self.reconstruction!r}")
        if self.reconstruction_weight < 0 or self.classify_weight < 0 or \
                self.reconstruction_weight + self.classify_weight == 0:
            raise ValueError("loss weights must be >= 0 and not both 0")


@dataclass
class ReconstructionConfig(RunConfig):
    """A reconstruction run (egs/*/v1/conf/recon_*.yaml)."""

    method: str = "reconstruction"
    model: XVectorConfig = field(default_factory=XVectorConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    data: ReconstructionData = field(default_factory=ReconstructionData)
    loss: ReconstructionLoss = field(default_factory=ReconstructionLoss)

    def __post_init__(self) -> None:
        super().__post_init__()
        # Rows from the training set: (A, B) pairs, or labelled crops of a plain x-vector.
        from_train = self.loss.reconstruction_weight > 0 or self.data.labels == "train"
        if from_train != (self.data.batch_size > 0):
            raise ValueError("data.batch_size must be > 0 exactly when batches draw on the "
                             "training set (loss.reconstruction_weight > 0 or data.labels "
                             "train)")
        if (self.loss.classify_weight > 0) != (self.data.labels != "none"):
            raise ValueError("loss.classify_weight > 0 needs data.labels train or labelled, "
                             "and labels are read only for it")


def segment_pair(n_frames: int, a: int, b: int, gap: int,
                 rng: np.random.Generator) -> tuple[int, int]:
    """Starts of non-overlapping segments A (``a`` frames) and B (``b``) at least ``gap``
    frames apart in an ``n_frames`` utterance, in either order with equal probability."""
    slack = n_frames - a - b - gap
    if slack < 0:
        raise ValueError(f"{n_frames} frames cannot hold A ({a}), B ({b}) and a gap of {gap}")
    first = int(rng.integers(0, slack + 1))
    second = first + int(rng.integers(0, slack - first + 1))
    if rng.random() < 0.5:  # A first
        return first, second + a + gap
    return second + b + gap, first


def content_inventory(dump_dir: Path, kind: str) -> int:
    """The number of symbols (phones or units) of content input ``kind`` in ``dump_dir``, or
    the width of its rows (content_embedding), from the table or first matrix alone (0 for
    ``none``)."""
    return 0 if kind == "none" else content_inputs.inventory(dump_dir, kind)


class ContentSource:
    """B's content input per utterance of a dump dir: int64 ids ``(T,)``, float rows
    ``(T, P)`` (posteriors, embeddings), or nothing (``xmodal.data.content_inputs``)."""

    def __init__(self, dump_dir: Path, data: ReconstructionData, seed: int, keys: list[str]):
        """Read the content of ``keys`` (every one must have an entry) from ``dump_dir``."""
        self.kind = data.content
        self.error_rate = data.phone_error_rate
        self.seed = seed
        self.where = dump_dir
        self.n_phones = content_inventory(dump_dir, self.kind)
        self.table = (None if self.kind == "none" else
                      content_inputs.read_content(dump_dir, self.kind, keys))

    def __call__(self, key: str, n_frames: int) -> np.ndarray:
        """The content input of utterance ``key`` over its ``n_frames``."""
        if self.kind == "none":
            return np.zeros(n_frames, np.int64)
        frames = content_inputs.frames_of(self.kind, self.table[key], n_frames,
                                          f"{self.where}: utterance '{key}'")
        if self.kind == "noisy":
            # One fixed corruption per utterance: a recogniser makes the same errors each epoch.
            frames = recogniser_labels(frames, self.n_phones, self.error_rate, self.seed, key)
        return frames


def feature_frames(dump_dir: Path) -> dict[str, int]:
    """Feature frames per utterance of a dump dir (its utt2num_frames counts video frames)."""
    return {k: int(v) * FEATS_PER_VIDEO_FRAME
            for k, v in read_table(dump_dir / "utt2num_frames").items()}


class UtteranceSet:
    """The utterances of a dump dir that batches draw from: keys and speaker labels."""

    def __init__(self, dump_dir: Path, keys: list[str], labels: np.ndarray | None = None):
        self.dump_dir = dump_dir
        self.keys = keys
        self.labels = labels
        self.feats = ScpReader(dump_dir / "feats.scp")

    @classmethod
    def pairs(cls, dump_dir: Path, data: ReconstructionData,
              with_labels: bool) -> tuple[UtteranceSet, list[str], int]:
        """Utterances long enough for A, B and the gap; returns (set, speakers, dropped)."""
        frames = feature_frames(dump_dir)
        need = data.segment_a_frames + data.segment_b_frames + data.min_gap_frames
        keys = [k for k, n in frames.items() if n >= need]
        if not keys:
            raise DataDirError(f"{dump_dir}: no utterance has the {need} frames that "
                               "data.segment_a_frames + segment_b_frames + min_gap_frames "
                               "need")
        labels, speakers = None, []
        if with_labels:
            utt2spk = read_table(dump_dir / "utt2spk")
            speakers = sorted({utt2spk[k] for k in keys})
            index = {s: i for i, s in enumerate(speakers)}
            labels = np.array([index[utt2spk[k]] for k in keys], dtype=np.int64)
        return cls(dump_dir, keys, labels), speakers, len(frames) - len(keys)

    @classmethod
    def labelled(cls, dump_dir: Path, utt2spk_path: Path) -> tuple[UtteranceSet, list[str]]:
        """The utterances of ``utt2spk_path`` (each must be in ``dump_dir``) and speakers."""
        labelled = LabelledUtterances.load(dump_dir, utt2spk_path)
        return cls(dump_dir, labelled.keys, labelled.labels), labelled.speakers


# Items: (source, utterance index, seed); source 0 = an (A, B) pair, 1 = a labelled crop.
PAIR, LABELLED = 0, 1


class SegmentDataset(Dataset):
    """Item -> (A ``(a, n_mels)``, B's content ``(b,)`` ids or ``(b, P)``, B ``(b, n_mels)``,
    speaker label or -1, 1 if B is a reconstruction target else 0).

    Every item of a batch has the same shapes, so labelled crops (no B) carry zeros for B.
    """

    def __init__(self, cfg: ReconstructionConfig, pairs: UtteranceSet | None,
                 content: ContentSource | None, labelled: UtteranceSet | None):
        self.data = cfg.data
        self.n_mels = cfg.model.n_mels
        self.pairs = pairs
        self.content = content
        self.labelled = labelled
        self.content_width = (content.n_phones if content is not None and content.kind != "none"
                              and content_inputs.is_dense(content.kind) else 0)

    def __len__(self) -> int:
        return sum(len(s.keys) for s in (self.pairs, self.labelled) if s is not None)

    def _empty_b(self) -> tuple[np.ndarray, np.ndarray]:
        b = self.data.segment_b_frames
        content = (np.zeros((b, self.content_width), np.float32) if self.content_width
                   else np.zeros(b, np.int64))
        return content, np.zeros((b, self.n_mels), np.float32)

    def __getitem__(self, item: tuple[int, int, int]):
        source, utt, seed = item
        rng = np.random.default_rng(seed)
        a_len, b_len = self.data.segment_a_frames, self.data.segment_b_frames
        if source == LABELLED:
            data = self.labelled
            a = tiled_crop(np.asarray(data.feats[data.keys[utt]]), a_len, rng)
            content, target = self._empty_b()
            return (torch.from_numpy(a), torch.from_numpy(content), torch.from_numpy(target),
                    int(data.labels[utt]), 0)
        data = self.pairs
        key = data.keys[utt]
        feats = np.asarray(data.feats[key])
        label = -1 if data.labels is None else int(data.labels[utt])
        if self.content is None:  # classification only: one crop, no B
            content, target = self._empty_b()
            return (torch.from_numpy(tiled_crop(feats, a_len, rng)), torch.from_numpy(content),
                    torch.from_numpy(target), label, 0)
        a0, b0 = segment_pair(len(feats), a_len, b_len, self.data.min_gap_frames, rng)
        content = self.content(key, len(feats))[b0:b0 + b_len]
        a = np.array(feats[a0:a0 + a_len], dtype=np.float32)
        b = np.array(feats[b0:b0 + b_len], dtype=np.float32)
        return (torch.from_numpy(a), torch.from_numpy(np.ascontiguousarray(content)),
                torch.from_numpy(b), label, 1)


class SegmentBatchSampler(SeededBatchSampler):
    """Global batches of ``n_pairs`` pair items and ``n_labelled`` labelled items, a pure
    function of (seed, epoch, index); replica ``rank`` of R yields its share of each kind."""

    def __init__(self, n_pair_utts: int, n_labelled_utts: int, n_pairs: int, n_labelled: int,
                 steps: int, seed: int, rank: int = 0, num_replicas: int = 1):
        self.sizes = ((PAIR, n_pair_utts, n_pairs), (LABELLED, n_labelled_utts, n_labelled))
        check_even_split(n_pairs, num_replicas, "data.batch_size", "(A, B) pairs")
        check_even_split(n_labelled, num_replicas, "data.labelled_batch_size", "labelled crops")
        super().__init__(steps, seed, rank, num_replicas)

    def batch(self, index: int) -> list[tuple[int, int, int]]:
        """This replica's share of global batch ``index`` of the current epoch."""
        rng = self.rng(index)
        items = []
        for source, n_utts, size in self.sizes:
            if not size:
                continue
            utts = rng.choice(n_utts, size=size, replace=size > n_utts)
            seeds = rng.integers(0, 2**31, size=size)
            own = self.own(size)
            items += [(source, int(u), int(s)) for u, s in zip(utts[own], seeds[own])]
        return items

    def __iter__(self):
        for index in range(self.steps):
            yield self.batch(index)


def target_statistics(pairs: UtteranceSet, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and standard deviation of the log-mel frames of at most
    ``STATS_UTTERANCES`` seeded utterances: the targets' global normalisation."""
    rng = np.random.default_rng([seed, 11])
    chosen = rng.choice(len(pairs.keys), size=min(STATS_UTTERANCES, len(pairs.keys)),
                        replace=False)
    frames = np.concatenate([np.asarray(pairs.feats[pairs.keys[i]], np.float64)
                             for i in sorted(chosen)])
    return frames.mean(axis=0), np.maximum(frames.std(axis=0), 1e-3)


class FrameDecoder(nn.Module):
    """(x-vector of A, B's content input) -> B's log-mel frames, normalised."""

    def __init__(self, cfg: ReconstructionConfig, n_phones: int):
        super().__init__()
        d = cfg.decoder
        kind = cfg.data.content
        self.content_in = (None if kind == "none" else
                           nn.Linear(n_phones, d.content_dim) if content_inputs.is_dense(kind)
                           else nn.Embedding(n_phones, d.content_dim))
        width = cfg.model.embed_dim + (0 if self.content_in is None else d.content_dim)
        layers: list[nn.Module] = []
        for _ in range(d.layers):
            layers += [nn.Conv1d(width, d.hidden, d.kernel, padding=d.kernel // 2), nn.ReLU(),
                       nn.BatchNorm1d(d.hidden)]
            width = d.hidden
        layers.append(nn.Conv1d(width, cfg.model.n_mels, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, emb: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """x-vectors ``(B, D)``, content ``(B, T)`` ids or ``(B, T, P)`` -> ``(B, T, n_mels)``."""
        steps = content.shape[1]
        x = emb.unsqueeze(-1).expand(-1, -1, steps)
        if self.content_in is not None:
            x = torch.cat([x, self.content_in(content).transpose(1, 2)], dim=1)
        return self.layers(x).transpose(1, 2)


class SpeakerClassifier(nn.Sequential):
    """The x-vector network's classifier: ReLU, BN, affine, ReLU, BN, softmax layer."""

    def __init__(self, embed_dim: int, n_speakers: int):
        super().__init__(nn.ReLU(), nn.BatchNorm1d(embed_dim), nn.Linear(embed_dim, embed_dim),
                         nn.ReLU(), nn.BatchNorm1d(embed_dim), nn.Linear(embed_dim, n_speakers))


class ReconstructionObjective(nn.Module):
    """The decoder, the optional classifier and the targets' normalisation."""

    def __init__(self, cfg: ReconstructionConfig, n_phones: int, n_speakers: int,
                 stats: tuple[np.ndarray, np.ndarray] | None):
        super().__init__()
        self.cfg = cfg.loss
        self.decoder = FrameDecoder(cfg, n_phones) if cfg.loss.reconstruction_weight > 0 else None
        self.classifier = (SpeakerClassifier(cfg.model.embed_dim, n_speakers)
                           if cfg.loss.classify_weight > 0 else None)
        mean, std = stats if stats is not None else (np.zeros(cfg.model.n_mels),
                                                     np.ones(cfg.model.n_mels))
        self.register_buffer("target_mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(std, dtype=torch.float32))

    def forward(self, emb: torch.Tensor, content: torch.Tensor, target: torch.Tensor,
                labels: torch.Tensor, is_pair: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted loss and its terms for one batch."""
        terms: dict[str, torch.Tensor] = {}
        loss = emb.new_zeros(())
        pairs = is_pair.bool()
        if self.decoder is not None and pairs.any():
            pred = self.decoder(emb[pairs], content[pairs])
            goal = (target[pairs] - self.target_mean) / self.target_std
            err = pred - goal
            recon = err.abs().mean() if self.cfg.reconstruction == "l1" else err.pow(2).mean()
            terms["reconstruction"] = recon
            # The same loss for predicting the training set's mean frame (0 after the
            # normalisation) on the same frames: the level a decoder that learnt nothing gets.
            terms["reconstruction_mean_frame"] = (goal.abs().mean() if self.cfg.reconstruction
                                                  == "l1" else goal.pow(2).mean()).detach()
            loss = loss + self.cfg.reconstruction_weight * recon
        known = labels >= 0
        if self.classifier is not None and known.any():
            logits = self.classifier(emb[known])
            classify = nn.functional.cross_entropy(logits, labels[known])
            terms["classify"] = classify
            terms["accuracy"] = (logits.argmax(dim=1) == labels[known]).float().mean()
            terms["accuracy_chance"] = emb.new_tensor(1.0 / logits.shape[1])
            loss = loss + self.cfg.classify_weight * classify
        terms["loss"] = loss
        return terms


class ReconstructionNetwork(MethodNetwork):
    """The x-vector extractor (``model``) and the decoder and classifier (``objective``)."""

    def __init__(self, cfg: ReconstructionConfig, n_phones: int, n_speakers: int,
                 stats: tuple[np.ndarray, np.ndarray] | None):
        super().__init__()
        self.model = XVectorExtractor(cfg.model)
        self.objective = ReconstructionObjective(cfg, n_phones, n_speakers, stats)

    def forward(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator):
        """``(A, content, B, labels, is_pair)`` -> (terms, the x-vectors of A)."""
        a, content, target, labels, is_pair = batch
        emb = self.model.embed(a)
        return self.objective(emb, content, target, labels, is_pair), emb


@dataclass
class _Sources:
    """What a run's batches draw from, read once per process."""

    pairs: UtteranceSet | None
    content: ContentSource | None
    labelled: UtteranceSet | None
    speakers: list[str]


class Reconstruction(Method):
    """``method: reconstruction``: the registry's entry for this module."""

    name = "reconstruction"
    config_class = ReconstructionConfig

    def encoder(self, cfg: ReconstructionConfig) -> XVectorExtractor:
        """The x-vector extractor (the decoder and classifier are for training only)."""
        return XVectorExtractor(cfg.model)

    def network(self, cfg: ReconstructionConfig, data: TrainingData) -> ReconstructionNetwork:
        """Extractor, decoder (sized by the phone inventory) and classifier (by the speakers).

        Only the symbol table is read here: the per-frame content (large on a real corpus)
        is read once, by ``train_batches``."""
        src = self._sources(cfg, data, read_content=False)
        reconstructs = cfg.loss.reconstruction_weight > 0
        stats = target_statistics(src.pairs, cfg.seed) if reconstructs else None
        n_phones = content_inventory(Path(data.train_dir), cfg.data.content) if reconstructs else 0
        return ReconstructionNetwork(cfg, n_phones, len(src.speakers), stats)

    def train_batches(self, cfg: ReconstructionConfig, data: TrainingData, rank: int,
                      world_size: int) -> tuple[SegmentDataset, SegmentBatchSampler]:
        """(A, B) pairs of ``data.train_dir`` and, semi-supervised, labelled crops."""
        src = self._sources(cfg, data)
        n_labelled = cfg.data.labelled_batch_size
        return SegmentDataset(cfg, src.pairs, src.content, src.labelled), SegmentBatchSampler(
            len(src.pairs.keys) if src.pairs is not None else 0,
            len(src.labelled.keys) if src.labelled is not None else 0,
            cfg.data.batch_size, n_labelled, cfg.data.batches_per_epoch, cfg.seed, rank,
            world_size)

    def valid_batches(self, cfg: ReconstructionConfig, data: TrainingData,
                      seed: int) -> tuple[SegmentDataset, SegmentBatchSampler] | None:
        """Fixed (A, B) pairs of the held-out ``data.valid_dir``: the reconstruction loss on
        unseen speakers (no labels are read)."""
        if data.valid_dir is None or cfg.loss.reconstruction_weight == 0:
            return None
        pairs, _, _ = UtteranceSet.pairs(Path(data.valid_dir), cfg.data, with_labels=False)
        content = ContentSource(Path(data.valid_dir), cfg.data, cfg.seed, pairs.keys)
        return SegmentDataset(cfg, pairs, content, None), SegmentBatchSampler(
            len(pairs.keys), 0, cfg.data.batch_size, 0, cfg.data.valid_batches, seed)

    @staticmethod
    def _sources(cfg: ReconstructionConfig, data: TrainingData,
                 read_content: bool = True) -> _Sources:
        train_dir = Path(data.train_dir)
        pairs = content = labelled = None
        speakers: list[str] = []
        if cfg.loss.reconstruction_weight > 0:
            pairs, speakers, dropped = UtteranceSet.pairs(train_dir, cfg.data,
                                                          with_labels=cfg.data.labels == "train")
            if read_content:
                if dropped:
                    log.info("%s: %d utterance(s) too short for A, B and the gap are not used",
                             train_dir, dropped)
                content = ContentSource(train_dir, cfg.data, cfg.seed, pairs.keys)
        elif cfg.data.labels == "train":  # a supervised x-vector on the training set
            pairs, speakers = UtteranceSet.labelled(train_dir, train_dir / "utt2spk")
        if cfg.data.labels == "labelled":
            if data.labelled_dir is None or data.utt2spk is None:
                raise ValueError("data.labels labelled: pass --labelled-dir and --utt2spk")
            labelled, speakers = UtteranceSet.labelled(Path(data.labelled_dir),
                                                       Path(data.utt2spk))
        return _Sources(pairs, content, labelled, speakers)


METHOD = Reconstruction()
