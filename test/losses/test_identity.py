"""Identity loss: one random face step against the time-averaged voice."""
from __future__ import annotations

import math

import pytest
import torch

from xmodal.losses.identity import IdentityLoss, pick_random_step


def test_pick_random_step_takes_one_column_per_track_deterministically():
    x = torch.arange(4 * 3 * 6, dtype=torch.float).reshape(4, 3, 6)
    picked = pick_random_step(x, torch.Generator().manual_seed(5))
    again = pick_random_step(x, torch.Generator().manual_seed(5))
    assert torch.equal(picked, again)
    index = torch.randint(6, (4,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(picked, torch.stack([x[b, :, index[b]] for b in range(4)]))
    gen = torch.Generator().manual_seed(0)
    seen = {int(pick_random_step(x, gen)[0, 0].item()) for _ in range(200)}
    assert seen == set(range(6))  # every step can be drawn


def test_matching_identities_give_near_zero_loss():
    gen = torch.Generator().manual_seed(0)
    batch, dim, steps = 8, 64, 10
    identity = torch.randn(batch, dim, 1, generator=gen)
    # Audio varies over time around the identity; its time mean is the identity itself.
    wobble = torch.randn(batch, dim, steps, generator=gen)
    audio = identity + wobble - wobble.mean(dim=-1, keepdim=True)
    visual = identity.expand(batch, dim, steps)
    loss, acc = IdentityLoss("cosine")(visual, audio, torch.Generator().manual_seed(1))
    assert acc.item() == 1.0 and loss.item() < 0.01


def test_swapped_voices_are_all_wrong_and_random_is_chance():
    gen = torch.Generator().manual_seed(0)
    visual = torch.randn(6, 64, 5, generator=gen)
    audio = torch.roll(visual, shifts=1, dims=0)  # track i's voice belongs to face i-1
    _, acc = IdentityLoss("euclidean")(visual, audio, gen)
    assert acc.item() == 0.0
    loss, _ = IdentityLoss("cosine")(torch.randn(30, 1024, 5, generator=gen),
                                     torch.randn(30, 1024, 5, generator=gen), gen)
    assert loss.item() == pytest.approx(math.log(30), abs=0.1)


def test_same_generator_seed_same_loss():
    visual, audio = torch.randn(5, 16, 7), torch.randn(5, 16, 7)
    loss_fn = IdentityLoss()
    first = loss_fn(visual, audio, torch.Generator().manual_seed(3))[0]
    second = loss_fn(visual, audio, torch.Generator().manual_seed(3))[0]
    assert torch.equal(first, second)


def test_every_step_is_the_expectation_of_the_random_step_loss():
    """Scoring every face step averages, exactly, the loss of each step the draw could pick."""
    gen = torch.Generator().manual_seed(0)
    visual, audio = torch.randn(6, 16, 5, generator=gen), torch.randn(6, 16, 5, generator=gen)
    every = IdentityLoss("cosine", face_steps="every")
    loss, acc = every(visual, audio)
    per_step = [IdentityLoss("cosine")(visual[:, :, s:s + 1].expand(-1, -1, 5), audio,
                                       torch.Generator().manual_seed(0)) for s in range(5)]
    assert loss.item() == pytest.approx(sum(l.item() for l, _ in per_step) / 5, rel=1e-6)
    assert acc.item() == pytest.approx(sum(a.item() for _, a in per_step) / 5)
    # Every step gets a gradient; the random step gives one step per track.
    for steps, expected in (("every", 5), ("random", 1)):
        leaf = visual.clone().requires_grad_()
        IdentityLoss("cosine", face_steps=steps)(leaf, audio, torch.Generator().manual_seed(1))[0] \
            .backward()
        assert ((leaf.grad.abs().sum(dim=1) > 0).sum(dim=1) == expected).all()
    with pytest.raises(ValueError, match="face_steps"):
        IdentityLoss("cosine", face_steps="mean")
