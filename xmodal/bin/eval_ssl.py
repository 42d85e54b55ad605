"""Self-supervised task evaluation (paper Table 2): ``python -m xmodal.bin.eval_ssl``.

Writes ``<exp-dir>/ssl_eval.json`` (with ``--leakage-train-dir``, also the post-hoc leakage
meter's probes, for models that trained both heads, and their untrained floor) and prints the
table. Then checks that every loss the
model was trained with left chance on held-out tracks (its task, with its own embedding, 95%
interval above chance): if not, it says which and exits with status 2, so a recipe stops
at a model that learnt nothing instead of scoring it (``--no-chance-check`` skips this).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from xmodal.atomic import write_text_atomic
from xmodal.config import ConfigError
from xmodal.eval.leakage import measure_leakage
from xmodal.eval.ssl_results import chance_failures, format_table
from xmodal.eval.ssl_tasks import ssl_task_accuracies, track_verification_eer
from xmodal.methods import load_pretrained
from xmodal.methods.cross_modal import CrossModalConfig
from xmodal.models.two_stream import TwoStreamModel
from xmodal.train.checkpoint import CheckpointError


def leakage_with_floor(model, cfg: CrossModalConfig, args, batch_size: int) -> dict:
    """The leakage meter on ``model`` and, as its floor, on an untrained model of the same
    architecture (seeded by the config's seed)."""
    def meter(m):
        return measure_leakage(m, args.leakage_train_dir, args.data_dir, cfg.model.embed_dim,
                               cfg.data.n_frames, batch_size, args.leakage_steps, args.batches,
                               cfg.loss.similarity, cfg.loss.adversary_dim, seed=args.seed,
                               n_boot=args.n_boot, apply_av_offset=cfg.data.apply_av_offset)
    torch.manual_seed(cfg.seed)
    floor = TwoStreamModel(cfg.model).to(next(model.parameters()).device)
    return {"trained": meter(model), "untrained": meter(floor)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp-dir", required=True, help="trained experiment (config.yaml, model.pt)")
    parser.add_argument("--data-dir", required=True, help="dump dir of ssl_test")
    parser.add_argument("--batches", type=int, default=200, help="random batches to average")
    parser.add_argument("--batch-size", type=int, default=0, help="B (default: training B)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the recipe: cuda when "
                        "--ngpu > 0; a path no test here can run)")
    parser.add_argument("--n-boot", type=int, default=1000,
                        help="bootstrap replicates of the 95%% intervals")
    parser.add_argument("--leakage-train-dir", help="dump dir of ssl_train: also run the "
                        "post-hoc leakage meter (xmodal.eval.leakage), probes trained there")
    parser.add_argument("--leakage-steps", type=int, default=200,
                        help="training steps of each leakage probe")
    parser.add_argument("--no-chance-check", action="store_true",
                        help="do not fail when a trained loss is within its interval of chance")
    args = parser.parse_args(argv)
    try:
        model, cfg = load_pretrained(args.exp_dir, args.device)
        if not isinstance(cfg, CrossModalConfig):
            raise ConfigError(f"{args.exp_dir}: trained with method '{cfg.method}'; the "
                              "self-supervised tasks are those of method 'cross_modal'")
        result = ssl_task_accuracies(model, args.data_dir, cfg.data.n_frames,
                                     args.batch_size or cfg.data.batch_size, args.batches,
                                     args.seed, cfg.loss.similarity, args.n_boot,
                                     cfg.data.apply_av_offset)
        result.update(track_verification_eer(model, args.data_dir))
        if args.leakage_train_dir and cfg.loss.content and cfg.loss.identity:
            # The probes' B is Table 2's, so both identity tasks share one chance level.
            result["leakage"] = leakage_with_floor(model, cfg, args,
                                                   args.batch_size or cfg.data.batch_size)
    except (ConfigError, CheckpointError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text_atomic(Path(args.exp_dir) / "ssl_eval.json", json.dumps(result, indent=1) + "\n")
    tag = Path(args.exp_dir).name
    heads = {emb for emb in ("content", "identity") if getattr(cfg.loss, emb)}
    print(format_table({tag: result}, {tag: heads}))
    failures = chance_failures(result, cfg.loss.content, cfg.loss.identity)
    if failures and not args.no_chance_check:
        for failure in failures:
            print(f"error: {Path(args.exp_dir) / 'config.yaml'}: {failure}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
