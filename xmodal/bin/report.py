"""Stage 8 report: ``python -m xmodal.bin.report --exp-dir exp --ssl-tags "..." ...``.

Writes ``exp/RESULTS.md`` (paper Tables 2-4, the content probe, the downstream tasks),
``exp/det.png`` and
``exp/<tag>/curves.png``, and prints the tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmodal.data.datadir import DataDirError
from xmodal.eval.report import write_report
from xmodal.eval.scoring import ScoringError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp-dir", required=True)
    parser.add_argument("--ssl-tags", required=True, help="space-separated SSL experiment tags")
    parser.add_argument("--recon-tags", default="", help="space-separated reconstruction "
                        "(Stafylakis et al.) experiment tags")
    parser.add_argument("--facegen-tags", default="", help="space-separated face-generation "
                        "(Shukla et al.) experiment tags")
    parser.add_argument("--trials", default="trials", help="trial list names (first one in Table 4)")
    parser.add_argument("--finetune-tags", default="", help="tags fine-tuned in stage 7")
    parser.add_argument("--subsets", default="all", help="stage 7's label budgets (data dirs "
                        "spk_dev_<budget>: N, N_M or all)")
    parser.add_argument("--probe-tags", default="", help="tags probed in stage 8")
    parser.add_argument("--baseline-tags", default="", help="floors scored in stage 6 "
                        "(e.g. 'random_init mean_logmel')")
    parser.add_argument("--utt2spk", help="speakers of the trial keys (default: the part of "
                        "each key before its first '/', as VoxCeleb's)")
    parser.add_argument("--downstream-tags", default="", help="encoders run through the "
                        "downstream tasks (exp/<tag>/downstream)")
    parser.add_argument("--downstream-tasks", default="", help="the downstream tasks, in "
                        "table order")
    parser.add_argument("--pack-tags", default="", help="models packed in stage 9 "
                        "(exp/<tag>/pack)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    args = parser.parse_args(argv)
    exp = Path(args.exp_dir)
    if not exp.is_dir():
        print(f"error: {exp} is not a directory", file=sys.stderr)
        return 1
    try:
        md = write_report(exp, args.ssl_tags.split(), args.trials.split(),
                          args.finetune_tags.split(), args.subsets.split(),
                          args.probe_tags.split(), args.baseline_tags.split(),
                          Path(args.utt2spk) if args.utt2spk else None, args.n_boot,
                          args.recon_tags.split(), args.downstream_tags.split(),
                          args.downstream_tasks.split(), args.facegen_tags.split(),
                          args.pack_tags.split())
    except (ScoringError, DataDirError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
