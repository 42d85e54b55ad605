"""Check a Kaldi data dir; the first problem is reported with its file and line.

Usage: python -m xmodal.bin.validate_data_dir [--no-check-files] [--need-video] DIR
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.validate import validate_data_dir


def build_parser() -> argparse.ArgumentParser:
    """The data dir and what to require of it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--no-check-files", dest="check_files", action="store_false",
                        help="do not check that media files exist and are non-empty")
    parser.add_argument("--need-video", action="store_true", help="require video.scp")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = validate_data_dir(args.data_dir, check_files=args.check_files,
                                    need_video=args.need_video)
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
