"""Content (sync) loss."""
from __future__ import annotations

import math

import pytest
import torch

from xmodal.losses.sync import SyncLoss


def embeddings(batch=30, dim=1024, steps=26, seed=0):
    return torch.randn(batch, dim, steps, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_synchronised_embeddings_give_near_zero_loss(kind):
    visual = embeddings()
    loss, acc = SyncLoss(kind)(visual, visual.clone())
    assert loss.item() < 0.01
    assert acc.item() == 1.0


def test_random_embeddings_give_log_steps():
    loss, acc = SyncLoss("cosine")(embeddings(seed=1), embeddings(seed=2))
    assert loss.item() == pytest.approx(math.log(26), abs=0.1)
    assert acc.item() < 0.15


def test_one_step_offset_is_wrong_everywhere():
    # audio step j carries visual step j+1: matching j with j would be a sync error.
    visual = embeddings(batch=4, dim=64)
    audio = torch.roll(visual, shifts=-1, dims=2)
    loss, acc = SyncLoss("cosine")(visual, audio)
    assert acc.item() == 0.0 and loss.item() > 5


def test_gradients_reach_both_streams_and_similarity():
    loss_fn = SyncLoss("cosine")
    visual = embeddings(batch=2, dim=16, steps=6).requires_grad_()
    audio = embeddings(batch=2, dim=16, steps=6, seed=3).requires_grad_()
    loss_fn(visual, audio)[0].backward()
    assert visual.grad.abs().sum() > 0 and audio.grad.abs().sum() > 0
    assert loss_fn.similarity.scale.grad is not None and loss_fn.similarity.bias.grad is not None


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="differ"):
        SyncLoss()(torch.zeros(2, 8, 5), torch.zeros(2, 8, 6))
