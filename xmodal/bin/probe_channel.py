"""Channel probe of utterance embeddings: ``python -m xmodal.bin.probe_channel``.

Usage: python -m xmodal.bin.probe_channel --emb-scp EXP/emb/SET/identity.scp
           --factors corpus/annotations/factors.tsv --out channel_probe.json
           [--seed 0] [--n-boot 1000]
Speaker-disjoint ridge regression from each embedding to each ``channel_*`` parameter of
factors.tsv (``xmodal.eval.channel_probe``); writes test R² per parameter and their mean,
with 95% intervals from a bootstrap over test speakers, as json; prints one line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xmodal.atomic import write_text_atomic
from xmodal.eval.channel_probe import format_result, probe_channel_files


def build_parser() -> argparse.ArgumentParser:
    """Embeddings, factors table, output, seed and bootstrap replicates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emb-scp", required=True, help="kaldiio scp of utterance vectors")
    parser.add_argument("--factors", required=True,
                        help="the corpus's annotations/factors.tsv (utt, spk, channel_*)")
    parser.add_argument("--out", required=True, help="json file to write")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the speaker split, folds and bootstrap")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = probe_channel_files(args.emb_scp, args.factors, args.seed, args.n_boot)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(format_result(str(Path(args.emb_scp).parent), result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
