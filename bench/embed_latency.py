"""Embedding latency and throughput on CPU: PyTorch eager vs ONNX Runtime vs TorchScript.

Usage: python -m bench.embed_latency [--repeats 15] [--budget 3]
The utterance-embedding graph (``xmodal.pack.export``) of random-weight models in eval mode:
the demo-size and the paper-size two-stream model (conf/demo/ssl_id_content_dis.yaml,
egs/voxceleb/v1/conf/ssl_id_content_dis.yaml) on 4 s of log-mel (400 frames), and face
generation's paper-size waveform encoder (egs/voxceleb/v1/conf/facegen_shukla.yaml) on 3 s of
samples (48000). Latency: one utterance per call; throughput: a batch of 16 utterances. One
torch thread and one onnxruntime thread (intra- and inter-op) so the three are comparable;
two warm-up calls first (TorchScript optimises its graph during them), then the
median of up to ``--repeats`` calls, fewer if they take more than ``--budget`` seconds.
Eager PyTorch also computes the content head that ``forward_audio`` returns; the ONNX graph
drops it (and folds BatchNorm into the convolutions), part of what the ratios measure.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime
import torch

from xmodal.methods import load_run_config
from xmodal.models.utterance_embedder import UtteranceEmbedder
from xmodal.pack.export import export_onnx, export_torchscript, load_onnx, load_torchscript

REPO = Path(__file__).resolve().parents[1]
# name -> (training config, input length: log-mel frames or samples)
MODELS = {
    "two-stream demo": ("egs/mini_voxceleb/v1/conf/demo/ssl_id_content_dis.yaml", 400),
    "two-stream paper": ("egs/voxceleb/v1/conf/ssl_id_content_dis.yaml", 400),
    "waveform paper": ("egs/voxceleb/v1/conf/facegen_shukla.yaml", 48000),
}
BATCHES = (1, 16)
# TorchScript profiles its first call and optimises its graph during the second.
WARMUP = 2


def cpu_model() -> str:
    """lscpu's model name (the machine the numbers belong to)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    names = [line.split(":", 1)[1].strip() for line in out.splitlines()
             if line.startswith("Model name:")]
    return names[0] if names else "unknown"


def median_ms(fn: Callable[[], object], repeats: int, budget_s: float) -> tuple[float, int]:
    """Median wall time in ms of ``fn`` after ``WARMUP`` calls, and the number of calls timed:
    ``repeats``, or fewer (at least 3) once ``budget_s`` is spent."""
    for _ in range(WARMUP):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), len(times)


def runners(embedder: UtteranceEmbedder, example: torch.Tensor,
            out_dir: Path) -> dict[str, Callable[[np.ndarray], object]]:
    """PyTorch eager, ONNX Runtime (one thread) and TorchScript, each a function of a numpy
    input; the exported files are written to ``out_dir``."""
    def eager(x: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return embedder(torch.from_numpy(x))

    return {"PyTorch": eager,
            "ORT": load_onnx(export_onnx(embedder, out_dir / "embedder.onnx", example), threads=1),
            "TorchScript": load_torchscript(export_torchscript(embedder, out_dir / "embedder.pt",
                                                               example))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per measurement")
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds per measurement after which timing stops (>= 3 calls)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; "
          f"1 thread each; median ms per call (calls timed)")
    print(f"{'model':<17} {'input':<20} {'PyTorch':>13} {'ORT':>13} "
          f"{'TorchScript':>13} {'ORT/PT':>7} {'TS/PT':>7}")
    rng = np.random.default_rng(0)
    for name, (config, length) in MODELS.items():
        torch.manual_seed(0)
        method, cfg = load_run_config(REPO / config)
        embedder = UtteranceEmbedder(method.encoder(cfg)).eval()
        waveform = embedder.input_kind == "waveform"
        frame_shape = () if waveform else (embedder.encoder.cfg.n_mels,)
        with tempfile.TemporaryDirectory() as tmp:
            run = runners(embedder, torch.randn(1, length, *frame_shape), Path(tmp))
            for batch in BATCHES:
                x = rng.standard_normal((batch, length, *frame_shape), dtype=np.float32)
                ms = {k: median_ms(lambda: fn(x), args.repeats, args.budget)
                      for k, fn in run.items()}
                unit = "samples" if waveform else "frames"
                cells = " ".join(f"{t:8.1f} ({n:2d})" for t, n in ms.values())
                print(f"{name:<17} {f'{batch} x {length} {unit}':<20} {cells} "
                      f"{ms['ORT'][0] / ms['PyTorch'][0]:7.2f} "
                      f"{ms['TorchScript'][0] / ms['PyTorch'][0]:7.2f}", flush=True)


if __name__ == "__main__":
    main()
