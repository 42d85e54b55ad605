"""N-pair loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xmodal.losses.npair import NPairLoss


def test_matches_cross_entropy_over_dot_products():
    anchors, positives = torch.randn(6, 8), torch.randn(6, 8)
    loss, _ = NPairLoss()(anchors, positives)
    expected = F.cross_entropy(anchors @ positives.T, torch.arange(6))
    assert torch.allclose(loss, expected)


def test_well_separated_pairs_give_near_zero_loss():
    anchors = torch.eye(5) * 10
    loss, acc = NPairLoss()(anchors, anchors.clone())
    assert loss.item() < 1e-6 and acc.item() == 1.0


def test_l2_regulariser_adds_mean_squared_norms():
    anchors, positives = torch.randn(4, 3), torch.randn(4, 3)
    plain, _ = NPairLoss()(anchors, positives)
    regularised, _ = NPairLoss(l2_reg=0.01)(anchors, positives)
    norms = (anchors.pow(2).sum(1) + positives.pow(2).sum(1)).mean()
    assert torch.allclose(regularised - plain, 0.01 * norms)


def test_repeated_classes_and_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="labels repeat"):
        NPairLoss()(torch.randn(3, 4), torch.randn(3, 4), labels=torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="must both be"):
        NPairLoss()(torch.randn(3, 4), torch.randn(2, 4))
