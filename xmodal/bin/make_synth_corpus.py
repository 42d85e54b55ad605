"""Generate the synthetic talking-heads corpus in the official VoxCeleb layouts.

Usage: python -m xmodal.bin.make_synth_corpus --out-dir CORPUS [--nj 2] [--seed 0] [...]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from xmodal.synth.corpus import CorpusSpec, generate_corpus


def build_parser() -> argparse.ArgumentParser:
    """Options: one per CorpusSpec field, plus where, how many jobs, and --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True, help="corpus root to write")
    parser.add_argument("--nj", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    for field in dataclasses.fields(CorpusSpec):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type={"int": int, "float": float}[field.type],
                            default=field.default,
                            help=f"(default: {field.default})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = CorpusSpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(CorpusSpec)})
        summary = generate_corpus(spec, args.out_dir, nj=args.nj, force=args.force)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary["pools"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
