"""One stage-5 extraction job: identity and content embeddings of a dump dir's utterances.

Usage: python -m xmodal.bin.extract (--exp-dir EXP | --mean-logmel) --feats-dir DUMP/SET
           [--data-dir DUMP/SET/splitN/J] --out-dir EXP/emb/SET [--feats-dir ... --out-dir
           ...] [--job J]
           [--crop-frames 0] [--crop-hop 0] [--weights model.pt] [--num-threads 1]
           [--device cpu] [--force]
Without --job the run writes the finished set (identity/content/spk_xvector, .done); with
--job J it writes job files for xmodal.bin.merge_embeddings. A finished set (.done) is
skipped unless --force.
"""
from __future__ import annotations

import argparse
import sys

import torch

from xmodal.config import ConfigError
from xmodal.data.datadir import DataDirError
from xmodal.eval.embedding_sets import ExtractError, is_done
from xmodal.eval.extract import ExtractConfig, extract_embeddings, feature_bins
from xmodal.methods import load_pretrained
from xmodal.models.mean_logmel import MeanLogMel
from xmodal.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    """Model, inputs, outputs, job number, crops and compute settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--exp-dir", help="trained experiment (config.yaml + weights)")
    model.add_argument("--mean-logmel", action="store_true",
                       help="no model: embed each utterance by its mean log-mel vector (the "
                       "recipes' floor)")
    parser.add_argument("--weights", default="model.pt", help="weights file in --exp-dir")
    parser.add_argument("--feats-dir", required=True, action="append",
                        help="dump dir with feats.scp; repeat it (with --out-dir, and "
                        "--data-dir if used) to embed several sets in one process")
    parser.add_argument("--data-dir", action="append",
                        help="embed only this data dir's utterances (a split part)")
    parser.add_argument("--out-dir", required=True, action="append",
                        help="embedding dir shared by all jobs")
    parser.add_argument("--job", type=int, help="job number (output names); omit for one run")
    parser.add_argument("--crop-frames", type=int, default=0,
                        help="embed crops of this many feature frames and average (0: whole)")
    parser.add_argument("--crop-hop", type=int, default=0, help="frames between crop starts "
                        "(0: --crop-frames)")
    parser.add_argument("--num-threads", type=int, default=1,
                        help="torch CPU threads (jobs run side by side: 1 avoids oversubscribing)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--force", action="store_true", help="redo a finished set")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    data_dirs = args.data_dir or [None] * len(args.feats_dir)
    if not len(args.feats_dir) == len(args.out_dir) == len(data_dirs):
        parser.error("give --feats-dir, --out-dir (and --data-dir, if any) once per set, "
                     f"got {len(args.feats_dir)}, {len(args.out_dir)} and {len(data_dirs)}")
    sets = []
    for feats_dir, data_dir, out_dir in zip(args.feats_dir, data_dirs, args.out_dir):
        if is_done(out_dir) and not args.force:
            print(f"extract: {out_dir} is complete (.done); skipping", file=sys.stderr)
        else:
            sets.append((feats_dir, data_dir, out_dir))
    if not sets:
        return 0
    torch.set_num_threads(max(1, args.num_threads))
    name = "extract" if args.job is None else f"extract job {args.job}"
    try:
        config = ExtractConfig(crop_frames=args.crop_frames, crop_hop=args.crop_hop)
        # One model for every set: a process that imports torch takes seconds to start.
        model = (MeanLogMel(feature_bins(sets[0][0])) if args.mean_logmel
                 else load_pretrained(args.exp_dir, args.device, args.weights)[0])
        for feats_dir, data_dir, out_dir in sets:
            stats = extract_embeddings(model, feats_dir, out_dir, args.job, data_dir, config,
                                       args.device)
            print("\n".join(f"{name}: {out_dir}: {line}" for line in stats.lines()),
                  file=sys.stderr)
    except (ConfigError, CheckpointError, DataDirError, ExtractError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
