"""One RESULTS.md over several training seeds: ``python -m xmodal.bin.report_seeds``.

Usage: python -m xmodal.bin.report_seeds --out full/exp/RESULTS.md
           --seed-dirs "0=full/exp/seed0 1=full/exp/seed1 2=full/exp/seed2"
           --ssl-tags "ssl_content ssl_identity ..." [--baseline-tags "random_init mean_logmel"]
           [--trials trials] [--utt2spk DATA/spk_test/utt2spk] [--n-boot 1000]
Checks the README's claims on every seed (xmodal.eval.seed_report), prints the report and
exits with status 2 if any claim fails on any seed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmodal.data.datadir import DataDirError
from xmodal.eval.scoring import ScoringError
from xmodal.eval.seed_report import write_seed_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--seed-dirs", required=True,
                        help="space-separated SEED=EXPDIR, one per training seed")
    parser.add_argument("--ssl-tags", required=True, help="the SSL experiment tags")
    parser.add_argument("--baseline-tags", default="random_init mean_logmel",
                        help="the floors every identity-trained model must beat")
    parser.add_argument("--trials", default="trials", help="the trial list scored")
    parser.add_argument("--utt2spk", help="speakers of the trial keys")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    args = parser.parse_args(argv)
    seeds = {}
    for item in args.seed_dirs.split():
        seed, sep, exp = item.partition("=")
        if not sep or not Path(exp).is_dir():
            print(f"error: --seed-dirs: '{item}' is not SEED=EXPDIR with an existing EXPDIR",
                  file=sys.stderr)
            return 1
        seeds[seed] = Path(exp)
    try:
        claims = write_seed_report(Path(args.out), seeds, args.ssl_tags.split(),
                                   args.baseline_tags.split(), args.trials,
                                   Path(args.utt2spk) if args.utt2spk else None, args.n_boot)
    except (ScoringError, DataDirError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(Path(args.out).read_text())
    failed = [c for c in claims if not c.holds]
    for c in failed:
        print(f"claim failed: seed {c.seed}: {c.model}: {c.what} ({c.evidence})",
              file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
