"""Frame units without labels: k-means on the frames of a dump dir (log-mel, or a cross-modal
model's content embeddings), then every given dump dir written as units (``xmodal.data.units``).

Usage: python -m xmodal.bin.learn_units --train-dir dump/ssl_train --num-units 64
           --out dump/units/kmeans.npy --apply-to "dump/ssl_train dump/ssl_test"
           [--features logmel|content_emb --max-frames 200000 --iterations 25 --seed 0]

Writes the centroids (``--out``), then the per-frame units and their table (``frame_units``
and ``units.txt``; ``frame_content_units`` and ``content_units.txt`` for content_emb) into
each dir of ``--apply-to``. An existing ``--out`` is reused (not learnt again), so a rerun only writes
the units of dirs that lack them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from xmodal.data.datadir import DataDirError
from xmodal.data.units import UNIT_SETS, kmeans, sample_frames, save_centroids, write_units


def build_parser() -> argparse.ArgumentParser:
    """Training frames, unit count, output and the dirs to write units into."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-dir", required=True, help="dump dir whose frames are clustered")
    parser.add_argument("--features", default="logmel", choices=tuple(UNIT_SETS),
                        help="frames clustered: log-mel, or content_emb.scp's embeddings")
    parser.add_argument("--num-units", type=int, default=64)
    parser.add_argument("--out", required=True, help="centroids file (kmeans.npy)")
    parser.add_argument("--apply-to", default="", help="space-separated dump dirs to write "
                        "frame_units and units.txt into")
    parser.add_argument("--max-frames", type=int, default=200_000, help="frames clustered")
    parser.add_argument("--iterations", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        if out.is_file():
            centroids = np.load(out)
        else:
            frames = sample_frames(args.train_dir, args.max_frames, args.seed, args.features)
            centroids = kmeans(frames, args.num_units, args.iterations, args.seed)
            save_centroids(out, centroids)
            print(f"learn_units: {len(centroids)} units from {len(frames)} frames of "
                  f"{args.train_dir} -> {out}", file=sys.stderr)
        for dump_dir in args.apply_to.split():
            if (Path(dump_dir) / UNIT_SETS[args.features][0]).is_file():
                continue
            n = write_units(dump_dir, centroids, args.features)
            print(f"learn_units: {n} utterances of {dump_dir} as units", file=sys.stderr)
    except (DataDirError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
