"""One stage-5 extraction job: identity and content embeddings of dump dirs' utterances.

Usage: python -m xmodal.bin.extract (--exp-dir EXP | --mean-logmel [EXP])... --feats-dir DUMP/SET
           [--data-dir DUMP/SET/splitN/J] --out-dir OUT [--feats-dir ... --out-dir ...]
           [--job J] [--crop-frames 0] [--crop-hop 0] [--weights model.pt]
           [--num-threads 1] [--device cpu] [--force]
One model (an experiment, or the mean log-mel vector) writes into the --out-dir paths as
given. Several models (--exp-dir repeated, and --mean-logmel EXP for the floor's dir) embed
every set in one process, each writing into its own dir: every --out-dir then holds
``{exp}``, replaced by each model's dir (e.g. ``'{exp}/emb/spk_test'``). A process that
imports torch takes seconds to start, which is most of a small set's extraction.
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
    parser.add_argument("--exp-dir", action="append", default=[],
                        help="trained experiment (config.yaml + weights); repeat it to embed "
                        "with several models in one process")
    parser.add_argument("--mean-logmel", nargs="?", const="", default=None, metavar="EXP",
                        help="no model: embed each utterance by its mean log-mel vector (the "
                        "recipes' floor); EXP is its dir beside other models' ({exp})")
    parser.add_argument("--weights", default="model.pt", help="weights file in --exp-dir")
    parser.add_argument("--feats-dir", required=True, action="append",
                        help="dump dir with feats.scp; repeat it (with --out-dir, and "
                        "--data-dir if used) to embed several sets in one process")
    parser.add_argument("--data-dir", action="append",
                        help="embed only this data dir's utterances (a split part)")
    parser.add_argument("--out-dir", required=True, action="append",
                        help="embedding dir shared by all jobs ({exp}: each model's dir)")
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


def models_to_run(parser: argparse.ArgumentParser, args) -> list[tuple[str | None, str]]:
    """``(exp_dir or None for the mean log-mel floor, its dir for {exp})`` of each model."""
    models: list[tuple[str | None, str]] = [(exp, exp) for exp in args.exp_dir]
    if args.mean_logmel is not None:
        if args.mean_logmel == "" and models:
            parser.error("--mean-logmel beside --exp-dir needs its own dir: --mean-logmel EXP")
        models.append((None, args.mean_logmel))
    if not models:
        parser.error("give --exp-dir or --mean-logmel")
    several = len(models) > 1
    for out_dir in args.out_dir:
        if several and "{exp}" not in out_dir:
            parser.error(f"--out-dir {out_dir}: with several models every --out-dir must "
                         "hold {exp} (each model's dir)")
        if "{exp}" in out_dir and models[0][1] == "":
            parser.error(f"--out-dir {out_dir}: {{exp}} needs --exp-dir or --mean-logmel EXP")
    return models


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    data_dirs = args.data_dir or [None] * len(args.feats_dir)
    if not len(args.feats_dir) == len(args.out_dir) == len(data_dirs):
        parser.error("give --feats-dir, --out-dir (and --data-dir, if any) once per set, "
                     f"got {len(args.feats_dir)}, {len(args.out_dir)} and {len(data_dirs)}")
    work = []  # (model, its sets still to do)
    for exp_dir, name in models_to_run(parser, args):
        sets = []
        for feats_dir, data_dir, out_dir in zip(args.feats_dir, data_dirs, args.out_dir):
            out_dir = out_dir.replace("{exp}", name)
            if is_done(out_dir) and not args.force:
                print(f"extract: {out_dir} is complete (.done); skipping", file=sys.stderr)
            else:
                sets.append((feats_dir, data_dir, out_dir))
        if sets:
            work.append((exp_dir, sets))
    if not work:
        return 0
    torch.set_num_threads(max(1, args.num_threads))
    name = "extract" if args.job is None else f"extract job {args.job}"
    try:
        config = ExtractConfig(crop_frames=args.crop_frames, crop_hop=args.crop_hop)
        for exp_dir, sets in work:
            model = (MeanLogMel(feature_bins(sets[0][0])) if exp_dir is None
                     else load_pretrained(exp_dir, args.device, args.weights)[0])
            for feats_dir, data_dir, out_dir in sets:
                stats = extract_embeddings(model, feats_dir, out_dir, args.job, data_dir,
                                           config, args.device)
                print("\n".join(f"{name}: {out_dir}: {line}" for line in stats.lines()),
                      file=sys.stderr)
    except (ConfigError, CheckpointError, DataDirError, ExtractError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
