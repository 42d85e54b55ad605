"""Split a data dir by speaker: N seeded speakers to one dir, the rest to another.

Usage: python -m xmodal.bin.hold_out_speakers --num-spk N [--seed 0] SRC REST HELD_OUT
E.g. the recipes' calibration speakers: spk_dev -> spk_dev_no_cal (what trains) and spk_cal
(what packs calibrate on). See ``xmodal.data.subset.hold_out_speakers``.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.subset import hold_out_speakers


def build_parser() -> argparse.ArgumentParser:
    """Number of speakers held out, seed, source and the two destination data dirs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-spk", type=int, required=True, help="speakers held out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speaker permutation")
    parser.add_argument("src", help="source data dir")
    parser.add_argument("rest", help="data dir of the other speakers (replaced whole)")
    parser.add_argument("held_out", help="data dir of the held-out speakers (replaced whole)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        held = hold_out_speakers(args.src, args.rest, args.held_out, args.num_spk, args.seed)
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"hold_out_speakers: {len(held)} speakers of {args.src} -> {args.held_out}, the rest "
          f"-> {args.rest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
