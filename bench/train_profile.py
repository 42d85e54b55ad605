"""Where a training step's time goes: torch.profiler over steps of a recipe config.

Usage: python -m bench.train_profile [--config egs/mini_voxceleb/v1/conf/ssl_id_content_dis.yaml]
           [--dump-dir DIR] [--steps 6] [--threads 0] [--top 12]

Runs the trainer's loop body (``bench.train_speed.TrainStep``: model, objective, adversaries,
their optimisers, with its phases marked) on batches read by the training loader, under
``torch.profiler``, the loading marked too. Prints each phase's share of
the profiled wall time and the operators with the largest self CPU time, as shares of the
total self CPU time: ratios within one run, comparable across machines. The first step is a
warm-up and is not profiled. Without ``--dump-dir`` it builds a small synthetic corpus and
dumps it at the config's face size (as ``bench.train_speed``).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.data import DataLoader

from bench import _tiny
from bench.train_speed import TrainStep, open_dump
from xmodal.config import load_config
from xmodal.data.track_windows import TrackBatchSampler
from xmodal.methods.cross_modal import CrossModalConfig

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "egs/mini_voxceleb/v1/conf/ssl_id_content_dis.yaml"
PHASES = ("load", "forward+losses", "backward", "optimiser")


def build_dump(cfg: CrossModalConfig, work: Path) -> Path:
    """A raw dump dir of 80 synthetic tracks (40 speakers) at the config's face size."""
    data = _tiny.make_data_dir(work, size=cfg.model.face_size, speakers=40)
    return _tiny.dump(data, work / "dump", cfg.model.face_size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--dump-dir", type=Path, help="dump dir of a training set with faces")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, CrossModalConfig)
    with tempfile.TemporaryDirectory() as tmp:
        dump_dir = args.dump_dir.resolve() if args.dump_dir else build_dump(cfg, Path(tmp))
        dataset = open_dump(dump_dir, cfg)
        sampler = TrackBatchSampler(dataset.num_frames, cfg.data.n_frames, cfg.data.batch_size,
                                    args.steps + 1, seed=0)
        batches = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=0))
        step = TrainStep(cfg, torch.device("cpu"))
        step(*next(batches), 0)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for index in range(args.steps):
                with record_function("load"):
                    feats, faces = next(batches)
                step(feats, faces, index + 1)
    events = prof.key_averages()
    phase_us = {e.key: e.cpu_time_total for e in events if e.key in PHASES}
    total = sum(phase_us.values())
    print(f"{args.config.name}: B={cfg.data.batch_size}, N={cfg.data.n_frames}, "
          f"{cfg.model.face_size} px, width {cfg.model.width}, {torch.get_num_threads()} threads, "
          f"{args.steps} steps, {total / 1e6 / args.steps:.3f} s per step")
    print("| phase | share of wall time |\n|---|---|")
    for name in PHASES:
        print(f"| {name} | {100 * phase_us.get(name, 0) / total:.1f}% |")
    ops = sorted((e for e in events if e.key not in PHASES), key=lambda e: -e.self_cpu_time_total)
    self_total = sum(e.self_cpu_time_total for e in ops)
    print("\n| operator | share of self CPU time | calls per step |\n|---|---|---|")
    for e in ops[:args.top]:
        print(f"| {e.key} | {100 * e.self_cpu_time_total / self_total:.1f}% | "
              f"{e.count / args.steps:.0f} |")


if __name__ == "__main__":
    main()
