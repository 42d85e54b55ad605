"""Train the fully supervised baseline of paper Table 4 (audio stream, speaker labels).

Usage: python -m xmodal.bin.train_supervised --config conf/supervised.yaml
           --feats-dir DUMP/spk_dev --utt2spk DATA/spk_dev_N/utt2spk --output-dir EXP
           [--device auto|cpu|cuda] [--force] [--seed N]
EXP then holds config.yaml + model.pt like a self-supervised experiment (plus supervised.yaml
and train_log.jsonl). A no-op when EXP/model.pt exists, unless --force.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from xmodal.config import ConfigError, load_config
from xmodal.data.datadir import DataDirError
from xmodal.finetune.npair_layer import FinetuneError
from xmodal.finetune.supervised import SupervisedConfig, train_supervised


def build_parser() -> argparse.ArgumentParser:
    """Config, features, labels, output dir, device, --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True,
                        help="supervised yaml (egs/*/v1/conf/supervised.yaml)")
    parser.add_argument("--feats-dir", required=True, help="dump dir holding feats.scp")
    parser.add_argument("--utt2spk", required=True,
                        help="labels; only these utterances are trained on")
    parser.add_argument("--output-dir", required=True, help="experiment dir")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--force", action="store_true", help="retrain even if model.pt exists")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config, SupervisedConfig)
        if args.seed is not None:
            cfg = dataclasses.replace(cfg, seed=args.seed)
        trained = train_supervised(cfg, args.feats_dir, args.utt2spk, args.output_dir,
                                   args.device, args.force)
    except (ConfigError, DataDirError, FinetuneError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"train_supervised: {args.output_dir}/model.pt "
          f"{'written' if trained else 'exists; skipped'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
