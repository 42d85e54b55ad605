"""One stage-2 dump job: log-mel features and face frames of one split of each data dir.

Usage: python -m xmodal.bin.dump [--config conf/dump.yaml] --data-dir DATA/splitN/J [...]
                                 --out-dir DUMP [...] --job J [--force]
The i-th --data-dir part is dumped into the i-th --out-dir: one job (one process, one torch
import) can do its part of every set of a stage. A finished dump dir (``DUMP/.done``) is
skipped unless --force; a job that runs withdraws ``.done`` until ``merge_dump`` has checked
all jobs again.
"""
from __future__ import annotations

import argparse
import sys

import torch

from xmodal.config import ConfigError, load_config
from xmodal.data.audio_io import MediaError
from xmodal.data.datadir import DataDirError
from xmodal.data.dump import DumpConfig, dump_data_dir
from xmodal.data.dump_merge import DumpError, is_done


def build_parser() -> argparse.ArgumentParser:
    """Config, input splits, output dirs, the job number used in output names, --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="DumpConfig yaml (default: built-in defaults)")
    parser.add_argument("--data-dir", required=True, nargs="+",
                        help="split parts, e.g. data/x/split4/2 data/y/split4/2")
    parser.add_argument("--out-dir", required=True, nargs="+",
                        help="dump dirs shared by all jobs, one per --data-dir")
    parser.add_argument("--job", type=int, required=True, help="job number (output names)")
    parser.add_argument("--force", action="store_true", help="redo the job of a finished dump dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Jobs run side by side: one thread each avoids oversubscribing the cores.
    torch.set_num_threads(1)
    if len(args.data_dir) != len(args.out_dir):
        print(f"error: {len(args.data_dir)} --data-dir but {len(args.out_dir)} --out-dir: "
              "give one dump dir per data dir", file=sys.stderr)
        return 1
    try:
        config = load_config(args.config, DumpConfig) if args.config else DumpConfig()
        for data_dir, out_dir in zip(args.data_dir, args.out_dir):
            if is_done(out_dir) and not args.force:
                print(f"dump: {out_dir} is complete (.done); skipping", file=sys.stderr)
                continue
            dumped, skipped = dump_data_dir(data_dir, out_dir, args.job, config)
            print(f"dump job {args.job}: {dumped} utterances dumped, {skipped} skipped "
                  f"({data_dir} -> {out_dir})", file=sys.stderr)
    except (ConfigError, DataDirError, DumpError, MediaError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
