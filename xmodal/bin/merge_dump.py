"""Merge the dump jobs of data dirs, check completeness, and mark each dump dir done.

Usage: python -m xmodal.bin.merge_dump --data-dir DATA [...] --out-dir DUMP [...]
                                       --num-jobs N [--job-log LOG] [--force]
The i-th --out-dir holds the dump of the i-th --data-dir. --job-log names the jobs' logs
(JOB for the job number) in the error of a job that did not complete; default
DUMP/log/dump.JOB.log. A finished dump dir (``.done``) is skipped unless --force.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.dump_merge import DumpError, is_done, merge_dump


def build_parser() -> argparse.ArgumentParser:
    """The source data dirs, the dump dirs, how many jobs wrote into them, --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, nargs="+", help="data dirs that were split")
    parser.add_argument("--out-dir", required=True, nargs="+",
                        help="dump dirs the jobs wrote into, one per --data-dir")
    parser.add_argument("--num-jobs", type=int, required=True)
    parser.add_argument("--job-log", help="the jobs' log, JOB for the job number")
    parser.add_argument("--force", action="store_true", help="merge again a finished dump dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if len(args.data_dir) != len(args.out_dir):
        print(f"error: {len(args.data_dir)} --data-dir but {len(args.out_dir)} --out-dir: "
              "give one dump dir per data dir", file=sys.stderr)
        return 1
    for data_dir, out_dir in zip(args.data_dir, args.out_dir):
        if is_done(out_dir) and not args.force:
            print(f"merge_dump: {out_dir} is complete (.done); skipping", file=sys.stderr)
            continue
        try:
            summary = merge_dump(data_dir, out_dir, args.num_jobs, args.job_log)
        except (DataDirError, DumpError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print("\n".join(f"merge_dump {out_dir}: {line}" for line in summary.lines()),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
