"""GlobalBatchNorm: two gloo processes normalise (and backpropagate) as one process does on
the whole batch; checkpoints keep BatchNorm's names."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from xmodal.train.global_batchnorm import GlobalBatchNorm, convert_to_global_batchnorm


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 4, 3), nn.BatchNorm2d(4))


# (spread, offset) of the input: an offset as after a ReLU; and one large against the spread,
# as log-mel energies are, where the variance as E[x^2] - E[x]^2 cancels in float32.
SCALES = [(2.0, 3.0), (0.05, 40.0)]


def batch(spread: float = 2.0, offset: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 9, 9, generator=gen) * spread + offset
    return x, torch.randn(4, 4, 5, 5, generator=gen)


def _rank(rank: int, port: int, out_dir: str, spread: float, offset: float) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    net = convert_to_global_batchnorm(make_net())
    x, target = batch(spread, offset)
    x = x[2 * rank:2 * rank + 2].requires_grad_()
    y = net(x)
    (y * target[2 * rank:2 * rank + 2]).sum().backward()
    torch.save({"y": y.detach(), "dx": x.grad, "dw": net[0].weight.grad,
                "running_var": net[4].running_var}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.parametrize("spread,offset", SCALES)
def test_two_processes_normalise_like_one_process_on_the_whole_batch(tmp_path, spread, offset):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path), spread, offset), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    two = {"y": torch.cat([r["y"] for r in ranks]), "dx": torch.cat([r["dx"] for r in ranks]),
           # Each rank's weight gradient is its share; DDP would sum (and average) them.
           "dw": ranks[0]["dw"] + ranks[1]["dw"]}
    one, exact = (one_process(spread, offset, dtype) for dtype in (torch.float32, torch.float64))
    # Two processes are as close to the float64 answer as one float32 process is (the
    # convolutions' own rounding grows with the offset too).
    for key in two:
        error_two = float((two[key].double() - exact[key]).abs().max())
        error_one = float((one[key].double() - exact[key]).abs().max())
        assert error_two <= 2 * error_one + 1e-6, (key, error_two, error_one)
    torch.testing.assert_close(ranks[0]["running_var"], one["running_var"])


def one_process(spread: float, offset: float, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Output, gradients and running variance of BatchNorm in one process on the whole batch."""
    net = make_net().to(dtype)
    x, target = batch(spread, offset)
    x = x.to(dtype).requires_grad_()
    y = net(x)
    (y * target.to(dtype)).sum().backward()
    return {"y": y.detach(), "dx": x.grad, "dw": net[0].weight.grad,
            "running_var": net[4].running_var.float()}


def test_conversion_keeps_parameters_buffers_and_names():
    plain = make_net()
    converted = convert_to_global_batchnorm(make_net())
    assert isinstance(converted[1], GlobalBatchNorm) and isinstance(converted[4], GlobalBatchNorm)
    assert plain.state_dict().keys() == converted.state_dict().keys()
    for key, value in plain.state_dict().items():
        assert torch.equal(value, converted.state_dict()[key]), key
    # Without a process group it is BatchNorm, in training and evaluation.
    x, _ = batch()
    for mode in (True, False):
        plain.train(mode), converted.train(mode)
        assert torch.equal(plain(x), converted(x))
