"""GlobalBatchNorm: two gloo processes normalise (and backpropagate) as one process does on
the whole batch; checkpoints keep BatchNorm's names."""
from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from xmodal.train.global_batchnorm import GlobalBatchNorm, convert_to_global_batchnorm


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 4, 3), nn.BatchNorm2d(4))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 9, 9, generator=gen) * 2 + 3   # an offset, as after a ReLU
    return x, torch.randn(4, 4, 5, 5, generator=gen)


def _rank(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    net = convert_to_global_batchnorm(make_net())
    x, target = batch()
    x = x[2 * rank:2 * rank + 2].requires_grad_()
    y = net(x)
    (y * target[2 * rank:2 * rank + 2]).sum().backward()
    torch.save({"y": y.detach(), "dx": x.grad, "dw": net[0].weight.grad,
                "running_var": net[4].running_var}, f"{out_dir}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_normalise_like_one_process_on_the_whole_batch(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    net = make_net()
    x, target = batch()
    x.requires_grad_()
    y = net(x)
    (y * target).sum().backward()
    torch.testing.assert_close(torch.cat([r["y"] for r in ranks]), y.detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat([r["dx"] for r in ranks]), x.grad, atol=1e-5, rtol=1e-4)
    # Each rank's weight gradient is its share; DDP would sum (and average) them.
    torch.testing.assert_close(ranks[0]["dw"] + ranks[1]["dw"], net[0].weight.grad,
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ranks[0]["running_var"], net[4].running_var)


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
