"""Downstream evaluation of a frozen audio encoder: its frame features on a task's splits, a
classifier trained on them, and the test accuracy with its interval over speakers.

A *task* is three Kaldi data dirs of dumped features (``train``, ``valid``, ``test``: each
with ``feats.scp``, ``utt2spk`` and ``utt2label``), e.g. the emotion corpora and LRW prepared
by ``xmodal.data.downstream_prep``, or VoxCeleb1 identification. The label set is the training
split's; a valid or test label the training split never had is an error naming it.

Features: every encoder the recipes train (and the floors) has ``forward_audio``, which
gives per-step ``identity`` and ``content`` embeddings ``(B, D, S)``; the frozen features of
a head are those steps, one row per step (``(1, D)`` for a head that pools, as the x-vector's
identity does); every head asked for comes from one forward pass. An utterance shorter
than the encoder's ``min_frames`` is tiled to it (as stage 5 does, ``extract.repeat_pad``).
Features are written once per (encoder, dump dir, head) as a Kaldi ark/scp pair and read
back on reruns.

The result keeps each test utterance's outcome (1 right, 0 wrong), so two encoders can be
compared on the same utterances by a paired bootstrap over speakers.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from xmodal.data.datadir import DataDirError, read_table, sorted_keys
from xmodal.data.downstream_prep import LABEL_FILE
from xmodal.data.scp import ScpReader
from xmodal.data.vector_ark import vector_writer
from xmodal.eval.downstream_classifier import (ClassifierConfig, FeatureSet, accuracy_with_ci,
                                               normalise_per_speaker, train_classifier)
from xmodal.eval.embedding_sets import HEADS
from xmodal.eval.extract import checked_input, input_scp, repeat_pad

SPLITS = ("train", "valid", "test")


@torch.inference_mode()
def encoder_frames(model: nn.Module, feats: np.ndarray, heads: Sequence[str]
                   ) -> dict[str, np.ndarray]:
    """Frozen per-step features ``(S, D)`` float32 of each of ``heads`` for one utterance's
    log-mel ``(T, n_mels)``, or samples ``(T,)`` for a waveform encoder (tiled to the
    encoder's ``min_frames`` if shorter), from one forward pass. Runs alone: padding a batch
    would change the trunks' per-utterance normalisation."""
    unknown = [h for h in heads if h not in HEADS]
    if unknown or not heads:
        raise ValueError(f"heads must be some of {HEADS}, got {list(heads)!r}")
    x = torch.from_numpy(np.array(repeat_pad(feats, model.min_frames), dtype=np.float32))
    out = model.forward_audio(x[None])
    return {head: out[head][0].T.float().cpu().numpy() for head in heads}


def write_features(model: nn.Module, dump_dir: str | os.PathLike, heads: Sequence[str],
                   out_dir: str | os.PathLike,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Path]:
    """``out_dir/<head>.scp`` (and ark) for each of ``heads``: that head's frozen features of
    every utterance of ``dump_dir/feats.scp`` (``wave.scp`` for a waveform encoder:
    ``xmodal.eval.extract.input_scp``), all heads from one forward pass, each written
    once: an existing scp is kept as it is (a pair is renamed into place only when complete).
    ``progress(done, total)`` is called as it goes."""
    out_dir = Path(out_dir)
    scps = {head: out_dir / f"{head}.scp" for head in heads}
    todo = [head for head in heads if not scps[head].is_file()]
    if not todo:
        return scps
    scp = input_scp(model, dump_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    reader = ScpReader(scp)
    keys = sorted_keys(reader)
    model.eval()
    with ExitStack() as stack:
        writers = {head: stack.enter_context(vector_writer(out_dir / f"{head}.ark", scps[head]))
                   for head in todo}
        for i, key in enumerate(keys):
            frames = encoder_frames(model, checked_input(model, key, reader[key],
                                                         reader.where(key)), todo)
            for head, write in writers.items():
                write(key, frames[head])
            if progress is not None:
                progress(i + 1, len(keys))
    return scps


def read_split(data_dir: str | os.PathLike, features_scp: str | os.PathLike,
               labels: list[str] | None) -> tuple[FeatureSet, list[str]]:
    """One split's FeatureSet: every utterance of ``data_dir/utt2label`` with its speaker
    (``utt2spk``) and features (``features_scp``). ``labels``: the label set (the training
    split's); ``None`` makes it from this split (sorted)."""
    data_dir = Path(data_dir)
    utt2label = read_table(data_dir / LABEL_FILE)
    utt2spk = read_table(data_dir / "utt2spk")
    feats = ScpReader(features_scp)
    keys = sorted(utt2label)
    if not keys:
        raise DataDirError(f"{data_dir / LABEL_FILE}: no utterances")
    if labels is None:
        labels = sorted(set(utt2label.values()))
    index = {label: i for i, label in enumerate(labels)}
    for key in keys:
        if utt2label[key] not in index:
            raise DataDirError(f"{data_dir / LABEL_FILE}: utterance '{key}' has label "
                               f"'{utt2label[key]}', which the training split does not have")
        for table, name in ((utt2spk, "utt2spk"), (feats, str(features_scp))):
            if key not in table:
                where = data_dir / name if name == "utt2spk" else name
                raise DataDirError(f"{where}: no entry for utterance '{key}' of "
                                   f"{data_dir / LABEL_FILE}")
    return FeatureSet(keys, [np.asarray(feats[k], dtype=np.float32) for k in keys],
                      np.array([index[utt2label[k]] for k in keys], dtype=np.int64),
                      [utt2spk[k] for k in keys]), labels


def _normalised(data: FeatureSet, split_dir: Path) -> FeatureSet:
    """``normalise_per_speaker(data)``, its error naming the split's utt2spk."""
    try:
        return normalise_per_speaker(data)
    except ValueError as err:
        raise DataDirError(f"{split_dir / 'utt2spk'}: {err}") from None


def run_task(split_dirs: dict[str, Path], feature_scps: dict[str, Path],
             cfg: ClassifierConfig, n_boot: int = 1000,
             log: Callable[[str], None] | None = None, speaker_norm: bool = False) -> dict:
    """Train on ``train``, choose the epoch on ``valid``, test once on ``test``; with
    ``speaker_norm``, each split's features standardised per speaker first
    (``downstream_classifier.normalise_per_speaker``, the emotion tasks' protocol).

    Returns the test accuracy with its 95% interval over speakers, chance (the test share of
    the training split's most frequent label; of labels tied for it, their mean share), the
    label set, the classifier's chosen epoch,
    and ``outcomes``: each test utterance's 1/0, for paired comparisons."""
    train, labels = read_split(split_dirs["train"], feature_scps["train"], None)
    if len(labels) < 2:
        raise DataDirError(f"{split_dirs['train'] / LABEL_FILE}: one label only "
                           f"('{labels[0]}'); nothing to classify")
    valid, _ = read_split(split_dirs["valid"], feature_scps["valid"], labels)
    test, _ = read_split(split_dirs["test"], feature_scps["test"], labels)
    if speaker_norm:
        train, valid, test = (_normalised(data, split_dirs[split])
                              for data, split in zip((train, valid, test), SPLITS))
    classifier = train_classifier(train, valid, len(labels), cfg, log)
    correct = (classifier.predict(test) == test.labels).astype(np.int64)
    counts = np.bincount(train.labels, minlength=len(labels))
    # Labels tied for most frequent: answering any one of them is as good a guess, so chance
    # is their mean test share (not the share of whichever sorts first, which may be absent).
    majority = np.flatnonzero(counts == counts.max())
    result = accuracy_with_ci(correct, test.speakers, n_boot=n_boot, seed=cfg.seed)
    result.update(chance=float(np.isin(test.labels, majority).mean() / len(majority)),
                  labels=labels,
                  n_train=len(train.keys), n_valid=len(valid.keys),
                  best_epoch=classifier.best_epoch, epochs_run=classifier.epochs_run,
                  valid_accuracy=classifier.valid_accuracy, feature_dim=train.dim,
                  speaker_normalised=speaker_norm,
                  classifier=asdict(cfg),
                  outcomes={k: int(c) for k, c in zip(test.keys, correct)},
                  speakers={k: s for k, s in zip(test.keys, test.speakers)})
    return result
