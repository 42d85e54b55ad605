"""Stage 8 report: ``python -m xmodal.bin.report --exp-dir exp --ssl-tags "..." ...``.

Writes ``exp/RESULTS.md`` (paper Tables 2-4 and the content probe), ``exp/det.png`` and
``exp/<tag>/curves.png``, and prints the tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xmodal.eval.report import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp-dir", required=True)
    parser.add_argument("--ssl-tags", required=True, help="space-separated SSL experiment tags")
    parser.add_argument("--trials", default="trials", help="trial list names (first one in Table 4)")
    parser.add_argument("--finetune-tags", default="", help="tags fine-tuned in stage 7")
    parser.add_argument("--subsets", default="all", help="spk_dev speaker counts of stage 7")
    parser.add_argument("--probe-tags", default="", help="tags probed in stage 8")
    args = parser.parse_args(argv)
    exp = Path(args.exp_dir)
    if not exp.is_dir():
        print(f"error: {exp} is not a directory", file=sys.stderr)
        return 1
    md = write_report(exp, args.ssl_tags.split(), args.trials.split(), args.finetune_tags.split(),
                      args.subsets.split(), args.probe_tags.split())
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
