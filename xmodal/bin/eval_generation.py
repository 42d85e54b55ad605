"""Held-out tests of a trained face generator: ``python -m xmodal.bin.eval_generation``.

Writes ``<exp-dir>/generation_eval.json`` (mouth-region L1 of the model, of copying the still
frame and of another identity's audio, paired differences by identity, the sync curve) and
``<exp-dir>/generation.png`` (generated frames beside the real ones for a few held-out
tracks, and the sync curve), and prints the results. Then checks that the generator uses the
audio (mouth L1 significantly below both baselines, sync curve lowest at shift 0): if not, it
says why and exits with status 2, as stage 4's chance check does for the cross-modal models
(``--no-check`` skips this).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from xmodal.atomic import write_text_atomic
from xmodal.config import ConfigError
from xmodal.data.datadir import DataDirError
from xmodal.eval.face_generation import (evaluate_generation, failures, format_result,
                                         plot_examples)
from xmodal.methods.face_generation import load_generation_network
from xmodal.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    """Experiment, held-out dump dir, windows, shifts and bootstrap settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp-dir", required=True, help="face-generation experiment")
    parser.add_argument("--data-dir", required=True, help="held-out dump dir (e.g. ssl_test)")
    parser.add_argument("--windows-per-track", type=int, default=1,
                        help="held-out windows per track (the bootstrap resamples identities)")
    parser.add_argument("--max-shift", type=int, default=3,
                        help="sync curve: audio shifts of -K..K video frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--num-threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-check", action="store_true",
                        help="do not fail when the generator does not use the audio")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    exp = Path(args.exp_dir)
    try:
        network = load_generation_network(exp, args.device)
        result = evaluate_generation(network, args.data_dir, args.windows_per_track,
                                     args.max_shift, args.seed, args.n_boot)
    except (ConfigError, CheckpointError, DataDirError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    plot_examples(result, exp / "generation.png")
    del result["examples"]
    print(format_result(result))
    why = failures(result)
    result["failures"] = why
    write_text_atomic(exp / "generation_eval.json", json.dumps(result, indent=1) + "\n")
    if why and not args.no_check:
        print(f"{exp}: the generator does not use the audio: " + "; ".join(why),
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
