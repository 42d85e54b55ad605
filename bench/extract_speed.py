"""Extraction speed: real-time factor (seconds of audio embedded per wall second) on CPU.

Usage: python -m bench.extract_speed [--utts 16] [--seconds 4] [--repeats 3] [--threads 0]
Random-weight models in eval mode, synthetic log-mel inputs of ``--seconds`` each (100
frames/s); the same code path as stage 5 (``embed_inputs``), once with equal-length
utterances batched and once one utterance per forward pass. Models: the paper size
(``ModelConfig()``) and the mini recipe's size.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from xmodal.eval.extract import embed_inputs
from xmodal.models.two_stream import ModelConfig, TwoStreamModel, count_parameters

FRAMES_PER_SECOND = 100
MODELS = {
    "paper": ModelConfig(),
    "mini": ModelConfig(width=0.25, face_size=48, embed_dim=128, head_hidden=128, trunk_dim=128),
}


def best_time(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` runs after one warm-up (the machine may be shared)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utts", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    frames = round(args.seconds * FRAMES_PER_SECOND)
    rng = np.random.default_rng(0)
    audio_s = args.utts * args.seconds
    print(f"{args.utts} utterances x {args.seconds:g} s ({frames} frames), CPU, "
          f"{torch.get_num_threads()} threads")
    for name, cfg in MODELS.items():
        torch.manual_seed(0)
        model = TwoStreamModel(cfg).eval()
        inputs = [rng.normal(size=(frames, cfg.n_mels)).astype(np.float32)
                  for _ in range(args.utts)]
        batched = best_time(lambda: embed_inputs(model, inputs, max_batch_frames=8000),
                            args.repeats)
        single = best_time(lambda: embed_inputs(model, inputs, max_batch_frames=1), args.repeats)
        print(f"{name} ({count_parameters(model) / 1e6:.1f} M parameters): "
              f"RTF {audio_s / batched:.0f}x batched, {audio_s / single:.0f}x one utterance "
              f"at a time")


if __name__ == "__main__":
    main()
