"""Training throughput of one model on every core vs several models side by side.

Usage: python -m bench.parallel_training [--config egs/mini_voxceleb/v1/conf/ssl_id_content.yaml]
           [--dump-dir DIR] [--jobs 2] [--steps 12]

The recipes' ``--train-jobs J`` trains up to J models at once on ``nproc / J`` threads each
(stages 3, 7 and 8). This measures whether that pays: (a) one process running the trainer's
loop body (``bench.train_speed.TrainStep``) with ``nproc`` threads, (b) J such processes at
the same time with ``nproc / J`` threads each. Every process loads its batches first, runs a
warm-up step, then times ``--steps`` steps. Printed: samples/s of (a), the summed samples/s of
(b), and their ratio, the speed-up of a stage that has J models to train. Small convolutional
models keep two cores busy poorly, so on CPU the ratio is above 1; on a machine where it is not,
leave ``--train-jobs 1``. Without ``--dump-dir`` it builds a small synthetic corpus and dumps
it at the config's face size (as ``bench.train_profile``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "egs/mini_voxceleb/v1/conf/ssl_id_content.yaml"


def child(config: Path, dump_dir: Path, steps: int) -> None:
    """One training process: print its samples/s over ``steps`` timed steps as JSON."""
    import torch

    from bench.train_speed import TrainStep, load_batches, open_dump
    from xmodal.config import load_config
    from xmodal.methods.cross_modal import CrossModalConfig

    cfg = load_config(config, CrossModalConfig)
    dataset = open_dump(dump_dir, cfg)
    batches = load_batches(dataset, cfg.data.n_frames, cfg.data.batch_size, steps + 1,
                           torch.device("cpu"))
    step = TrainStep(cfg, torch.device("cpu"))
    step(*batches[0], 0)  # warm-up
    start = time.perf_counter()
    for index, (feats, faces) in enumerate(batches[1:], start=1):
        step(feats, faces, index)
    elapsed = time.perf_counter() - start
    print(json.dumps({"threads": torch.get_num_threads(),
                      "samples_per_s": steps * cfg.data.batch_size / elapsed}))


def run_side_by_side(config: Path, dump_dir: Path, steps: int, jobs: int, threads: int) -> list[dict]:
    """``jobs`` child processes started together, ``threads`` threads each; their results."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "bench.parallel_training", "--child", "--config", str(config),
           "--dump-dir", str(dump_dir), "--steps", str(steps)]
    procs = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(jobs)]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a training process failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--dump-dir", type=Path, help="dump dir of a training set with faces")
    parser.add_argument("--jobs", type=int, default=2, help="models trained side by side")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.config, args.dump_dir, args.steps)
        return
    cores = os.cpu_count() or 1
    if args.jobs < 2 or cores // args.jobs < 1:
        raise SystemExit(f"--jobs must be 2..{cores} on this {cores}-core machine")
    from bench.train_profile import build_dump
    from xmodal.config import load_config
    from xmodal.methods.cross_modal import CrossModalConfig

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(args.config, CrossModalConfig)
        dump_dir = args.dump_dir.resolve() if args.dump_dir else build_dump(cfg, Path(tmp))
        alone = run_side_by_side(args.config.resolve(), dump_dir, args.steps, 1, cores)[0]
        together = run_side_by_side(args.config.resolve(), dump_dir, args.steps, args.jobs,
                                    cores // args.jobs)
    summed = sum(r["samples_per_s"] for r in together)
    print(f"{args.config.name}: B={cfg.data.batch_size}, N={cfg.data.n_frames}, "
          f"{cfg.model.face_size} px, {cores} cores, {args.steps} steps")
    print("| run | threads each | samples/s |\n|---|---|---|")
    print(f"| 1 model | {alone['threads']} | {alone['samples_per_s']:.1f} |")
    each = " + ".join(f"{r['samples_per_s']:.1f}" for r in together)
    print(f"| {args.jobs} models side by side | {together[0]['threads']} | {summed:.1f} "
          f"({each}) |")
    print(f"speed-up of a stage with {args.jobs} models to train: {summed / alone['samples_per_s']:.2f}x")


if __name__ == "__main__":
    main()
