"""One fully connected layer on frozen speaker embeddings, trained with the n-pair loss.

Paper Table 4 (DESIGN §5): the self-supervised network stays frozen; a single ``nn.Linear``
is trained on its L2-normalised identity embeddings with the labels of a ``spk_dev`` subset,
and then maps every evaluation set's embeddings. Each step draws ``batch_classes`` distinct
speakers and two different utterances of each (anchor, positive), a pure function of
(seed, step), so a run is reproducible; speakers with a single utterance cannot form a pair
and are left out (and counted). The optimiser is Adam, not SGD: the logits of unit-norm
inputs start small and near uniform, and its per-weight step sizes get the layer going
without a tuned learning-rate schedule.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import kaldiio
import numpy as np
import torch
from torch import nn

from xmodal.atomic import write_text_atomic
from xmodal.config import save_config
from xmodal.data.datadir import read_table
from xmodal.data.vector_ark import vector_writer
from xmodal.eval.scoring import l2_normalise, load_embeddings
from xmodal.losses.npair import NPairLoss
from xmodal.train.checkpoint import load_checkpoint, save_checkpoint

PathLike = str | os.PathLike
LOG_POINTS = 10  # loss/accuracy averaged over this many equal windows of the run


class FinetuneError(ValueError):
    """Training labels, embeddings or a saved layer are missing or do not fit together."""


@dataclass
class FinetuneConfig:
    """The n-pair layer and its training (``conf/finetune.yaml``)."""

    dim_out: int = 0              # output size; 0 = the input embedding size
    steps: int = 2000
    batch_classes: int = 64       # N of n-pair: distinct speakers per batch (capped at #speakers)
    lr: float = 1e-3              # Adam
    weight_decay: float = 0.0     # Adam's (L2 on the layer's weights)
    l2_reg: float = 0.002         # n-pair penalty on output norms (Sohn 2016)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim_out < 0 or self.steps < 1 or self.batch_classes < 2 or self.lr <= 0:
            raise ValueError("dim_out >= 0, steps >= 1, batch_classes >= 2 and lr > 0 "
                             "are required")
        if self.weight_decay < 0 or self.l2_reg < 0:
            raise ValueError("weight_decay and l2_reg must be >= 0")


@dataclass
class SpeakerGroups:
    """Row indices of the training matrix grouped by speaker (speakers with >= 2 rows only)."""

    speakers: list[str]
    rows: np.ndarray              # row indices, speaker after speaker
    starts: np.ndarray            # speaker i owns rows[starts[i]:starts[i] + sizes[i]]
    sizes: np.ndarray
    skipped: list[str]            # speakers with one utterance: no pair possible

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> SpeakerGroups:
        """Group row ``i`` under ``labels[i]``; speakers sorted by name."""
        by_speaker: dict[str, list[int]] = {}
        for row, spk in enumerate(labels):
            by_speaker.setdefault(spk, []).append(row)
        kept = sorted(s for s, group in by_speaker.items() if len(group) >= 2)
        sizes = np.array([len(by_speaker[s]) for s in kept], dtype=np.int64)
        rows = np.array([r for s in kept for r in by_speaker[s]], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cls(kept, rows, starts, sizes,
                   sorted(s for s, group in by_speaker.items() if len(group) < 2))

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``n`` (anchor, positive) pairs: distinct speakers, two different utterances."""
        chosen = rng.choice(len(self.speakers), size=n, replace=False)
        sizes = self.sizes[chosen]
        first = rng.integers(0, sizes)
        # Second draw among the other size-1 utterances, shifted past the first.
        second = rng.integers(0, sizes - 1)
        second = second + (second >= first)
        base = self.starts[chosen]
        return self.rows[base + first], self.rows[base + second]


@dataclass
class TrainSummary:
    """What a training run used and how it went."""

    n_utts: int
    n_speakers: int               # speakers that formed pairs
    skipped_speakers: list[str]   # speakers with a single utterance
    batch_classes: int            # N actually used (capped at n_speakers)
    log: list[dict[str, float]] = field(default_factory=list)


def make_layer(dim_in: int, dim_out: int) -> nn.Linear:
    """``nn.Linear(dim_in, dim_out or dim_in)``, orthogonally initialised with zero bias.

    Why orthogonal: at step 0 a square layer is a rotation, so cosine scores equal those of
    the raw embeddings and training starts from the frozen network's own geometry.
    """
    layer = nn.Linear(dim_in, dim_out or dim_in)
    nn.init.orthogonal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def train_layer(cfg: FinetuneConfig, embeddings: np.ndarray,
                labels: Sequence[str]) -> tuple[nn.Linear, TrainSummary]:
    """Train the layer on ``embeddings (n, D)`` (L2-normalised here) with speaker ``labels``."""
    if len(embeddings) != len(labels):
        raise FinetuneError(f"{len(embeddings)} embeddings but {len(labels)} labels")
    groups = SpeakerGroups.from_labels(labels)
    if len(groups.speakers) < 2:
        raise FinetuneError(f"n-pair training needs >= 2 speakers with >= 2 utterances each, "
                            f"got {len(groups.speakers)}")
    n = min(cfg.batch_classes, len(groups.speakers))
    x = torch.from_numpy(l2_normalise(np.asarray(embeddings, dtype=np.float64))).float()
    torch.manual_seed(cfg.seed)
    layer = make_layer(x.shape[1], cfg.dim_out)
    optimizer = torch.optim.Adam(layer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    criterion = NPairLoss(cfg.l2_reg)
    summary = TrainSummary(len(labels), len(groups.speakers), groups.skipped, n)
    window = max(1, cfg.steps // LOG_POINTS)
    losses, accuracies = [], []
    for step in range(cfg.steps):
        anchors, positives = groups.draw(n, np.random.default_rng([cfg.seed, step]))
        loss, accuracy = criterion(layer(x[anchors]), layer(x[positives]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        accuracies.append(float(accuracy))
        if (step + 1) % window == 0 or step + 1 == cfg.steps:
            summary.log.append({"step": step + 1, "loss": float(np.mean(losses)),
                                "accuracy": float(np.mean(accuracies))})
            losses, accuracies = [], []
    return layer.eval(), summary


def load_training_set(train_scp: PathLike, utt2spk_path: PathLike) -> tuple[np.ndarray, list[str]]:
    """Embeddings of exactly the utterances of ``utt2spk`` (in its order) and their speakers.

    Other utterances of the scp are ignored, so the subset data dir chooses the labels. An
    utt2spk key without an embedding is an error naming it and its line.
    """
    utt2spk = read_table(utt2spk_path)
    try:
        available = set(kaldiio.load_scp(str(train_scp)))
    except (OSError, ValueError) as err:
        raise FinetuneError(f"{train_scp}: cannot read: {err}") from None
    missing = [(line, utt) for line, utt in enumerate(utt2spk, 1) if utt not in available]
    if missing:
        line, utt = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise FinetuneError(f"{utt2spk_path}:{line}: utterance '{utt}' has no embedding in "
                            f"{train_scp}{more}")
    table = load_embeddings([train_scp], utt2spk)
    return table.matrix, [utt2spk[u] for u in table.keys]


def save_layer(layer: nn.Linear, path: PathLike, cfg: FinetuneConfig) -> None:
    """Write the layer's weights and its config atomically."""
    save_checkpoint({"layer": layer.state_dict(), "config": asdict(cfg)}, path)


def load_layer(path: PathLike) -> nn.Linear:
    """The layer saved by :func:`save_layer`, in eval mode."""
    state = load_checkpoint(path)
    try:
        dim_out, dim_in = state["layer"]["weight"].shape
        layer = nn.Linear(dim_in, dim_out)
        layer.load_state_dict(state["layer"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise FinetuneError(f"{path}: not a fine-tuned layer ({err})") from None
    return layer.eval()


def write_embeddings(keys: Sequence[str], matrix: np.ndarray, ark: PathLike,
                     scp: PathLike) -> None:
    """Write the rows of ``matrix`` as float32 vectors to a Kaldi ark/scp pair, atomically."""
    with vector_writer(Path(ark), Path(scp)) as write:
        for key, vector in zip(keys, matrix):
            write(key, vector)


@torch.no_grad()
def apply_layer(layer: nn.Linear, in_scp: PathLike, out_ark: PathLike, out_scp: PathLike) -> int:
    """Map every embedding of ``in_scp`` (L2-normalised, as in training); returns the count."""
    table = load_embeddings([in_scp])
    if table.matrix.shape[1] != layer.in_features:
        raise FinetuneError(f"{in_scp}: embeddings have dimension {table.matrix.shape[1]}, "
                            f"the layer expects {layer.in_features}")
    out = layer(torch.from_numpy(l2_normalise(table.matrix)).float()).numpy()
    write_embeddings(table.keys, out, out_ark, out_scp)
    return len(table.keys)


def applied_outputs(apply_scps: Sequence[PathLike], out_dir: PathLike) -> list[tuple[Path, Path]]:
    """``(in_scp, OUT/<set dir name>/<scp stem>)`` per applied set; two sets of one name fail."""
    outputs, seen = [], {}
    for scp in map(Path, apply_scps):
        stem = Path(out_dir) / scp.resolve().parent.name / scp.stem
        if stem in seen:
            raise FinetuneError(f"{scp} and {seen[stem]} would both be written to {stem}.scp")
        seen[stem] = scp
        outputs.append((scp, stem))
    return outputs


def finetune(cfg: FinetuneConfig, train_scp: PathLike, utt2spk: PathLike,
             apply_scps: Sequence[PathLike], out_dir: PathLike) -> TrainSummary:
    """Train on ``train_scp`` with the labels of ``utt2spk``, then map each applied set.

    Writes ``OUT/finetune.yaml`` (resolved config), ``OUT/train_log.jsonl``,
    ``OUT/<set>/<stem>.{ark,scp}`` for each ``apply_scps`` entry ``.../<set>/<stem>.scp`` and,
    last, ``OUT/layer.pt``.
    """
    out_dir = Path(out_dir)
    outputs = applied_outputs(apply_scps, out_dir)  # fail on a name clash before training
    embeddings, labels = load_training_set(train_scp, utt2spk)
    layer, summary = train_layer(cfg, embeddings, labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "layer.pt").unlink(missing_ok=True)  # an earlier run's marker no longer holds
    save_config(cfg, out_dir / "finetune.yaml")
    write_text_atomic(out_dir / "train_log.jsonl",
                      "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in summary.log))
    for scp, stem in outputs:
        stem.parent.mkdir(parents=True, exist_ok=True)
        apply_layer(layer, scp, f"{stem}.ark", f"{stem}.scp")
    save_layer(layer, out_dir / "layer.pt", cfg)  # last: its presence marks a finished run
    return summary
