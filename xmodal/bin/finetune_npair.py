"""Train one n-pair layer on frozen embeddings and apply it (paper Table 4).

Usage: python -m xmodal.bin.finetune_npair --config conf/finetune.yaml
           --train-scp EMB/spk_dev/identity.scp --utt2spk DATA/spk_dev_N/utt2spk
           --apply-scp EMB/spk_test/identity.scp [--apply-scp EMB/ssl_train/identity.scp ...]
           --out-dir OUT
Writes OUT/layer.pt, OUT/finetune.yaml, OUT/train_log.jsonl and, per applied set,
OUT/<set dir name>/<scp stem>.{ark,scp} (e.g. OUT/spk_test/identity.scp). Only utterances of
--utt2spk are trained on: the subset data dir chooses the labels.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.config import ConfigError, load_config
from xmodal.data.datadir import DataDirError
from xmodal.eval.scoring import ScoringError
from xmodal.finetune.npair_layer import FinetuneConfig, FinetuneError, finetune
from xmodal.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    """Config, training embeddings and labels, sets to map, output dir."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="finetune yaml (egs/*/v1/conf/finetune.yaml)")
    parser.add_argument("--train-scp", required=True, help="embeddings of the labelled set")
    parser.add_argument("--utt2spk", required=True,
                        help="labels; only these utterances are trained on")
    parser.add_argument("--apply-scp", action="append", default=[],
                        help="embeddings to map with the trained layer (repeatable)")
    parser.add_argument("--out-dir", required=True, help="output dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config, FinetuneConfig)
        summary = finetune(cfg, args.train_scp, args.utt2spk, args.apply_scp, args.out_dir)
    except (ConfigError, DataDirError, ScoringError, FinetuneError, CheckpointError,
            OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    last = summary.log[-1]
    print(f"finetune_npair: {summary.n_utts} utterances of {summary.n_speakers} speakers "
          f"({len(summary.skipped_speakers)} single-utterance speakers skipped), "
          f"N={summary.batch_classes}, final loss {last['loss']:.4f}, accuracy "
          f"{last['accuracy']:.3f}; {len(args.apply_scp)} set(s) mapped -> {args.out_dir}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
