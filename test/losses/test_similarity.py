"""Similarity logits and the shared matching loss."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from xmodal.losses.similarity import Similarity, matching_loss


def test_cosine_starts_at_official_scale_and_bias():
    sim = Similarity("cosine")
    assert sim.scale.item() == 10.0 and sim.bias.item() == -5.0
    x, y = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    logits = sim.logits(x, y)
    assert logits.shape == (2, 3, 4)
    expected = 10 * F.cosine_similarity(x[1, 2], y[1, 0], dim=0) - 5
    assert torch.allclose(logits[1, 2, 0], expected, atol=1e-5)
    assert torch.allclose(sim.logits(x, x).diagonal(dim1=-2, dim2=-1), torch.full((2, 3), 5.0))


def test_euclidean_is_negative_distance_without_parameters():
    sim = Similarity("euclidean")
    assert list(sim.parameters()) == []
    x = torch.randn(5, 8, requires_grad=True)
    y = torch.cat([x.detach()[:2], torch.randn(3, 8)])  # two exact matches: distance 0
    logits = sim.logits(x, y)
    assert torch.allclose(logits[3, 4], -(x[3] - y[4]).norm(), atol=1e-5)
    assert logits[0, 0].item() == 0.0
    logits.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown similarity 'dot'"):
        Similarity("dot")


def test_matching_loss_targets_the_diagonal():
    loss, acc = matching_loss(torch.eye(6) * 50)
    assert loss.item() < 1e-6 and acc.item() == 1.0
    loss, acc = matching_loss(torch.zeros(3, 7, 7))
    assert loss.item() == pytest.approx(math.log(7))
    # Every row prefers the next column: all wrong.
    _, acc = matching_loss(torch.roll(torch.eye(5), 1, dims=1))
    assert acc.item() == 0.0
    with pytest.raises(ValueError, match="square"):
        matching_loss(torch.zeros(3, 4))
