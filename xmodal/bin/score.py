"""Score a trials file: cosine similarity of embeddings, optional mean subtraction and AS-norm.

Usage: python -m xmodal.bin.score --trials TRIALS --enroll-scp A.scp [--test-scp B.scp]
           [--mean-scp M.scp] [--asnorm-cohort-scp C.scp --asnorm-top-k 300]
           [--skip-unknown] --out SCORES
Writes ``<enroll> <test> <score> target|nontarget`` lines (no label for unlabelled trials).
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.eval.scoring import ScoringError, score_trials


def build_parser() -> argparse.ArgumentParser:
    """Trials, embedding scp files, normalisation options and the output score file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", required=True, help="Kaldi trials file")
    parser.add_argument("--enroll-scp", required=True, nargs="+",
                        help="kaldiio scp file(s) of enrolment embeddings")
    parser.add_argument("--test-scp", nargs="+",
                        help="scp file(s) of test embeddings (default: the enrolment ones)")
    parser.add_argument("--mean-scp", help="subtract the mean of these embeddings first "
                        "(e.g. the self-supervised training set's)")
    parser.add_argument("--asnorm-cohort-scp", help="AS-norm cohort embeddings (no AS-norm "
                        "without it)")
    parser.add_argument("--asnorm-top-k", type=int, default=300,
                        help="cohort scores per side used by AS-norm (capped at the cohort size)")
    parser.add_argument("--skip-unknown", action="store_true",
                        help="skip trials whose keys have no embedding instead of failing")
    parser.add_argument("--out", required=True, help="score file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = score_trials(args.trials, args.enroll_scp, args.out, test_scps=args.test_scp,
                               mean_scp=args.mean_scp, cohort_scp=args.asnorm_cohort_scp,
                               top_k=args.asnorm_top_k, skip_unknown=args.skip_unknown)
    except (DataDirError, ScoringError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    asnorm = "" if summary.asnorm_top_k is None else f", AS-norm top-{summary.asnorm_top_k}"
    print(f"score: {summary.n_scored} trials scored, {summary.n_skipped} skipped for unknown "
          f"keys{asnorm} -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
