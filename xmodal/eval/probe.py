"""Linguistic-content probe: CTC recognition of sentencepiece units from frozen embeddings.

A stronger content measure than the paper's sync task: a small CTC probe is trained on the
frozen per-step audio embeddings of one head (content or identity) to emit the sentencepiece
units of the transcript, and scored on held-out utterances as unit error rate (edit distance
over reference length). A disentangled model should give a low error from its content head
and an error near chance from its identity head.

The probe is deliberately local: an optional conv layer of ``kernel_size`` steps (200 ms at
the default 5) then a per-step linear layer (``hidden: 0`` drops the conv, a purely linear
probe). A BiLSTM would see the whole utterance and could recognise words from weak cues plus
the corpus' word statistics (the synthetic speakers' topics even tie words to voices), which
blurs what the embedding itself encodes; a narrow conv also trains in seconds on CPU and,
unlike an LSTM, gives the same outputs on zero-padded batches as on single utterances.
"""
from __future__ import annotations

import dataclasses
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import sentencepiece as spm
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from xmodal.atomic import atomic_path, write_lines_atomic
from xmodal.data.datadir import read_table, sorted_keys
from xmodal.data.frame_labels import edit_distance
from xmodal.data.scp import ScpReader
from xmodal.models.two_stream import TwoStreamModel

HEADS = ("content", "identity")
BLANK = 0  # CTC blank; sentencepiece id p is probe class p + 1


class ProbeError(ValueError):
    """Probe inputs are missing or inconsistent; the message names the file or key."""


@dataclass
class ProbeConfig:
    """Sentencepiece vocabulary and CTC probe training settings."""

    vocab_size: int = 100         # sentencepiece pieces (an upper bound on a tiny corpus)
    hidden: int = 128             # 0 = linear probe; else one conv layer of this many channels
    kernel_size: int = 5          # time steps seen by the conv layer (odd; 25 steps/s)
    epochs: int = 40
    batch_size: int = 16
    lr: float = 2e-3              # Adam
    seed: int = 0

    def __post_init__(self) -> None:
        if self.vocab_size < 2 or self.hidden < 0 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("vocab_size >= 2, hidden >= 0, epochs >= 1 and batch_size >= 1 "
                             "are required")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0 or self.lr <= 0:
            raise ValueError(f"kernel_size must be odd and lr > 0, got {self.kernel_size}, "
                             f"{self.lr}")


# ----------------------------------------------------------------------------- units

def train_sentencepiece(text_file: str | os.PathLike, model_prefix: str | os.PathLike,
                        vocab_size: int) -> Path:
    """Train a unigram sentencepiece model on the lower-cased transcripts of a Kaldi ``text``.

    Deterministic, down to the bytes of ``<prefix>.model``: every sentence is used in file
    order (no sampling or shuffling) by one thread, and sentences and model pass through
    memory, so no temporary path is recorded in the model. ``vocab_size`` is a soft limit: a
    tiny corpus gets fewer pieces rather than an error. ``<unk>`` is id 0; there are no
    bos/eos pieces. ``<prefix>.vocab`` (piece, score) and then ``<prefix>.model`` are each
    written atomically, so an existing ``.model`` means a complete pair. Returns its path.
    """
    text_file, prefix = Path(text_file), Path(model_prefix)
    sentences = [t.lower() for t in read_table(text_file).values()]
    proto = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=proto, model_type="unigram",
            vocab_size=vocab_size, hard_vocab_limit=False, character_coverage=1.0,
            input_sentence_size=0, shuffle_input_sentence=False, num_threads=1,
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2)
    except RuntimeError as err:
        raise ProbeError(f"{text_file}: sentencepiece training failed: {err}") from None
    sp = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    write_lines_atomic(prefix.with_name(prefix.name + ".vocab"),
                       [f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}"
                        for i in range(sp.get_piece_size())])
    model = prefix.with_name(prefix.name + ".model")
    with atomic_path(model) as tmp:
        tmp.write_bytes(proto.getvalue())
    return model


def read_transcripts(data_dir: str | os.PathLike, keys: Sequence[str]) -> dict[str, str]:
    """Lower-cased transcript of each key from ``data_dir/text``; a missing one is an error."""
    path = Path(data_dir) / "text"
    if not path.is_file():
        raise ProbeError(f"{path}: file not found (the content probe needs transcripts)")
    text = read_table(path)
    missing = [k for k in keys if k not in text]
    if missing:
        raise ProbeError(f"{path}: no transcript for utterance '{missing[0]}' "
                         f"({len(missing)} of {len(keys)} utterances have none)")
    return {k: text[k].lower() for k in keys}


# ----------------------------------------------------------------------------- embeddings

@torch.no_grad()
def frame_embeddings(model: TwoStreamModel, feats_scp: str | os.PathLike, keys: Sequence[str],
                     head: str) -> dict[str, torch.Tensor]:
    """Frozen per-step embeddings ``(S, D)`` (CPU float32) of one audio head, per utterance.

    Each utterance runs alone through the model in eval mode: padding a batch would change
    the trunk's per-utterance instance norm. An utterance too short for one output step gets
    a ``(0, D)`` tensor (the probe then skips it in training, and outputs nothing for it).
    """
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    feats = ScpReader(feats_scp)
    device = next(model.parameters()).device
    model.eval()
    out = {}
    for key in keys:
        if key not in feats:
            raise ProbeError(f"{feats_scp}: no features for utterance '{key}'")
        x = torch.from_numpy(np.array(feats[key], dtype=np.float32))  # a writable copy
        if x.shape[0] < model.min_frames:
            out[key] = torch.zeros(0, model.head_dims[head])
            continue
        out[key] = model.forward_audio(x[None].to(device))[head][0].T.float().cpu()
    return out


# ----------------------------------------------------------------------------- metric

def unit_error_rate(hyps: Sequence[Sequence], refs: Sequence[Sequence]) -> float:
    """Corpus unit error rate: summed edit distances over summed reference lengths."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    total = sum(len(r) for r in refs)
    if total == 0:
        raise ValueError("unit error rate is undefined: the references are empty")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / total


def constant_hypothesis_uer(train_refs: Sequence[Sequence[int]],
                            test_refs: Sequence[Sequence[int]]) -> float:
    """Chance level: test UER of the best input-independent guess, k copies of the most
    frequent training unit, with k chosen on the training references (k = 0: empty guess).

    Closed form: k copies of u against a reference of length n holding u c times cost
    ``max(n, k) - min(k, c)`` edits (align the copies to the c occurrences first).
    """
    units, counts = np.unique(np.concatenate([np.asarray(r, dtype=np.int64)
                                              for r in train_refs]), return_counts=True)
    unit = units[np.argmax(counts)]

    def errors(refs: Sequence[Sequence[int]], k: int) -> float:
        cost = sum(max(len(r), k) - min(k, sum(1 for x in r if x == unit)) for r in refs)
        return cost / sum(len(r) for r in refs)

    best_k = min(range(max(len(r) for r in train_refs) + 1), key=lambda k: errors(train_refs, k))
    return errors(test_refs, best_k)


# ----------------------------------------------------------------------------- CTC probe

def ctc_feasible(n_steps: int, target: Sequence[int]) -> bool:
    """Whether CTC can emit ``target`` in ``n_steps`` (a repeated unit needs a blank between)."""
    repeats = sum(1 for a, b in zip(target, target[1:]) if a == b)
    return len(target) > 0 and n_steps >= len(target) + repeats


class CtcProbe(nn.Module):
    """Standardise, [conv k + ReLU], per-step linear: ``(B, S, D)`` -> logits ``(B, S, C)``."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int, kernel_size: int,
                 mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        # Training-set statistics: heads differ in scale, and Adam then needs no per-head lr.
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Conv1d(in_dim, hidden, kernel_size, padding=kernel_size // 2),
                       nn.ReLU()]
            in_dim = hidden
        layers.append(nn.Conv1d(in_dim, n_classes, 1))
        self.layers = nn.Sequential(*layers)

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """One utterance's embeddings ``(S, D)`` scaled by the training statistics."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised, zero-padded ``(B, S, D)`` -> logits ``(B, S, C)``."""
        return self.layers(x.transpose(1, 2)).transpose(1, 2)


def _padded(probe: CtcProbe, embs: Sequence[torch.Tensor], device) -> torch.Tensor:
    # Standardise before padding: the zero padding then equals the conv's own zero padding,
    # so a padded utterance gets exactly the outputs it would get alone. At least one step,
    # so a batch of only step-less utterances still passes the conv (their outputs are unused).
    x = pad_sequence([probe.standardise(e.to(device)) for e in embs], batch_first=True)
    return x if x.shape[1] else x.new_zeros(x.shape[0], 1, x.shape[2])


def train_probe(embs: Sequence[torch.Tensor], targets: Sequence[Sequence[int]], n_units: int,
                cfg: ProbeConfig, device: str | torch.device = "cpu",
                log: Callable[[str], None] | None = None) -> tuple[CtcProbe, int]:
    """Train a CTC probe on ``(S, D)`` embeddings and unit targets in ``[0, n_units)``.

    Utterances whose target CTC cannot fit in their steps are skipped (their count is
    returned). Deterministic given ``cfg.seed``: a forked RNG seeds the weights and a fixed
    generator the batch order. ``log``, if given, gets a line per epoch (mean CTC loss per
    utterance and the time so far: a phone recogniser on a real corpus trains for hours).
    Returns the probe (eval mode) and the number skipped.
    """
    keep = [i for i, (e, t) in enumerate(zip(embs, targets)) if ctc_feasible(len(e), t)]
    if not keep:
        raise ProbeError(f"no training utterance has enough steps for its target "
                         f"({len(embs)} utterances)")
    frames = torch.cat([embs[i] for i in keep])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        probe = CtcProbe(frames.shape[1], n_units + 1, cfg.hidden, cfg.kernel_size,
                         frames.mean(dim=0), frames.std(dim=0).clamp_min(1e-5)).to(device)
    optimiser = torch.optim.Adam(probe.parameters(), lr=cfg.lr)
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    order = torch.Generator().manual_seed(cfg.seed)
    start_time = time.monotonic()
    probe.train()
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(len(keep), generator=order).tolist()
        total = 0.0
        for start in range(0, len(keep), cfg.batch_size):
            batch = [keep[i] for i in perm[start:start + cfg.batch_size]]
            x = _padded(probe, [embs[i] for i in batch], device)
            log_probs = probe(x).log_softmax(dim=-1).transpose(0, 1)  # (S, B, C) for CTCLoss
            loss = ctc(log_probs,
                       torch.tensor([u + 1 for i in batch for u in targets[i]], device=device),
                       torch.tensor([len(embs[i]) for i in batch]),
                       torch.tensor([len(targets[i]) for i in batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        if log is not None:
            log(f"epoch {epoch}/{cfg.epochs}: CTC loss {total / len(keep):.3f} "
                f"({time.monotonic() - start_time:.0f} s)")
    return probe.eval(), len(embs) - len(keep)


@torch.no_grad()
def greedy_decode(probe: CtcProbe, embs: Sequence[torch.Tensor],
                  batch_size: int = 64) -> list[list[int]]:
    """Best-path CTC decoding: per-step argmax, repeats merged, blanks dropped, ids shifted."""
    device = next(probe.parameters()).device
    hyps = []
    for start in range(0, len(embs), batch_size):
        chunk = embs[start:start + batch_size]
        best = probe(_padded(probe, chunk, device)).argmax(dim=-1).cpu()
        for path, emb in zip(best, chunk):
            path = path[:len(emb)].tolist()
            hyps.append([c - 1 for i, c in enumerate(path)
                         if c != BLANK and (i == 0 or c != path[i - 1])])
    return hyps


def run_probe(train_embs: Sequence[torch.Tensor], train_refs: Sequence[Sequence[int]],
              test_embs: Sequence[torch.Tensor], test_refs: Sequence[Sequence[int]],
              n_units: int, cfg: ProbeConfig, device: str | torch.device = "cpu") -> dict:
    """Train on one set and score both: ``uer`` (test), ``train_uer``, counts.

    Every test utterance is scored, including any whose target could not fit its steps
    (those are only left out of training, counted as ``n_train_skipped``).
    """
    probe, skipped = train_probe(train_embs, train_refs, n_units, cfg, device)
    return {"uer": unit_error_rate(greedy_decode(probe, test_embs), test_refs),
            "train_uer": unit_error_rate(greedy_decode(probe, train_embs), train_refs),
            "n_test": len(test_embs), "n_train": len(train_embs) - skipped,
            "n_train_skipped": skipped}


# ----------------------------------------------------------------------------- experiment

def probe_experiment(model: TwoStreamModel, train_dir: str | os.PathLike,
                     test_dir: str | os.PathLike, cfg: ProbeConfig, spm_dir: str | os.PathLike,
                     device: str | torch.device = "cpu") -> dict:
    """Probe both audio heads of a trained model (on ``device``); the result ``probe.json``
    holds.

    The sentencepiece model ``spm_dir/unigram<vocab_size>.model`` is trained on the
    training set's transcripts unless it exists (it is shared by every experiment).
    """
    dirs = {"train": Path(train_dir), "test": Path(test_dir)}
    keys = {name: sorted_keys(read_table(d / "feats.scp")) for name, d in dirs.items()}
    texts = {name: read_transcripts(dirs[name], keys[name]) for name in dirs}
    spm_model = Path(spm_dir) / f"unigram{cfg.vocab_size}.model"
    if not spm_model.is_file():
        train_sentencepiece(dirs["train"] / "text", spm_model.with_suffix(""), cfg.vocab_size)
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    refs = {name: [sp.encode(texts[name][k], out_type=int) for k in keys[name]] for name in dirs}
    result: dict = {}
    for head in model.frame_heads:
        embs = {name: list(frame_embeddings(model, dirs[name] / "feats.scp", keys[name],
                                            head).values()) for name in dirs}
        result[head] = run_probe(embs["train"], refs["train"], embs["test"], refs["test"],
                                 sp.get_piece_size(), cfg, device)
    result.update(chance_uer=constant_hypothesis_uer(refs["train"], refs["test"]),
                  vocab_size=sp.get_piece_size(), spm_model=str(spm_model),
                  config=dataclasses.asdict(cfg))
    return result


def format_result(name: str, result: dict) -> str:
    """One line: test (train) UER of each head, chance, vocabulary and test set size."""
    heads = " | ".join(f"{head} UER {result[head]['uer']:.3f} "
                       f"(train {result[head]['train_uer']:.3f})" for head in HEADS
                       if head in result)
    return (f"probe {name}: {heads} | chance {result['chance_uer']:.3f} | "
            f"vocab {result['vocab_size']} | n_test {result['content']['n_test']}")
