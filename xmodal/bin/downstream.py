"""Downstream tasks on one frozen encoder: ``python -m xmodal.bin.downstream``.

Usage: python -m xmodal.bin.downstream (--exp-dir EXP | --mean-logmel)
           --task-root DUMP/downstream --tasks "crema_d ravdess lrw speaker_id"
           [--heads "identity content"] --config conf/downstream.yaml --out-dir EXP/downstream
           [--speaker-norm-tasks "crema_d ravdess"] [--n-boot 1000] [--num-threads 1]

For each task (``TASK_ROOT/<task>/{train,valid,test}``: dump dirs with feats.scp, utt2spk and
utt2label) and each head of the encoder: the head's frozen frame features of every split
(written once to ``OUT_DIR/features/<task>/<split>/<head>.{ark,scp}``), a classifier
(``--config``: ``xmodal.eval.downstream_classifier.ClassifierConfig``) trained on train and
early-stopped on valid, and its test accuracy with a 95% interval over speakers, written to
``OUT_DIR/<task>_<head>.json`` (with each test utterance's outcome, for paired comparisons).
A result that exists is not computed again. ``--mean-logmel``: the log-mel frames
themselves (the floor). ``--speaker-norm-tasks``: tasks whose features are standardised per
speaker in each split before the classifier (the emotion tasks; every speaker of such a task
needs at least 2 utterances per split). Prints one line per result.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from xmodal.atomic import write_text_atomic
from xmodal.config import ConfigError, load_config
from xmodal.data.datadir import DataDirError
from xmodal.eval.downstream import SPLITS, run_task, write_features
from xmodal.eval.downstream_classifier import ClassifierConfig
from xmodal.eval.embedding_sets import HEADS, ExtractError
from xmodal.eval.extract import feature_bins
from xmodal.methods import load_pretrained
from xmodal.models.mean_logmel import MeanLogMel
from xmodal.train.checkpoint import CheckpointError


def build_parser() -> argparse.ArgumentParser:
    """Encoder, tasks, heads, classifier config, output dir, bootstrap and threads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--exp-dir", help="trained model dir (config.yaml, model.pt)")
    model.add_argument("--mean-logmel", action="store_true",
                       help="the log-mel frames themselves (the floor)")
    parser.add_argument("--task-root", required=True,
                        help="dir of task dirs, each with train/valid/test dump dirs")
    parser.add_argument("--tasks", required=True, help="space-separated task dir names")
    parser.add_argument("--heads", default=" ".join(HEADS), help="heads to evaluate")
    parser.add_argument("--config", required=True, help="classifier yaml (ClassifierConfig)")
    parser.add_argument("--out-dir", required=True, help="results and feature cache")
    parser.add_argument("--speaker-norm-tasks", default="",
                        help="tasks whose features are standardised per speaker (emotion)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--num-threads", type=int, default=1, help="torch CPU threads")
    return parser


def log(line: str) -> None:
    """A progress line on stderr."""
    print(f"downstream: {line}", file=sys.stderr, flush=True)


def format_result(name: str, result: dict) -> str:
    """One line: accuracy, interval, chance, test size."""
    low, high = result["ci"]
    return (f"{name}: accuracy {result['accuracy']:.3f} [{low:.3f}, {high:.3f}], chance "
            f"{result['chance']:.3f}, {len(result['labels'])} classes, {result['n_test']} "
            f"test utterances of {result['n_speakers']} speakers")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    heads, tasks = args.heads.split(), args.tasks.split()
    speaker_norm_tasks = set(args.speaker_norm_tasks.split())
    unknown = [h for h in heads if h not in HEADS]
    if unknown or not heads or not tasks:
        parser.error(f"--heads must name some of {HEADS} and --tasks at least one task")
    out_dir, task_root = Path(args.out_dir), Path(args.task_root)
    todo = [(t, h) for t in tasks for h in heads
            if not (out_dir / f"{t}_{h}.json").is_file()]
    if not todo:
        log(f"{out_dir}: every result exists; nothing to do")
        return 0
    torch.set_num_threads(max(1, args.num_threads))
    try:
        cfg = load_config(args.config, ClassifierConfig)
        for task in tasks:  # every split there before any work
            for split in SPLITS:
                if not (task_root / task / split / "feats.scp").is_file():
                    raise DataDirError(f"{task_root / task / split}/feats.scp: file not found "
                                       f"(task '{task}' needs dumped train, valid and test)")
        model = (MeanLogMel(feature_bins(task_root / todo[0][0] / "train")) if args.mean_logmel
                 else load_pretrained(args.exp_dir)[0])
        for task in tasks:
            task_heads = [h for t, h in todo if t == task]
            if not task_heads:
                continue
            start = time.monotonic()
            scps = {split: write_features(model, task_root / task / split, task_heads,
                                          out_dir / "features" / task / split)
                    for split in SPLITS}
            seconds = (time.monotonic() - start) / len(task_heads)  # shared feature pass
            for head in task_heads:
                start = time.monotonic()
                result = run_task({s: task_root / task / s for s in SPLITS},
                                  {s: scps[s][head] for s in SPLITS}, cfg, args.n_boot,
                                  speaker_norm=task in speaker_norm_tasks)
                result.update(task=task, head=head,
                              encoder="mean_logmel" if args.mean_logmel else str(args.exp_dir),
                              seconds=round(seconds + time.monotonic() - start, 1))
                write_text_atomic(out_dir / f"{task}_{head}.json", json.dumps(result) + "\n")
                print(format_result(f"{out_dir / task}_{head}", result))
    except (ConfigError, CheckpointError, DataDirError, ExtractError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
