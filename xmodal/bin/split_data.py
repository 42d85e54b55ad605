"""Split a data dir by utterance into DIR/splitN/{1..N} (contiguous, sorted), Kaldi style.

Usage: python -m xmodal.bin.split_data DIR N
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError, split_data_dir


def build_parser() -> argparse.ArgumentParser:
    """The data dir and the number of parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("num_jobs", type=int, help="number of parts")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        split_root = split_data_dir(args.data_dir, args.num_jobs)
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(split_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
