"""EER and minDCF (p_target 0.01 and 0.05) of labelled score files, one JSON line per file.

Usage: python -m xmodal.bin.compute_metrics SCORES [SCORES...] [--det-plot FILE.png]
Each score file holds ``<enroll> <test> <score> target|nontarget`` lines.
"""
from __future__ import annotations

import argparse
import json
import sys

from xmodal.eval.scoring import ScoringError, evaluate_score_files


def build_parser() -> argparse.ArgumentParser:
    """Score files and an optional DET plot path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores", nargs="+", help="labelled score file(s)")
    parser.add_argument("--det-plot", help="also draw all DET curves into this image")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = evaluate_score_files(args.scores, det_plot=args.det_plot)
    except ScoringError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
