"""Batch normalisation over the global batch when a step is shared by several processes.

With the global batch split across ranks (``TrackBatchSampler``), plain BatchNorm would
normalise each rank's slice by its own statistics, and the result would depend on the number
of processes. ``torch.nn.SyncBatchNorm`` fixes that on GPUs only; this module does the same on
any device and backend (gloo included), so a CPU test can check that two processes compute
what one does.

Each rank's per-channel mean, variance and count are all-gathered with a differentiable
all-gather and combined exactly (the parallel form of Welford's update, as SyncBatchNorm
does), so the gradient flows through the global statistics as it would in one process. Not
sum and sum of squares: E[x^2] - E[x]^2 cancels catastrophically in float32 when a channel's
mean is large against its spread (log-mel energies are), and moved whole training runs. Parameter and buffer names are those of BatchNorm: checkpoints load into plain models.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm{1,2,3}d whose training statistics are those of the batch over all ranks."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x (N, C, ...)``; over every rank's N in training, as BatchNorm otherwise."""
        distributed = (self.training and dist.is_available() and dist.is_initialized()
                       and dist.get_world_size() > 1)
        if not distributed:
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        # Statistics in float32 even under mixed precision, as BatchNorm keeps them.
        xf = x.float()
        local_var, local_mean = torch.var_mean(xf, dim=dims, correction=0)
        count = torch.tensor([x.numel() / channels], dtype=torch.float32, device=x.device)
        ranks = torch.stack(dist_fn.all_gather(torch.cat([local_mean, local_var, count])))
        counts = ranks[:, -1:]
        n = counts.sum()
        means, variances = ranks[:, :channels], ranks[:, channels:2 * channels]
        mean = (counts * means).sum(0) / n
        var = (counts * (variances + (means - mean) ** 2)).sum(0) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                self.running_mean.lerp_(mean.detach(), momentum)
                # Running variance is unbiased, as in BatchNorm.
                self.running_var.lerp_(var.detach() * n / (n - 1), momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_to_global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer of ``module`` (in place) by a ``GlobalBatchNorm`` that
    shares its parameters and buffers; returns ``module`` (or the new layer if it is one)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_to_global_batchnorm(child))
    return module

