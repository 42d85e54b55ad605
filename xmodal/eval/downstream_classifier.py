"""Downstream classifiers on frozen encoder features, and their accuracy over speakers.

A downstream evaluation (emotion, word or speaker-id classification) asks how usable an
encoder's frozen per-frame features are for a task the encoder was not trained on. A small
classifier is trained on the features of a training split, its epoch is chosen on a
validation split, and it is scored once on a test split:

- ``linear``: the mean of the frames into one linear layer, the usual linear-probe reading:
  what the features hold on average over the utterance;
- ``gru``: a one-layer bidirectional GRU over the frames, the mean of its outputs over the
  true frames, a linear layer. It also finds what lies in the order of the frames (a word,
  an intonation contour), which mean pooling cancels;
- ``conv``: two 1-D convolutions over the frames (5 frames each, ReLU), their mean over the
  true frames, a linear layer. On log-mel frames, trained with the task's labels, it is the
  supervised ceiling of the downstream table: a small encoder learnt end to end.

Features are standardised with the training split's per-dimension mean and standard
deviation over all its frames: encoders differ in scale, and one learning rate then serves
them all. The statistics stay with the classifier, so a test utterance's prediction does not
depend on which other utterances are tested with it.

Speaker normalisation (``normalise_per_speaker``, for the emotion tasks): before that, each
speaker's frames are standardised with the mean and standard deviation of all that speaker's
frames in the split, labels unused. An emotion is a change from a speaker's own neutral
voice; a classifier of one utterance does not know that neutral, so without this it reads
mostly where a voice sits among the training speakers. This is the usual speaker-level
normalisation of emotion recognition, and it is transductive: a test utterance's prediction
then depends on its speaker's other (unlabelled) test utterances.

Early stopping: after each epoch the validation accuracy is computed; the weights of the best
epoch (the earliest of equals) are kept, and training stops after ``patience`` epochs
without a better one. Only the validation split chooses; the test split is not seen in
training, so its accuracy is not biased by the choice.

Determinism: the weights are initialised under ``torch.manual_seed(seed)`` (in a forked RNG,
so the caller's stream is untouched) and a generator seeded likewise shuffles the
minibatches: the same inputs and config give bit-identical weights on one thread.

Intervals resample speakers, not utterances (``bootstrap.cluster_bootstrap_accuracy``): one
speaker's utterances share a voice and err together, so a binomial interval is too narrow.
Two encoders scored on the same test utterances are compared under the same speaker
resamples (paired), which cancels the speaker-to-speaker variation they share; the
difference's interval and p-value are those of ``bootstrap.paired_bootstrap``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from xmodal.eval.bootstrap import cluster_bootstrap_accuracy, cluster_paired_difference

KINDS = ("linear", "gru", "conv")
CONV_KERNEL = 5  # conv: frames each of its two layers sees


@dataclass
class ClassifierConfig:
    """The classifier (module doc) and its training settings."""

    kind: str = "linear"        # "linear": time-pooled features; "gru": recurrent on frames;
                                # "conv": two convolutions over the frames, then pooled
    hidden: int = 64            # gru: hidden units per direction; conv: channels
    max_epochs: int = 100
    patience: int = 10          # epochs without a better validation accuracy before stopping
    lr: float = 1e-3            # Adam
    weight_decay: float = 1e-4
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("hidden", "max_epochs", "patience", "batch_size", "seed"):
            value = getattr(self, name)
            least = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got "
                             f"{self.weight_decay!r}")


@dataclass
class FeatureSet:
    """Per-utterance frozen features of one split.

    ``feats[i]`` is utterance ``keys[i]``'s ``(T_i, D)`` features (stored as float32, T_i >= 1,
    one D for all), ``labels[i]`` its class id (int64, >= 0) and ``speakers[i]`` its speaker,
    the unit the bootstrap resamples. Anything else is a ValueError naming the first bad key.
    """

    keys: list[str]
    feats: list[np.ndarray]
    labels: np.ndarray
    speakers: list[str]

    def __post_init__(self) -> None:
        self.keys, self.feats, self.speakers = (list(self.keys), list(self.feats),
                                                list(self.speakers))
        labels = np.asarray(self.labels)
        if labels.ndim != 1:
            raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
        sizes = (len(self.keys), len(self.feats), len(labels), len(self.speakers))
        if len(set(sizes)) > 1:
            counts = (f"{sizes[0]} keys, {sizes[1]} feature arrays, {sizes[2]} labels and "
                      f"{sizes[3]} speakers")
            if sizes[0] > min(sizes):
                raise ValueError(f"utterance '{self.keys[min(sizes)]}' lacks an entry: "
                                 f"{counts}")
            raise ValueError(f"more entries than keys: {counts}")
        if not self.keys:
            raise ValueError("a feature set needs at least one utterance")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers, got {labels.dtype}")
        seen: set[str] = set()
        for i, key in enumerate(self.keys):
            if key in seen:
                raise ValueError(f"utterance '{key}' appears twice")
            seen.add(key)
            x = np.asarray(self.feats[i])
            if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
                raise ValueError(f"utterance '{key}': features must be (T, D) with T, D >= 1, "
                                 f"got shape {x.shape}")
            if i and x.shape[1] != self.feats[0].shape[1]:  # the first is stored cast by now
                raise ValueError(f"utterance '{key}': {x.shape[1]} dimensions, but utterance "
                                 f"'{self.keys[0]}' has {self.feats[0].shape[1]}")
            # Checked after the cast: a float64 value beyond float32's range becomes inf.
            with np.errstate(over="ignore"):
                x = x.astype(np.float32, copy=False)
            if not np.isfinite(x).all():
                raise ValueError(f"utterance '{key}': features hold NaN or infinite values")
            if labels[i] < 0:
                raise ValueError(f"utterance '{key}': negative label {labels[i]}")
            self.feats[i] = x
        self.labels = labels.astype(np.int64)

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        return self.feats[0].shape[1]


def normalise_per_speaker(data: FeatureSet) -> FeatureSet:
    """``data`` with each speaker's frames standardised per dimension by the mean and standard
    deviation over all that speaker's frames (module doc). A dimension constant within a
    speaker is only centred. A speaker with one utterance is a ValueError naming it: the
    utterance would be compared with itself alone, and its mean would vanish."""
    members: dict[str, list[int]] = {}
    for i, speaker in enumerate(data.speakers):
        members.setdefault(speaker, []).append(i)
    feats = list(data.feats)
    for speaker, index in members.items():
        if len(index) < 2:
            raise ValueError(f"speaker '{speaker}' has one utterance ('{data.keys[index[0]]}'):"
                             f" speaker normalisation needs at least 2")
        mean, std = _frame_statistics([data.feats[i] for i in index])
        for i in index:
            feats[i] = ((data.feats[i] - mean) / std).astype(np.float32)
    return FeatureSet(data.keys, feats, data.labels, data.speakers)


class _Network(nn.Module):
    """linear: pooled ``(B, D)`` -> logits; gru, conv: list of ``(T_i, D)`` -> logits
    ``(B, C)``."""

    def __init__(self, kind: str, in_dim: int, n_classes: int, hidden: int):
        super().__init__()
        self.gru = (nn.GRU(in_dim, hidden, batch_first=True, bidirectional=True)
                    if kind == "gru" else None)
        self.convs = (nn.ModuleList([nn.Conv1d(in_dim, hidden, CONV_KERNEL,
                                               padding=CONV_KERNEL // 2),
                                     nn.Conv1d(hidden, hidden, CONV_KERNEL,
                                               padding=CONV_KERNEL // 2)])
                      if kind == "conv" else None)
        width = {"linear": in_dim, "gru": 2 * hidden, "conv": hidden}[kind]
        self.out = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if self.gru is None and self.convs is None:
            return self.out(x)
        lengths = torch.tensor([len(f) for f in x])
        if self.convs is not None:
            mask = (torch.arange(int(lengths.max()))[None] < lengths[:, None])[:, None]
            h = pad_sequence(x, batch_first=True).transpose(1, 2)
            for conv in self.convs:
                # Zeroed beyond each length, so the next layer sees what the utterance alone
                # would (the zero padding of the convolution) whatever its batch companions.
                h = torch.relu(conv(h)) * mask
            return self.out(h.sum(dim=2) / lengths[:, None])
        # Packed, so the backward direction starts at each utterance's last true frame and
        # padding never enters the state; the unpacked outputs are zero beyond each length.
        packed = pack_padded_sequence(pad_sequence(x, batch_first=True), lengths,
                                      batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True)
        return self.out(out.sum(dim=1) / lengths[:, None])


def _build_network(cfg: ClassifierConfig, in_dim: int, n_classes: int) -> _Network:
    """A freshly initialised network, seeded by ``cfg.seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return _Network(cfg.kind, in_dim, n_classes, cfg.hidden)


def _frame_statistics(feats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation over all frames (float64, two passes: a
    large common offset would cancel the digits of a sum of squares)."""
    n = sum(len(f) for f in feats)
    mean = sum(f.sum(axis=0, dtype=np.float64) for f in feats) / n
    var = sum(((f - mean) ** 2).sum(axis=0) for f in feats) / n
    std = np.sqrt(var)
    std[std == 0] = 1.0  # a dimension constant in training carries nothing to learn
    return mean, std


def _take(x: torch.Tensor | list[torch.Tensor], index: torch.Tensor):
    """Rows ``index`` of the pooled tensor, or those utterances of the list."""
    return x[index] if isinstance(x, torch.Tensor) else [x[i] for i in index.tolist()]


class TrainedClassifier:
    """A trained classifier with its training statistics; ``predict`` labels a FeatureSet.

    ``best_epoch`` (from 1) is the epoch whose weights it holds, ``valid_accuracy`` that
    epoch's validation accuracy, ``epochs_run`` how many epochs training ran.
    """

    def __init__(self, config: ClassifierConfig, n_classes: int, network: _Network,
                 mean: np.ndarray, std: np.ndarray, best_epoch: int, epochs_run: int,
                 valid_accuracy: float):
        self.config, self.n_classes, self.network = config, n_classes, network.eval()
        self.mean, self.std = mean, std
        self.best_epoch, self.epochs_run = best_epoch, epochs_run
        self.valid_accuracy = valid_accuracy

    def _inputs(self, data: FeatureSet) -> torch.Tensor | list[torch.Tensor]:
        """The network's inputs for ``data``: standardised, then mean-pooled (linear) or kept
        per frame (gru). The mean of standardised frames is the standardised mean."""
        if data.dim != len(self.mean):
            raise ValueError(f"features have {data.dim} dimensions, the classifier was trained "
                             f"on {len(self.mean)}")
        if self.config.kind == "linear":
            pooled = np.stack([f.mean(axis=0, dtype=np.float64) for f in data.feats])
            return torch.from_numpy(((pooled - self.mean) / self.std).astype(np.float32))
        return [torch.from_numpy(((f - self.mean) / self.std).astype(np.float32))
                for f in data.feats]

    @torch.no_grad()
    def _logits_of(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Logits ``(N, n_classes)`` of prepared inputs (``_inputs``), in minibatches."""
        self.network.eval()
        size = self.config.batch_size
        return torch.cat([self.network(x[start:start + size])
                          for start in range(0, len(x), size)])

    def logits(self, data: FeatureSet) -> np.ndarray:
        """Class scores ``(N, n_classes)`` (float32, before the softmax) of each utterance."""
        return self._logits_of(self._inputs(data)).numpy()

    def predict(self, data: FeatureSet) -> np.ndarray:
        """Predicted class id (int64) of each utterance."""
        return self._logits_of(self._inputs(data)).argmax(dim=1).numpy().astype(np.int64)

    def state_dict(self) -> dict:
        """Everything ``from_state_dict`` needs, as tensors and plain values (torch.save)."""
        return {"config": asdict(self.config), "n_classes": self.n_classes,
                "mean": torch.from_numpy(self.mean.copy()),
                "std": torch.from_numpy(self.std.copy()),
                "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
                "valid_accuracy": self.valid_accuracy,
                "network": {k: v.clone() for k, v in self.network.state_dict().items()}}

    @classmethod
    def from_state_dict(cls, state: dict) -> TrainedClassifier:
        """The classifier ``state_dict`` described."""
        config = ClassifierConfig(**state["config"])
        mean, std = state["mean"].numpy().copy(), state["std"].numpy().copy()
        network = _build_network(config, len(mean), state["n_classes"])
        network.load_state_dict(state["network"])
        return cls(config, state["n_classes"], network, mean, std, state["best_epoch"],
                   state["epochs_run"], state["valid_accuracy"])


def _check_labels(data: FeatureSet, n_classes: int, split: str) -> None:
    """Every label must be below ``n_classes``; else a ValueError naming the key."""
    bad = np.flatnonzero(data.labels >= n_classes)
    if len(bad):
        raise ValueError(f"{split} utterance '{data.keys[bad[0]]}': label "
                         f"{data.labels[bad[0]]} is not below n_classes={n_classes}")


def train_classifier(train: FeatureSet, valid: FeatureSet, n_classes: int,
                     cfg: ClassifierConfig, log: Callable[[str], None] | None = None
                     ) -> TrainedClassifier:
    """Train ``cfg.kind`` on ``train``, choosing the epoch on ``valid`` (module doc).

    Cross-entropy, Adam (``lr``, ``weight_decay``), minibatches of ``batch_size`` in an order
    shuffled each epoch. ``log``, if given, gets one line per epoch: the mean training loss
    and the validation accuracy.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if valid.dim != train.dim:
        raise ValueError(f"training features have {train.dim} dimensions, validation "
                         f"features {valid.dim}")
    _check_labels(train, n_classes, "training")
    _check_labels(valid, n_classes, "validation")
    mean, std = _frame_statistics(train.feats)
    network = _build_network(cfg, train.dim, n_classes)
    classifier = TrainedClassifier(cfg, n_classes, network, mean, std, 0, 0, float("nan"))
    x_train, x_valid = classifier._inputs(train), classifier._inputs(valid)
    y_train, y_valid = torch.from_numpy(train.labels), torch.from_numpy(valid.labels)
    optimiser = torch.optim.Adam(network.parameters(), lr=cfg.lr,
                                 weight_decay=cfg.weight_decay)
    order = torch.Generator().manual_seed(cfg.seed)
    best_correct, best_epoch, best_state = -1, 0, None
    for epoch in range(1, cfg.max_epochs + 1):
        network.train()
        perm = torch.randperm(len(y_train), generator=order)
        total = 0.0
        for start in range(0, len(perm), cfg.batch_size):
            index = perm[start:start + cfg.batch_size]
            loss = nn.functional.cross_entropy(network(_take(x_train, index)),
                                               y_train[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(index)
        # Counts, not ratios, so equal accuracies compare equal: the earliest of them wins.
        correct = int((classifier._logits_of(x_valid).argmax(dim=1) == y_valid).sum())
        if correct > best_correct:
            best_correct, best_epoch = correct, epoch
            best_state = {k: v.clone() for k, v in network.state_dict().items()}
        if log is not None:
            log(f"epoch {epoch}/{cfg.max_epochs}: train loss {total / len(perm):.4f}, "
                f"valid accuracy {correct / len(y_valid):.4f} (best epoch {best_epoch})")
        if epoch - best_epoch >= cfg.patience:
            break
    network.load_state_dict(best_state)
    classifier.best_epoch, classifier.epochs_run = best_epoch, epoch
    classifier.valid_accuracy = best_correct / len(y_valid)
    return classifier


def _outcomes(correct, name: str) -> np.ndarray:
    """Non-empty 1-D 0/1 (or boolean) outcomes as float64; else a ValueError naming them."""
    values = np.asarray(correct)
    if values.ndim != 1 or not len(values) or not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must be a non-empty 1-D array of 0/1 outcomes, got shape "
                         f"{values.shape}")
    return values.astype(np.float64)


def accuracy_with_ci(correct: np.ndarray, speakers: Sequence[str], n_boot: int = 1000,
                     seed: int = 0, level: float = 0.95) -> dict:
    """Accuracy of 0/1 outcomes with a percentile interval from resampling speakers.

    Returns ``accuracy``, ``ci`` (``[low, high]``), ``n_test``, ``n_speakers``, ``n_boot``
    and ``ci_level``.
    """
    boot = cluster_bootstrap_accuracy(correct, np.asarray(speakers), n_boot, seed, level)
    return {"accuracy": boot["mean"], "ci": [boot["low"], boot["high"]],
            "n_test": boot["n_outcomes"], "n_speakers": boot["n_clusters"],
            "n_boot": int(n_boot), "ci_level": level}


# Fewer test speakers than this: a paired comparison tests nothing. A bootstrap over one
# speaker has a single value (every difference would be "significant"), and over a handful
# it cannot estimate the spread.
MIN_TEST_SPEAKERS = 5


def paired_accuracy_comparison(correct_a: np.ndarray, correct_b: np.ndarray,
                               speakers: Sequence[str], n_boot: int = 1000, seed: int = 0,
                               level: float = 0.95) -> dict:
    """Compare systems A and B, scored on the same test utterances, under the same speaker
    resamples.

    ``correct_a[i]``/``correct_b[i]`` are the outcomes of utterance i, spoken by
    ``speakers[i]``. Returns accuracies ``a`` and ``b``, ``difference`` (A - B), its
    percentile interval ``ci``, the two-sided ``p_value`` of ``bootstrap.paired_bootstrap``
    (twice the smaller fraction of replicate differences on either side of 0, each side
    including 0, capped at 1), ``significant`` (the interval excludes 0), ``n_test``,
    ``n_speakers``, ``n_boot`` and ``ci_level``, and ``testable``: whether there are at least
    ``MIN_TEST_SPEAKERS`` speakers; when not, ``significant`` is False whatever the interval.
    A system's replicate accuracies are those ``accuracy_with_ci`` draws with the same seed.
    """
    a, b = _outcomes(correct_a, "correct_a"), _outcomes(correct_b, "correct_b")
    speakers = np.asarray(speakers)
    if not a.shape == b.shape == speakers.shape:
        raise ValueError(f"need one outcome of each system and a speaker per utterance, got "
                         f"shapes {a.shape}, {b.shape} and {speakers.shape}")
    result = cluster_paired_difference(a, b, speakers, n_boot, seed, level)
    testable = result["n_clusters"] >= MIN_TEST_SPEAKERS
    return {key: result[key] for key in ("a", "b", "difference", "ci", "p_value")} | {
        "significant": testable and result["significant"], "testable": testable,
        "n_test": result["n_items"], "n_speakers": result["n_clusters"],
        "n_boot": result["n_boot"], "ci_level": level}
