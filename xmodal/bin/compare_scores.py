"""Paired speaker-bootstrap comparison of two systems' score files on the same trials.

Usage: python -m xmodal.bin.compare_scores A.scores B.scores [--utt2spk FILE] [--n-boot N]
           [--seed S]
Both files hold ``<enroll> <test> <score> target|nontarget`` lines for the same trials, in
any order. Prints one JSON object: for eer, mindcf_p0.01 and mindcf_p0.05 the values of A
and B, the difference A - B with its 95% interval, a two-sided bootstrap p-value and whether
the interval excludes 0; and a one-line summary of the EER comparison on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys

from xmodal.data.datadir import DataDirError
from xmodal.eval.comparison import compare_score_files, comparison_summary
from xmodal.eval.scoring import ScoringError


def build_parser() -> argparse.ArgumentParser:
    """The two score files and the bootstrap options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="labelled score file of system A")
    parser.add_argument("b", help="labelled score file of system B, same trials")
    parser.add_argument("--utt2spk", help="utterance -> speaker table (default: a key's "
                        "speaker is its part before the first '/', as in VoxCeleb)")
    parser.add_argument("--n-boot", type=int, default=1000,
                        help="bootstrap replicates (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = compare_score_files(args.a, args.b, utt2spk=args.utt2spk, n_boot=args.n_boot,
                                     seed=args.seed)
    except (DataDirError, ScoringError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    print(comparison_summary(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
