"""Linguistic-content probe of both audio heads: ``python -m xmodal.bin.probe_content``.

Usage: python -m xmodal.bin.probe_content --exp-dir EXP --train-dir DUMP/ssl_train
           --test-dir DUMP/ssl_test --config conf/probe.yaml --out EXP/probe.json
           [--spm-dir EXP/../probe_spm] [--device cpu] [--num-threads 1]
Trains the shared sentencepiece model once (skipped if its .model exists), a CTC probe per
head on ssl_train, and writes the ssl_test unit error rates as json; prints one line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from xmodal.atomic import write_text_atomic
from xmodal.config import ConfigError, load_config
from xmodal.eval.probe import ProbeConfig, format_result, probe_experiment
from xmodal.methods import load_pretrained
from xmodal.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    """Experiment, data dirs, probe config, output and sentencepiece dir."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp-dir", required=True,
                        help="trained experiment (config.yaml, model.pt)")
    parser.add_argument("--train-dir", required=True, help="dump dir with feats.scp and text")
    parser.add_argument("--test-dir", required=True, help="dump dir with feats.scp and text")
    parser.add_argument("--config", required=True, help="probe yaml (ProbeConfig)")
    parser.add_argument("--out", required=True, help="json file to write")
    parser.add_argument("--spm-dir", help="sentencepiece model dir shared by experiments "
                        "(default: EXP/../probe_spm)")
    parser.add_argument("--device", default="cpu")
    # The probe's tensors are small: extra intra-op threads cost more than they give.
    parser.add_argument("--num-threads", type=int, default=1, help="torch CPU threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.num_threads)
    spm_dir = Path(args.spm_dir) if args.spm_dir else Path(args.exp_dir).parent / "probe_spm"
    try:
        cfg = load_config(args.config, ProbeConfig)
        model, _ = load_pretrained(args.exp_dir, args.device)  # before any training: fail fast
        result = probe_experiment(model, args.train_dir, args.test_dir, cfg, spm_dir,
                                  args.device)
    except (ConfigError, CheckpointError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(format_result(Path(args.exp_dir).name, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
