"""One stage-2 dump job: log-mel features and face frames of one split of a data dir.

Usage: python -m xmodal.bin.dump [--config conf/dump.yaml] --data-dir DATA/splitN/J
                                 --out-dir DUMP --job J [--force]
A finished dump dir (``DUMP/.done``) is skipped unless --force; a job that runs withdraws
``.done`` until ``merge_dump`` has checked all jobs again.
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
    """Config, input split, output dir, the job number used in output names, --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="DumpConfig yaml (default: built-in defaults)")
    parser.add_argument("--data-dir", required=True, help="one split part, e.g. data/x/split4/2")
    parser.add_argument("--out-dir", required=True, help="dump dir shared by all jobs")
    parser.add_argument("--job", type=int, required=True, help="job number (output names)")
    parser.add_argument("--force", action="store_true", help="redo the job of a finished dump dir")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Jobs run side by side: one thread each avoids oversubscribing the cores.
    torch.set_num_threads(1)
    try:
        config = load_config(args.config, DumpConfig) if args.config else DumpConfig()
        if is_done(args.out_dir) and not args.force:
            print(f"dump: {args.out_dir} is complete (.done); skipping", file=sys.stderr)
            return 0
        dumped, skipped = dump_data_dir(args.data_dir, args.out_dir, args.job, config)
    except (ConfigError, DataDirError, DumpError, MediaError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"dump job {args.job}: {dumped} utterances dumped, {skipped} skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
