"""Training throughput: data-loader rate vs training-step rate, achieved vs matmul FLOP/s.

Usage: python -m bench.train_speed [--mini-dump DIR] [--paper-dump DIR] [--loss id_content_dis]
           [--paper-batch 2] [--steps 3] [--loader-batches 24] [--device cpu] [--threads 0]
           [--peak-tflops 989] [--mfu 0.4]

Two configs: mini (``egs/mini_voxceleb/v1/conf/ssl_<loss>.yaml``, 32 px faces) and paper
(``egs/voxceleb/v1/conf/ssl_<loss>.yaml``, 224 px faces). Without dump dirs the benchmark
makes a synthetic 224 px corpus of 32 tracks and dumps it at both face sizes, in the face
format of each recipe's ``conf/dump.yaml`` (raw for mini, jpeg for paper; about 40 s).

(a) Loader rate: samples/s that the training DataLoader (``TrackWindowDataset`` and
``TrackBatchSampler`` at the config's batch size and ``num_workers``, as the trainer builds it)
delivers with nothing consuming them, timed after the first ``num_workers`` batches so worker
start-up and the batches prepared during it do not count. The same with one worker is the
pipeline rate of one CPU core.
Step rate: samples/s of forward + losses + backward + SGD step (confusion adversaries and their
own step included when the config has them, as in the trainer's loop body) on batches loaded
beforehand; best of ``--steps`` steps after a warm-up.
The paper config runs at ``--paper-batch`` (on CPU a step at B=30 takes minutes); per sample
the cost of this convolutional network hardly depends on B. Target: loader >= 2 x step, so a
step never waits for data.

(b) FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` around one whole step counts matmuls
and convolutions at 2 FLOPs per multiply-add, the backward ones included (the counted
``convolution_backward`` covers only the gradients actually computed: none for the input of
the first layers). Norms, activations and the optimizer's elementwise updates are not
counted; they are far below 1% of the total. Achieved FLOP/s = counted FLOPs / step time.
Reference: ``torch.matmul`` of two square ``--matmul-size`` matrices timed in the same process
and thread count just before and just after the steps (the better rate), float32 on CPU; on
CUDA in bf16 when the config has ``amp`` (the step then runs under bf16 autocast, as in the
trainer). ``--device cuda`` runs all of this on a GPU: batches are copied to the device before
timing and every clock read follows ``torch.cuda.synchronize()``; pass ``--paper-batch 30``.

(c) GPU sizing: an H100 at ``--peak-tflops`` (989: NVIDIA's dense bf16 figure for the H100 SXM,
without sparsity) and model FLOP utilisation ``--mfu`` consumes
``peak * mfu / (paper FLOPs per sample)`` samples/s; divided by the one-worker loader rate this
is the number of CPU cores that keep one H100 busy with the current dump format (from the page
cache: see ``bench.data_pipeline`` for the disk side).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.profiler import record_function
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from bench import _tiny
from xmodal.config import load_config
from xmodal.data.dump import DumpConfig
from xmodal.data.features import FEATS_PER_VIDEO_FRAME
from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset
from xmodal.methods.cross_modal import METHOD, CrossModalConfig
from xmodal.train.method import TrainingData

ROOT = Path(__file__).resolve().parent.parent
CONF_DIRS = {"mini": ROOT / "egs/mini_voxceleb/v1/conf", "paper": ROOT / "egs/voxceleb/v1/conf"}


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read after it measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainStep:
    """One step of ``xmodal.train.trainer``'s loop for the cross-modal method: network,
    adversaries, their two optimisers."""

    def __init__(self, cfg: CrossModalConfig, device: torch.device):
        torch.manual_seed(cfg.seed)
        self.device = device
        self.network = METHOD.network(cfg, TrainingData(Path("."))).to(device).train()
        self.adversaries = METHOD.auxiliary(cfg)
        if self.adversaries is not None:
            self.adversaries = self.adversaries.to(device)
        self.optimizer = cfg.optim.make(self.network.parameters(), cfg.optim.lr)
        self.adv_optimizer = (cfg.optim.make(self.adversaries.parameters(),
                                             cfg.optim.adversary_lr, 0.0)
                              if self.adversaries is not None else None)
        self.amp = cfg.amp and device.type == "cuda"

    def __call__(self, feats: torch.Tensor, faces: torch.Tensor, step: int) -> None:
        gen = torch.Generator()
        gen.manual_seed(step)
        autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp
                    else contextlib.nullcontext())
        # The phases are marked for bench.train_profile (no cost without a profiler).
        with autocast, record_function("forward+losses"):
            terms, out = self.network((feats, faces), gen)
            loss = terms["loss"]
            if self.adversaries is not None:
                loss = loss + self.adversaries.model_terms(out, gen)["confusion_loss"]
                adv_loss = self.adversaries.own_terms(out, gen)["adversary_loss"]
        with record_function("backward"):
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("optimiser"):
            self.optimizer.step()
        if self.adversaries is not None:
            with record_function("backward"):
                self.adv_optimizer.zero_grad(set_to_none=True)
                adv_loss.backward()
            with record_function("optimiser"):
                self.adv_optimizer.step()


def step_flops(step: TrainStep, feats: torch.Tensor, faces: torch.Tensor) -> int:
    """FLOPs of one training step on this batch (matmuls and convolutions, fwd + bwd)."""
    with FlopCounterMode(display=False) as counter:
        step(feats, faces, 0)
    return counter.get_total_flops()


def flops_per_sample(cfg: CrossModalConfig, batch: int = 2) -> float:
    """Step FLOPs per sample of ``cfg``, counted on the meta device (shapes only: instant)."""
    meta = torch.device("meta")
    with meta:
        step = TrainStep(cfg, meta)
    n, size = cfg.data.n_frames, cfg.model.face_size
    feats = torch.empty(batch, FEATS_PER_VIDEO_FRAME * n, cfg.model.n_mels, device=meta)
    faces = torch.empty(batch, n, size, size, cfg.model.face_channels, dtype=torch.uint8,
                        device=meta)
    return step_flops(step, feats, faces) / batch


def step_rate(step: TrainStep, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Samples/s of the best step over ``batches`` (already on the device; the first warms up)."""
    best = float("inf")
    for index, (feats, faces) in enumerate(batches):
        sync(step.device)
        start = time.perf_counter()
        step(feats, faces, index)
        sync(step.device)
        if index:
            best = min(best, time.perf_counter() - start)
    return len(batches[0][0]) / best


def matmul_flops_per_s(size: int, dtype: torch.dtype, device: torch.device,
                       repeats: int = 5) -> float:
    """Dense matmul FLOP/s (best of ``repeats``) of two ``size`` x ``size`` matrices."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def loader_rate(dataset: TrackWindowDataset, n_frames: int, batch_size: int, num_workers: int,
                batches: int, pin_memory: bool) -> float:
    """Samples/s the training DataLoader delivers, after its first ``num_workers`` batches."""
    skip = max(1, num_workers)
    batches = max(batches, 3 * skip)
    sampler = TrackBatchSampler(dataset.num_frames, n_frames, batch_size, batches, seed=0)
    # As xmodal.train.trainer builds it.
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                        persistent_workers=False, pin_memory=pin_memory)
    stamps = [time.perf_counter() for _ in loader]
    return batch_size * (batches - skip) / (stamps[-1] - stamps[skip - 1])


def load_batches(dataset: TrackWindowDataset, n_frames: int, batch_size: int, count: int,
                 device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` training batches read in this process and moved to ``device``."""
    sampler = TrackBatchSampler(dataset.num_frames, n_frames, batch_size, count, seed=1)
    return [(feats.to(device), faces.to(device))
            for feats, faces in DataLoader(dataset, batch_sampler=sampler, num_workers=0)]


def open_dump(dump_dir: Path, cfg: CrossModalConfig) -> TrackWindowDataset:
    """The training dataset of ``dump_dir``, checked against the config's face geometry."""
    if not (dump_dir / "faces.scp").is_file():
        raise SystemExit(f"{dump_dir}: no faces.scp; not a dump dir of a set with video")
    _tiny.enter_scp_root(dump_dir / "faces.scp")
    dataset = TrackWindowDataset(dump_dir, cfg.data.n_frames)
    shape = tuple(dataset[(0, 0)][1].shape[1:])
    expected = (cfg.model.face_size, cfg.model.face_size, cfg.model.face_channels)
    if shape != expected:
        raise SystemExit(f"{dump_dir}: faces are {shape}, the config needs {expected}")
    if len(dataset) < cfg.data.batch_size:
        raise SystemExit(f"{dump_dir}: {len(dataset)} tracks, a batch needs "
                         f"{cfg.data.batch_size} distinct ones")
    return dataset


def measure(name: str, cfg: CrossModalConfig, dump_dir: Path, step_batch: int, args,
            device: torch.device) -> dict[str, float]:
    """Loader and step rates, FLOPs and the matmul reference of one config; prints them."""
    cwd = os.getcwd()
    try:
        dataset = open_dump(dump_dir, cfg)
        data = cfg.data
        pin = device.type == "cuda"
        loader = loader_rate(dataset, data.n_frames, data.batch_size, data.num_workers,
                             args.loader_batches, pin)
        per_core = loader_rate(dataset, data.n_frames, data.batch_size, 1,
                               args.loader_batches, pin)
        batches = load_batches(dataset, data.n_frames, step_batch, args.steps + 1, device)
    finally:
        os.chdir(cwd)
    step = TrainStep(cfg, device)
    matmul_dtype = torch.bfloat16 if step.amp else torch.float32
    # The reference just before and just after the steps, the better of the two: a burst of
    # other load on a shared machine then cannot make it look slower than the steps.
    matmul = matmul_flops_per_s(args.matmul_size, matmul_dtype, device)
    flops = step_flops(step, *batches[0])
    rate = step_rate(step, batches)
    matmul = max(matmul, matmul_flops_per_s(args.matmul_size, matmul_dtype, device))
    per_sample = flops / step_batch
    achieved = per_sample * rate
    print(f"{name}: faces {cfg.model.face_size} px ({dataset.face_format} dump), "
          f"N={data.n_frames}, loss {args.loss}, {len(dataset)} tracks in {dump_dir}")
    print(f"  loader: {loader:.1f} samples/s (B={data.batch_size}, num_workers="
          f"{data.num_workers}); {per_core:.1f} samples/s with 1 worker (one core)")
    print(f"  step:   {rate:.2f} samples/s (B={step_batch}, best of {args.steps} steps, "
          f"{step_batch / rate:.3f} s/step)")
    print(f"  ratio loader / step: {loader / rate:.1f}x (target >= 2x)")
    print(f"  FLOPs:  {per_sample / 1e9:.1f} GFLOP per sample (fwd+bwd); achieved "
          f"{achieved / 1e9:.1f} GFLOP/s vs matmul {matmul / 1e9:.1f} GFLOP/s "
          f"({str(matmul_dtype).removeprefix('torch.')} {args.matmul_size}^2) = "
          f"{achieved / matmul:.0%} of measured dense matmul")
    return {"loader": loader, "per_core": per_core, "step": rate, "flops": per_sample,
            "face_format": dataset.face_format}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mini-dump", type=Path, help="dump dir with 32 px faces "
                        "(default: build one)")
    parser.add_argument("--paper-dump", type=Path, help="dump dir with 224 px faces "
                        "(default: build one)")
    parser.add_argument("--loss", default="id_content_dis",
                        help="config ssl_<loss>.yaml (content, identity, id_content, "
                             "id_content_dis)")
    parser.add_argument("--paper-batch", type=int, default=2,
                        help="batch of the paper config's timed steps")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per config")
    parser.add_argument("--loader-batches", type=int, default=24)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--matmul-size", type=int, default=0,
                        help="matmul reference size (0: 2048 on CPU, 8192 on CUDA)")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="GPU dense bf16 peak for the sizing (H100 SXM: 989)")
    parser.add_argument("--mfu", type=float, default=0.4, help="assumed model FLOP utilisation")
    args = parser.parse_args()
    # The paper config's 8 workers on a small machine are measured as configured, not warned of.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    args.matmul_size = args.matmul_size or (8192 if device.type == "cuda" else 2048)
    configs = {name: load_config(conf / f"ssl_{args.loss}.yaml", CrossModalConfig)
               for name, conf in CONF_DIRS.items()}
    dump_configs = {name: load_config(conf / "dump.yaml", DumpConfig)
                    for name, conf in CONF_DIRS.items()}
    dumps = {"mini": args.mini_dump, "paper": args.paper_dump}
    dumps = {name: path.resolve() if path else None for name, path in dumps.items()}
    print(f"device {device}, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="train_speed.") as tmp:
        if None in dumps.values():
            start = time.perf_counter()
            data_dir = _tiny.make_data_dir(Path(tmp))
            for name, path in dumps.items():
                if path is None:
                    dumps[name] = _tiny.dump(data_dir, Path(tmp) / "dump" / name,
                                             configs[name].model.face_size,
                                             dump_configs[name].face_format,
                                             dump_configs[name].jpeg_quality)
            print(f"built a synthetic corpus and its dumps in {time.perf_counter() - start:.0f} s")
        results = {
            "mini": measure("mini", configs["mini"], dumps["mini"],
                            configs["mini"].data.batch_size, args, device),
            "paper": measure("paper", configs["paper"], dumps["paper"], args.paper_batch, args,
                             device)}
    paper = results["paper"]
    gpu_rate = args.peak_tflops * 1e12 * args.mfu / paper["flops"]
    print(f"GPU sizing (paper config): {paper['flops'] / 1e9:.1f} GFLOP per sample; "
          f"{args.peak_tflops:g} TFLOP/s dense bf16 x {args.mfu:.0%} MFU -> "
          f"{gpu_rate:.0f} samples/s per GPU")
    print(f"  data pipeline per core (1 worker, 224 px {paper['face_format']} dump): "
          f"{paper['per_core']:.1f} samples/s -> {gpu_rate / paper['per_core']:.0f} cores keep "
          f"one GPU busy")


if __name__ == "__main__":
    main()
