"""Pack a trained experiment for use on its own: weights, scoring mean, calibration, model card.

Usage: python -m xmodal.bin.make_pack --exp-dir EXP [--tag TAG] [--trained-on TEXT] [--mean-scp M.scp]
           [--cal-scp CAL/identity.scp --cal-utt2spk data/spk_cal/utt2spk [--p-target 0.05]]
           [--test-scores EXP/scores/trials.meansub.scores --test-utt2spk data/spk_test/utt2spk]
           [--stage6-metrics EXP/scores/*.metrics.json] [--n-boot 1000] [--out-dir EXP/pack]
Writes EXP/pack/ (``xmodal.pack.format``), replaced whole and atomically; prints the held-out
check of the calibration (actual vs minimum DCF, Cllr vs minCllr) as one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xmodal.config import ConfigError
from xmodal.data.datadir import DataDirError
from xmodal.eval.scoring import ScoringError
from xmodal.pack.build import EVAL_FILE, build_pack
from xmodal.pack.format import PackError
from xmodal.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    """The experiment, its scoring mean, calibration data, held-out scores and the output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp-dir", required=True, help="trained experiment (config.yaml, "
                        "model.pt)")
    parser.add_argument("--tag", help="the model's name in the card (default: the exp dir's)")
    parser.add_argument("--trained-on", default="", help="what the model was trained on, for "
                        "the card (e.g. the training data dir)")
    parser.add_argument("--mean-scp", help="subtract the mean of these embeddings before the "
                        "cosine (stage 6's meansub scores); without it, raw cosine")
    parser.add_argument("--cal-scp", help="identity embeddings of the calibration speakers")
    parser.add_argument("--cal-utt2spk", help="their utt2spk")
    parser.add_argument("--p-target", type=float, default=0.05,
                        help="prior the calibration is trained at and the threshold is for")
    parser.add_argument("--test-scores", help="labelled stage-6 score file of the same scoring, "
                        "to check the calibration on")
    parser.add_argument("--test-utt2spk", help="its speakers (default: a key's first part)")
    parser.add_argument("--stage6-metrics", nargs="*", default=[],
                        help="stage 6's metrics JSON files, quoted in the model card")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--out-dir", help="pack dir (default: EXP/pack)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.cal_scp is None) != (args.cal_utt2spk is None):
        parser.error("give --cal-scp and --cal-utt2spk together")
    if args.test_scores and not args.cal_scp:
        parser.error("--test-scores checks a calibration: give --cal-scp too")
    exp_dir = Path(args.exp_dir)
    out_dir = Path(args.out_dir) if args.out_dir else exp_dir / "pack"
    try:
        meta = build_pack(exp_dir, out_dir, tag=args.tag or exp_dir.name,
                          mean_scp=args.mean_scp, cal_scp=args.cal_scp,
                          cal_utt2spk=args.cal_utt2spk, p_target=args.p_target,
                          test_scores=args.test_scores, test_utt2spk=args.test_utt2spk,
                          stage6_metrics=args.stage6_metrics, n_boot=args.n_boot,
                          trained_on=args.trained_on)
    except (ConfigError, CheckpointError, DataDirError, ScoringError, PackError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    error = meta["provenance"].get("calibration_error")
    if error:
        print(f"make_pack: warning: {out_dir}: no calibration: {error}", file=sys.stderr)
    print(f"make_pack: {out_dir} ({meta['method']}, calibration "
          f"{'none' if meta['calibration'] is None else 'p_target ' + str(args.p_target)})",
          file=sys.stderr)
    if (out_dir / EVAL_FILE).is_file():
        result = json.loads((out_dir / EVAL_FILE).read_text())
        print(json.dumps({"pack": str(out_dir), **{k: result[k] for k in (
            "eer", "mindcf_p0.05", "actdcf_p0.05", "mindcf_p0.01", "actdcf_p0.01", "cllr",
            "min_cllr")}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
