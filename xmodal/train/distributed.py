"""Process-group set-up for ``torchrun``: the same command line on one CPU, one GPU or many nodes.

``torchrun`` exports RANK, WORLD_SIZE and LOCAL_RANK; without them the run is a single
process. CPUs use the gloo backend, GPUs nccl.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


@dataclass
class DistContext:
    """Where this process runs and which share of the work it does."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def device_ids(self) -> list[int] | None:
        """What DDP wants: the GPU index, or None on CPU."""
        return [self.device.index] if self.device.type == "cuda" else None


def setup(device: str = "auto") -> DistContext:
    """Join the process group if launched by torchrun; pick this process' device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no GPU is visible")
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistContext(rank, world_size, local_rank, dev)


def average_gradients(module: nn.Module, ctx: DistContext) -> None:
    """All-reduce the gradients of a module that is not wrapped in DDP (the adversaries)."""
    if ctx.world_size == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= ctx.world_size


def gather_batch(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` concatenated along dim 0 in rank order, differentiably.

    Identity in a single process. Losses that compare tracks across the batch (identity
    matching) use it to see the global batch; the backward pass sums each rank's gradient
    into the slice that rank owns.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(dist_fn.all_gather(x.contiguous()), dim=0)


def mean_across_ranks(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Per-key mean of each rank's ``values`` (for logging: each rank saw its own slice)."""
    if ctx.world_size == 1 or not values:
        return values
    keys = sorted(values)
    total = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(total)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, total)}


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for one process)."""
    if ctx.world_size > 1:
        dist.barrier()


def teardown(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def parameter_fingerprints(modules: list[nn.Module], ctx: DistContext) -> list[float]:
    """Sum of all parameters, one per rank: under DDP every rank must report the same."""
    with torch.no_grad():
        local = float(sum(p.double().sum() for m in modules for p in m.parameters()))
    if ctx.world_size == 1:
        return [local]
    gathered: list = [None] * ctx.world_size
    dist.all_gather_object(gathered, local)
    return gathered
