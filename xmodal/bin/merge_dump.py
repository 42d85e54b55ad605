"""Merge the dump jobs of a data dir, check completeness, and mark the dump dir done.

Usage: python -m xmodal.bin.merge_dump --data-dir DATA --out-dir DUMP --num-jobs N [--force]
A finished dump dir (``.done``) is skipped unless --force.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.dump_merge import DumpError, is_done, merge_dump


def build_parser() -> argparse.ArgumentParser:
    """The source data dir, the dump dir, how many jobs wrote into it, --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the data dir that was split")
    parser.add_argument("--out-dir", required=True, help="dump dir the jobs wrote into")
    parser.add_argument("--num-jobs", type=int, required=True)
    parser.add_argument("--force", action="store_true", help="merge again a finished dump dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if is_done(args.out_dir) and not args.force:
        print(f"merge_dump: {args.out_dir} is complete (.done); skipping", file=sys.stderr)
        return 0
    try:
        summary = merge_dump(args.data_dir, args.out_dir, args.num_jobs)
    except (DataDirError, DumpError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(f"merge_dump {args.out_dir}: {line}" for line in summary.lines()),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
