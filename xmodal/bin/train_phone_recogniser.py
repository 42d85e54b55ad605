"""Train the CTC phone recogniser on a transcribed dump dir:
``python -m xmodal.bin.train_phone_recogniser``.

Usage: python -m xmodal.bin.train_phone_recogniser --train-dir DUMP/train
           [--valid-dir DUMP/valid] --config conf/phone_recogniser.yaml
           --out-dir EXP/phone_recogniser [--voice en-us] [--num-threads 1]

Both dirs need ``feats.scp`` (log-mel, 100 frames/s), ``text`` and ``utt2spk``; the targets
are the espeak-ng phones of the transcripts (``xmodal.recogniser``). Writes ``phones.txt``,
``per.json`` (phone error rates of greedy decoding, each with a 95% interval from resampling
speakers, and the chance level, on the training set and, if given, the validation set) and
last ``final.pt`` into the out dir; a dir that already has ``final.pt`` is left as it is. Prints a line per epoch to stderr and one result
line to stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

from xmodal.atomic import write_text_atomic
from xmodal.config import ConfigError, load_config
from xmodal.data.datadir import DataDirError
from xmodal.recogniser.ctc_phones import (MODEL_FILE, PhoneRecogniserConfig, RecogniserError,
                                          evaluate, load_transcribed, train_recogniser)
from xmodal.recogniser.g2p import G2PError

PER_FILE = "per.json"


def build_parser() -> argparse.ArgumentParser:
    """Training and validation dirs, config, output dir, G2P voice and threads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-dir", required=True, help="dump dir with feats.scp and text")
    parser.add_argument("--valid-dir", help="held-out dump dir with feats.scp and text")
    parser.add_argument("--config", required=True, help="yaml (PhoneRecogniserConfig)")
    parser.add_argument("--out-dir", required=True, help="model dir to write")
    parser.add_argument("--voice", default="en-us", help="espeak-ng voice of the G2P")
    parser.add_argument("--num-threads", type=int, default=1, help="torch CPU threads")
    return parser


def log(line: str) -> None:
    """A progress line on stderr."""
    print(f"train_phone_recogniser: {line}", file=sys.stderr, flush=True)


def format_result(result: dict) -> str:
    """One line: validation (or training) PER and chance, training PER, phones."""
    held_out = result.get("valid", result["train"])
    name = "valid" if "valid" in result else "train"
    low, high = held_out["per_ci"]
    return (f"phone recogniser: {name} PER {held_out['per']:.3f} [{low:.3f}, {high:.3f}] "
            f"over {held_out['n_speakers']} speakers (chance "
            f"{held_out['chance_per']:.3f}) | train PER {result['train']['per']:.3f} | "
            f"{result['n_phones']} phones | {result['train_seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out_dir = Path(args.out_dir)
    if (out_dir / MODEL_FILE).is_file():
        log(f"{out_dir / MODEL_FILE} exists; not trained again")
        return 0
    torch.set_num_threads(args.num_threads)
    try:
        cfg = load_config(args.config, PhoneRecogniserConfig)
        # The validation set first: a bad one fails before training.
        valid = None
        if args.valid_dir:
            log(f"{args.valid_dir}: reading features, phonemising transcripts")
            valid = load_transcribed(args.valid_dir, args.voice)
        log(f"{args.train_dir}: reading features, phonemising transcripts")
        train = load_transcribed(args.train_dir, args.voice)
        log(f"{len(train.keys)} training utterances, {sum(map(len, train.feats))} frames, "
            f"{sum(map(len, train.phones))} phones")
        start = time.monotonic()
        recogniser, skipped = train_recogniser(train, cfg, log)
        seconds = time.monotonic() - start
        if skipped:
            log(f"{skipped} utterances had too few frames for their phones: not trained on")
        train_refs = [recogniser.phone_ids_of(seq) for seq in train.phones]
        result = {"train": evaluate(recogniser, train, train_refs)}
        if valid is not None:
            result["valid"] = evaluate(recogniser, valid, train_refs)
        result.update(n_phones=len(recogniser.phones), n_train_skipped=skipped,
                      train_seconds=round(seconds, 1), voice=args.voice,
                      config=dataclasses.asdict(cfg))
        write_text_atomic(out_dir / PER_FILE, json.dumps(result, indent=1) + "\n")
        recogniser.save(out_dir)
    except (ConfigError, DataDirError, RecogniserError, G2PError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
