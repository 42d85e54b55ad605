"""Generate synthetic CREMA-D, RAVDESS and LRW corpora in their download layouts.

Usage: python -m xmodal.bin.make_downstream_corpora --out ROOT [--seed 0] [--size 48] [--nj 2]
           [--crema-actors N] [--ravdess-actors N] [--lrw-words N] [...] [--force]

Writes ROOT/crema_d, ROOT/ravdess and ROOT/lrw (read by ``xmodal.bin.prepare_downstream``) and
the marker ROOT/downstream.json; prints one line per corpus.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from xmodal.synth.downstream_corpora import CORPORA, DownstreamSpec, generate_downstream


def build_parser() -> argparse.ArgumentParser:
    """Options: one per DownstreamSpec field, plus where, how many jobs, and --force."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="root to write the corpora under")
    parser.add_argument("--nj", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even if complete, or over corpora of another spec")
    for field in dataclasses.fields(DownstreamSpec):
        parser.add_argument(f"--{field.name.replace('_', '-')}",
                            type={"int": int, "float": float}[field.type], default=field.default,
                            help=f"(default: {field.default})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = DownstreamSpec(**{f.name: getattr(args, f.name)
                                 for f in dataclasses.fields(DownstreamSpec)})
        summary = generate_downstream(spec, args.out, nj=args.nj, force=args.force)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for corpus in CORPORA:
        done = summary["corpora"][corpus]
        if done["utterances"]:
            print(f"{corpus}: {done['utterances']} utterances, {done['speakers']} speakers, "
                  f"{done['hours']} h in {args.out}/{corpus}")
        else:
            print(f"{corpus}: not generated (no actors or words in the spec)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
