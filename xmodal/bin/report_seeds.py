"""One RESULTS.md over several training seeds: ``python -m xmodal.bin.report_seeds``.

Usage: python -m xmodal.bin.report_seeds --out full/exp/RESULTS.md
           --seed-dirs "0=full/exp/seed0 1=full/exp/seed1 2=full/exp/seed2"
           --ssl-tags "ssl_content ssl_identity ..." [--baseline-tags "random_init mean_logmel"]
           [--trials trials] [--utt2spk DATA/spk_test/utt2spk] [--n-boot 1000]
Checks the README's claims on every seed (xmodal.eval.seed_report), prints the report and
exits with status 2 if any claim fails on any seed. With --recon-tags instead of --ssl-tags:
Stafylakis et al.'s claims tested on every seed (a failing one is a finding: status 0).
With --facegen-tags: Shukla et al.'s generators' held-out tests on every seed (status 2 if
one fails) and their audio encoders' EER against the floors.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmodal.data.datadir import DataDirError
from xmodal.eval.scoring import ScoringError
from xmodal.eval.seed_report import (write_generation_seed_report,
                                     write_recon_seed_report, write_seed_report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--seed-dirs", required=True,
                        help="space-separated SEED=EXPDIR, one per training seed")
    tags = parser.add_mutually_exclusive_group(required=True)
    tags.add_argument("--ssl-tags", help="the SSL experiment tags")
    tags.add_argument("--recon-tags", help="the reconstruction experiment tags")
    tags.add_argument("--facegen-tags", help="the face-generation experiment tags")
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
        if args.recon_tags is not None:
            write_recon_seed_report(Path(args.out), seeds, args.recon_tags.split(),
                                    args.baseline_tags.split(), args.trials,
                                    Path(args.utt2spk) if args.utt2spk else None, args.n_boot)
            print(Path(args.out).read_text())
            return 0
        if args.facegen_tags is not None:
            claims = write_generation_seed_report(
                Path(args.out), seeds, args.facegen_tags.split(), args.baseline_tags.split(),
                args.trials, Path(args.utt2spk) if args.utt2spk else None, args.n_boot)
        else:
            claims = write_seed_report(Path(args.out), seeds, args.ssl_tags.split(),
                                       args.baseline_tags.split(), args.trials,
                                       Path(args.utt2spk) if args.utt2spk else None,
                                       args.n_boot)
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
