"""Merge the extraction jobs of a set, check completeness, add speaker means, mark it done.

Usage: python -m xmodal.bin.merge_embeddings --out-dir EXP/emb/SET --data-dir DUMP/SET
           [--out-dir ... --data-dir ...] --num-jobs N [--force]
Repeat the --out-dir/--data-dir pair to merge several sets (or models) in one process.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.eval.embedding_sets import ExtractError, is_done, merge_embeddings


def build_parser() -> argparse.ArgumentParser:
    """The embedding dir, how many jobs wrote into it and the data dir that was split."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True, action="append",
                        help="embedding dir the jobs wrote into")
    parser.add_argument("--num-jobs", type=int, required=True)
    parser.add_argument("--data-dir", required=True, action="append",
                        help="the data dir whose split the jobs ran on (utterance list, "
                        "utt2spk), once per --out-dir")
    parser.add_argument("--force", action="store_true", help="merge again a finished set")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.out_dir) != len(args.data_dir):
        parser.error(f"give --data-dir once per --out-dir, got {len(args.data_dir)} and "
                     f"{len(args.out_dir)}")
    for out_dir, data_dir in zip(args.out_dir, args.data_dir):
        if is_done(out_dir) and not args.force:
            print(f"merge_embeddings: {out_dir} is complete (.done); skipping", file=sys.stderr)
            continue
        try:
            stats = merge_embeddings(out_dir, args.num_jobs, data_dir)
        except (DataDirError, ExtractError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print("\n".join(f"merge_embeddings {out_dir}: {line}" for line in stats.lines()),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
