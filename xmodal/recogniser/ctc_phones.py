"""A CTC phone recogniser on log-mel frames: trained on a transcribed dump dir, it gives the
per-frame phone posteriors of any other (the reconstruction method's ``phone_posteriors``
content input, for corpora without transcripts such as VoxCeleb).

Targets are the espeak-ng phones of the lower-cased transcripts (``xmodal.recogniser.g2p``).
The network is the content probe's (``xmodal.eval.probe.CtcProbe``): one conv layer of
``kernel_size`` frames, then a per-frame linear layer, here on log-mel frames mean-normalised
per utterance and bin (``xmodal.data.units.normalised``, as the x-vector extractor and the
k-means units see them) and with more context and channels than the probe's defaults, as raw
log-mel needs more than a learnt embedding. Being local and convolutional, it gives an
utterance the same posteriors alone as in a zero-padded batch.

Phone table: ``sil`` is id 0 and also the CTC blank, which the recogniser emits between
phones as well as on silence; the phones of the training transcripts follow in C order. Phone
id ``p`` is the network's class ``p`` (the probe's unit ``p - 1``). Posteriors: the softmax
over the ``P`` classes, one row per feature frame.

Training holds the features of the training set in memory (4 bytes per bin and frame: 10
hours of 40-bin log-mel take 0.6 GB). The model dir holds ``final.pt`` (state dict, config,
phone table, feature dim), written last and atomically, so its presence means a complete
model, and ``phones.txt``.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xmodal.atomic import atomic_path
from xmodal.config import from_dict
from xmodal.data.datadir import read_table, sorted_keys
from xmodal.data.frame_labels import SILENCE, edit_distance, write_phone_table
from xmodal.data.scp import ScpReader
from xmodal.data.units import normalised
from xmodal.eval.bootstrap import cluster_bootstrap_ratio
from xmodal.eval.probe import (CtcProbe, ProbeConfig, ProbeError, constant_hypothesis_uer,
                               greedy_decode, train_probe, unit_error_rate)
from xmodal.recogniser.g2p import phonemise

MODEL_FILE = "final.pt"
PHONE_TABLE = "phones.txt"
_FORMAT = 1  # of final.pt, checked on loading


class RecogniserError(ValueError):
    """Recogniser inputs or model files are missing or inconsistent; the message names them."""


@dataclass
class PhoneRecogniserConfig:
    """Network and training settings of the CTC phone recogniser."""

    hidden: int = 256         # channels of the conv layer
    kernel_size: int = 11     # frames seen by the conv layer (odd; 100 frames/s)
    epochs: int = 40
    batch_size: int = 8
    lr: float = 2e-3          # Adam
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1 (without the conv layer each frame would "
                             f"be classified alone), got {self.hidden}")
        # The content probe's checks of the fields both configs have.
        ProbeConfig(hidden=self.hidden, kernel_size=self.kernel_size, epochs=self.epochs,
                    batch_size=self.batch_size, lr=self.lr, seed=self.seed)


@dataclass
class Transcribed:
    """A dump dir's utterances (C order), their network inputs and G2P phones."""

    keys: list[str]
    feats: list[torch.Tensor]   # (T, n_mels) float32, mean-normalised per utterance and bin
    phones: list[list[str]]
    speakers: list[str]         # of each utterance (utt2spk): the error rate's resampling unit


def features(logmel: np.ndarray) -> torch.Tensor:
    """One utterance's network input ``(T, n_mels)`` float32 from its log-mel frames."""
    return torch.from_numpy(normalised(logmel).astype(np.float32))


def load_transcribed(dump_dir: str | os.PathLike, voice: str) -> Transcribed:
    """Every utterance of ``dump_dir/feats.scp`` with its features, the G2P phones of its
    transcript in ``dump_dir/text`` and its speaker in ``dump_dir/utt2spk`` (a missing
    transcript or speaker is an error naming it)."""
    dump_dir = Path(dump_dir)
    feats = ScpReader(dump_dir / "feats.scp")
    keys = sorted_keys(feats)
    tables = {name: read_table(dump_dir / name) for name in ("text", "utt2spk")}
    for name, what in (("text", "transcript"), ("utt2spk", "speaker")):
        missing = [k for k in keys if k not in tables[name]]
        if missing:
            raise RecogniserError(f"{dump_dir / name}: no {what} for utterance '{missing[0]}' "
                                  f"({len(missing)} of {len(keys)} utterances have none)")
    phones = phonemise({k: tables["text"][k].lower() for k in keys}, voice)
    return Transcribed(keys, [features(feats[k]) for k in keys], [phones[k] for k in keys],
                       [tables["utt2spk"][k] for k in keys])


class PhoneRecogniser:
    """A trained network with its phone table: per-frame posteriors and greedy decoding."""

    def __init__(self, net: CtcProbe, phones: list[str], config: PhoneRecogniserConfig):
        if phones[0] != SILENCE or len(phones) < 2:
            raise ValueError(f"the phone table must start with '{SILENCE}' and hold a phone")
        self.net = net.eval()
        self.phones = phones
        self.config = config
        self.phone_ids = {p: i for i, p in enumerate(phones)}

    @property
    def feat_dim(self) -> int:
        """Feature bins the network takes."""
        return int(self.net.mean.shape[0])

    def _check(self, x: torch.Tensor, where: str) -> None:
        if x.ndim != 2 or x.shape[1] != self.feat_dim:
            raise RecogniserError(f"{where}: features of shape {tuple(x.shape)}, the recogniser "
                                  f"takes (frames, {self.feat_dim})")

    @torch.no_grad()
    def posteriors(self, logmel: np.ndarray, where: str = "features") -> np.ndarray:
        """Float32 ``(T, P)`` phone posteriors of one utterance's log-mel ``(T, n_mels)``."""
        x = features(logmel)
        self._check(x, where)
        if len(x) == 0:
            return np.zeros((0, len(self.phones)), np.float32)
        return self.net(self.net.standardise(x)[None])[0].softmax(dim=-1).numpy()

    def decode(self, feats: Sequence[torch.Tensor]) -> list[list[int]]:
        """Greedy CTC phone ids (no ``sil``) of network inputs (``features``)."""
        for x in feats:
            self._check(x, "decode")
        return [[u + 1 for u in hyp] for hyp in greedy_decode(self.net, feats)]

    def phone_ids_of(self, phones: Sequence[str]) -> list[int]:
        """Ids of phone symbols; a phone outside the table (unseen in training) is -1, which
        matches no hypothesis."""
        return [self.phone_ids.get(p, -1) for p in phones]

    def save(self, model_dir: str | os.PathLike) -> Path:
        """Write ``phones.txt`` then ``final.pt`` into ``model_dir``; returns ``final.pt``."""
        model_dir = Path(model_dir)
        write_phone_table(model_dir / PHONE_TABLE, self.phones)
        path = model_dir / MODEL_FILE
        with atomic_path(path) as tmp:
            torch.save({"format": _FORMAT, "state_dict": self.net.state_dict(),
                        "config": dataclasses.asdict(self.config), "phones": self.phones,
                        "feat_dim": self.feat_dim}, tmp)
        return path

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> PhoneRecogniser:
        """The recogniser saved in ``model_dir`` (by ``save``)."""
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise RecogniserError(f"{path}: file not found (train the recogniser with "
                                  "python -m xmodal.bin.train_phone_recogniser)")
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("format") != _FORMAT:
                raise ValueError(f"format {saved.get('format')!r}, expected {_FORMAT}")
            config = from_dict(PhoneRecogniserConfig, saved["config"], source=str(path))
            dim, phones = int(saved["feat_dim"]), list(saved["phones"])
            net = CtcProbe(dim, len(phones), config.hidden, config.kernel_size,
                           torch.zeros(dim), torch.ones(dim))
            net.load_state_dict(saved["state_dict"])
            return cls(net, phones, config)
        except Exception as err:  # torch.load and load_state_dict fail in many ways
            raise RecogniserError(f"{path}: not a phone recogniser ({type(err).__name__}: "
                                  f"{err})") from None


def train_recogniser(data: Transcribed, cfg: PhoneRecogniserConfig,
                     log: Callable[[str], None] | None = None
                     ) -> tuple[PhoneRecogniser, int]:
    """Train on a transcribed set; ``log`` gets a line per epoch (mean CTC loss).

    The phone table is ``sil`` then the phones of ``data`` in C order. The training is the
    content probe's (``train_probe``, deterministic given ``cfg.seed``), whose units are the
    phone ids less one (its blank is class 0, here ``sil``). Utterances whose phones CTC
    cannot fit in their frames are skipped (their count is returned). Returns the recogniser
    (eval mode) and the number skipped.
    """
    phones = [SILENCE] + sorted_keys({p for seq in data.phones for p in seq})
    ids = {p: i for i, p in enumerate(phones)}
    units = [[ids[p] - 1 for p in seq] for seq in data.phones]
    probe_cfg = ProbeConfig(hidden=cfg.hidden, kernel_size=cfg.kernel_size, epochs=cfg.epochs,
                            batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
    try:
        net, skipped = train_probe(data.feats, units, len(phones) - 1, probe_cfg, log=log)
    except ProbeError as err:
        raise RecogniserError(str(err)) from None
    return PhoneRecogniser(net, phones, cfg), skipped


def evaluate(recogniser: PhoneRecogniser, data: Transcribed,
             train_refs: Sequence[Sequence[int]]) -> dict:
    """Phone error rate of greedy decoding against the G2P phones of ``data`` with its 95%
    interval from resampling speakers, and the chance level: the best input-independent guess
    chosen on ``train_refs`` (phone ids), as a dict (``per``, ``per_ci``, ``chance_per``,
    ``n_utts``, ``n_speakers``, ``n_ref_phones``, ``n_unseen_phones``: reference phones not
    in the table, each an error)."""
    refs = [recogniser.phone_ids_of(seq) for seq in data.phones]
    hyps = recogniser.decode(data.feats)
    per = unit_error_rate(hyps, refs)
    boot = cluster_bootstrap_ratio([edit_distance(h, r) for h, r in zip(hyps, refs)],
                                   [len(r) for r in refs], data.speakers, seed=0)
    return {"per": per, "per_ci": [boot["low"], boot["high"]],
            "chance_per": constant_hypothesis_uer(train_refs, refs),
            "n_utts": len(refs), "n_speakers": boot["n_clusters"],
            "n_ref_phones": sum(map(len, refs)),
            "n_unseen_phones": sum(r.count(-1) for r in refs)}
