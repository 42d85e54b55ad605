"""The coupling study's table and plot: ``python -m xmodal.bin.report_sweep``.

Usage: python -m xmodal.bin.report_sweep --out sweep/RESULTS.md
           --points "0=sweep/c0/exp 0.5=sweep/c0.5/exp 1=sweep/c1/exp"
           [--tag ssl_identity] [--baseline-tags "random_init mean_logmel"] [--trials trials]
Writes the markdown and, beside it, the plot (same name, .png); prints the markdown.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmodal.eval.sweep_report import write_sweep_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--points", required=True,
                        help="space-separated COUPLING=EXPDIR, one per corpus")
    parser.add_argument("--tag", default="ssl_identity", help="the model trained at each point")
    parser.add_argument("--baseline-tags", default="random_init mean_logmel")
    parser.add_argument("--trials", default="trials")
    args = parser.parse_args(argv)
    points = {}
    for item in args.points.split():
        coupling, sep, exp = item.partition("=")
        try:
            value = float(coupling)
        except ValueError:
            value = None
        if not sep or value is None or not Path(exp).is_dir():
            print(f"error: --points: '{item}' is not COUPLING=EXPDIR with a number and an "
                  "existing EXPDIR", file=sys.stderr)
            return 1
        points[value] = Path(exp)
    print(write_sweep_report(Path(args.out), points, args.tag, args.baseline_tags.split(),
                             args.trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
