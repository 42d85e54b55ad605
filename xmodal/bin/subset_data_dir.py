"""Keep N speakers of a data dir, and M of their utterances, by seeded choices (nested).

Usage: python -m xmodal.bin.subset_data_dir --num-spk N|all [--num-utt M] [--seed 0] SRC DEST

``--num-utt M`` spreads M utterances evenly over the N speakers (the paper's Table 4 label
budgets: 100 speakers / 1,228 utterances, ...); without it every utterance is kept. See
``xmodal.data.subset`` for what nested means.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.subset import subset_data_dir


def speaker_count(text: str) -> int:
    """``--num-spk``/``--num-utt`` value: a number, or ``all`` (same as 0)."""
    if text == "all":
        return 0
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """Number of speakers, seed, source and destination data dirs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-spk", type=speaker_count, required=True,
                        help="speakers to keep; 0 or 'all' keeps every speaker")
    parser.add_argument("--num-utt", type=speaker_count, default=0,
                        help="utterances to keep, spread over the speakers; 0 or 'all': all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speaker and utterance "
                        "permutations")
    parser.add_argument("src", help="source data dir")
    parser.add_argument("dest", help="subset data dir to write (replaced whole)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        speakers = subset_data_dir(args.src, args.dest, args.num_spk, args.seed, args.num_utt)
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"subset_data_dir: {len(speakers)} speakers"
          f"{f', {args.num_utt} utterances' if args.num_utt else ''} of {args.src} -> {args.dest}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
