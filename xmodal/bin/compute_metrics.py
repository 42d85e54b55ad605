"""EER and minDCF (p_target 0.01 and 0.05) of labelled score files, one JSON line per file.

Usage: python -m xmodal.bin.compute_metrics SCORES [SCORES...] [--det-plot FILE.png] [--llr]
           [--ci [--utt2spk FILE] [--n-boot N] [--seed S]]
Each score file holds ``<enroll> <test> <score> target|nontarget`` lines. With ``--llr``
(the scores are calibrated log-likelihood ratios), each line also gets the actual DCF at
each p_target (``actdcf_p0.01``, ``actdcf_p0.05``), ``cllr`` and ``min_cllr`` (bits). With
``--ci``, each line also gets 95% speaker-bootstrap intervals (``eer_ci``,
``mindcf_p0.01_ci``, ``mindcf_p0.05_ci``, and with ``--llr`` ``actdcf_p0.01_ci``,
``actdcf_p0.05_ci``, ``cllr_ci``, ``min_cllr_ci``) and ``ci_level``, ``n_boot``,
``n_speakers``, ``n_redrawn``.
"""
from __future__ import annotations

import argparse
import json
import sys

from xmodal.data.datadir import DataDirError
from xmodal.eval.scoring import ScoringError, evaluate_score_files


def build_parser() -> argparse.ArgumentParser:
    """Score files, an optional DET plot path, --llr and the bootstrap options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores", nargs="+", help="labelled score file(s)")
    parser.add_argument("--det-plot", help="also draw all DET curves into this image")
    parser.add_argument("--llr", action="store_true",
                        help="the scores are calibrated log-likelihood ratios: also report "
                        "actual DCF at each p_target, Cllr and minCllr")
    parser.add_argument("--ci", action="store_true",
                        help="add 95%% intervals from resampling speakers with replacement")
    parser.add_argument("--utt2spk", help="utterance -> speaker table for --ci (default: a "
                        "key's speaker is its part before the first '/', as in VoxCeleb)")
    parser.add_argument("--n-boot", type=int, help="bootstrap replicates for --ci "
                        "(default: 1000)")
    parser.add_argument("--seed", type=int, help="random seed for --ci (default: 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = {name: value for name, value in
               (("utt2spk", args.utt2spk), ("n_boot", args.n_boot), ("seed", args.seed))
               if value is not None}
    if options and not args.ci:
        parser.error("--utt2spk, --n-boot and --seed need --ci")
    try:
        results = evaluate_score_files(args.scores, det_plot=args.det_plot, ci=args.ci,
                                       llr=args.llr, **options)
    except (DataDirError, ScoringError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
