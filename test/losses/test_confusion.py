"""Confusion (disentanglement) adversaries: uniform target, where gradients go, leakage."""
from __future__ import annotations

import math

import pytest
import torch

from xmodal.losses.confusion import IdentityAdversary, SyncAdversary

BATCH, DIM, STEPS = 6, 16, 8


def features(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(BATCH, DIM, STEPS, generator=gen, requires_grad=True),
            torch.randn(BATCH, DIM, STEPS, generator=gen, requires_grad=True))


@pytest.mark.parametrize("adversary_cls, classes", [(SyncAdversary, STEPS),
                                                     (IdentityAdversary, BATCH)])
def test_uniform_adversary_output_gives_log_k(adversary_cls, classes):
    adversary = adversary_cls(DIM, adv_dim=8)
    with torch.no_grad():
        adversary.similarity.scale.zero_()  # every candidate gets the same logit
    loss, _ = adversary.confusion_loss(*features(), generator=torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(math.log(classes), abs=1e-6)


@pytest.mark.parametrize("adversary_cls", [SyncAdversary, IdentityAdversary])
def test_confusion_gradients_reach_features_not_adversary(adversary_cls):
    adversary = adversary_cls(DIM, adv_dim=8)
    visual, audio = features()
    loss, _ = adversary.confusion_loss(visual, audio, torch.Generator().manual_seed(0))
    loss.backward()
    assert visual.grad.abs().sum() > 0 and audio.grad.abs().sum() > 0
    assert all(p.grad is None for p in adversary.parameters())


@pytest.mark.parametrize("adversary_cls", [SyncAdversary, IdentityAdversary])
@pytest.mark.parametrize("scale, expected", [(10.0, 1.0), (-10.0, 0.0)])
def test_reported_accuracy_is_the_adversarys(adversary_cls, scale, expected):
    """Each track's visual and audio features are one constant vector, projected by identity
    maps: an adversary with a positive similarity scale finds every match (accuracy 1), one
    with a negative scale none (0), and ``confusion_loss`` reports exactly that."""
    adversary = adversary_cls(DIM, adv_dim=DIM)
    vectors = torch.randn(BATCH, DIM, 1, generator=torch.Generator().manual_seed(1))
    # Every step of a track differs (sync has a right answer) but points the same way for
    # the identity task's time average: step t is vector + t * (one direction per step).
    steps = torch.eye(DIM)[:, :STEPS].unsqueeze(0) * 3.0
    feats = vectors + steps
    with torch.no_grad():
        for linear in (adversary.project_visual, adversary.project_audio):
            linear.weight.copy_(torch.eye(DIM))
            linear.bias.zero_()
        adversary.similarity.scale.fill_(scale)
    _, acc = adversary.confusion_loss(feats, feats.clone(), torch.Generator().manual_seed(0))
    assert acc.item() == expected


@pytest.mark.parametrize("adversary_cls", [SyncAdversary, IdentityAdversary])
def test_adversary_loss_trains_only_the_adversary(adversary_cls):
    adversary = adversary_cls(DIM, adv_dim=8)
    trunk = torch.nn.Linear(DIM, DIM)  # stands in for the network that made the features
    visual, audio = (trunk(x.transpose(1, 2)).transpose(1, 2) for x in features())
    loss, _ = adversary.adversary_loss(visual, audio, torch.Generator().manual_seed(0))
    loss.backward()
    assert all(p.grad is None for p in trunk.parameters())
    assert all(p.grad is not None for p in adversary.parameters())


def test_adversary_detects_leaked_sync_information():
    # Identity embeddings that (wrongly) carry the per-step content: the sync adversary
    # should learn to solve the sync task from them, and its accuracy exposes the leak.
    torch.manual_seed(0)
    content = torch.randn(BATCH, DIM, STEPS)
    # The face side sees the content through some other linear map.
    visual, audio = torch.einsum("ed,bds->bes", torch.randn(DIM, DIM), content), content
    adversary = SyncAdversary(DIM, adv_dim=8)
    optimiser = torch.optim.Adam(adversary.parameters(), lr=0.05)
    first_loss, _ = adversary.adversary_loss(visual, audio)
    for _ in range(60):
        optimiser.zero_grad()
        loss, accuracy = adversary.adversary_loss(visual, audio)
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.5 * first_loss.item()
    assert accuracy.item() > 0.9  # chance is 1 / STEPS


def leaky_adversary(adversary_cls, seed: int = 0):
    """An adversary trained to read its task from features that carry it (non-uniform
    logits, accuracy far above chance), and those features as trainable leaves."""
    torch.manual_seed(seed)
    if adversary_cls is SyncAdversary:  # per-step content in both streams
        signal = torch.randn(BATCH, DIM, STEPS)
    else:  # a per-track identity, constant over steps
        signal = torch.randn(BATCH, DIM, 1).expand(BATCH, DIM, STEPS)
    visual = torch.einsum("ed,bds->bes", torch.randn(DIM, DIM), signal)
    audio = signal + 0.1 * torch.randn(BATCH, DIM, STEPS)
    adversary = adversary_cls(DIM, adv_dim=8)
    optimiser = torch.optim.Adam(adversary.parameters(), lr=0.05)
    for step in range(80):
        optimiser.zero_grad()
        loss, _ = adversary.adversary_loss(visual, audio, torch.Generator().manual_seed(step))
        loss.backward()
        optimiser.step()
    return adversary, visual.clone().requires_grad_(), audio.clone().requires_grad_()


def adversary_view(adversary, visual, audio) -> tuple[float, float]:
    """(mean entropy of the adversary's softmax, its accuracy), over several face-step draws."""
    entropies, accuracies = [], []
    with torch.no_grad():
        for seed in range(8):
            logits = adversary(visual, audio, torch.Generator().manual_seed(seed))
            p = torch.softmax(logits, dim=-1)
            entropies.append(-(p * p.clamp_min(1e-12).log()).sum(dim=-1).mean().item())
            target = torch.arange(logits.shape[-1]).expand(logits.shape[:-1])
            accuracies.append((logits.argmax(dim=-1) == target).float().mean().item())
    return sum(entropies) / len(entropies), sum(accuracies) / len(accuracies)


@pytest.mark.parametrize("adversary_cls, classes", [(SyncAdversary, STEPS),
                                                     (IdentityAdversary, BATCH)])
def test_minimising_confusion_blinds_a_trained_adversary(adversary_cls, classes):
    """Gradient descent on the confusion term moves the embeddings so that the (frozen)
    adversary can no longer tell the candidates apart: its entropy rises towards log K and its
    accuracy falls. A sign error, or the adversary's matching loss in its place, does the
    opposite."""
    adversary, visual, audio = leaky_adversary(adversary_cls)
    before = {n: p.detach().clone() for n, p in adversary.named_parameters()}
    entropy0, accuracy0 = adversary_view(adversary, visual, audio)
    assert accuracy0 > 0.8 and entropy0 < 0.6 * math.log(classes)
    optimiser = torch.optim.SGD([visual, audio], lr=5.0)
    for step in range(100):
        optimiser.zero_grad()
        loss, _ = adversary.confusion_loss(visual, audio, torch.Generator().manual_seed(step))
        loss.backward()
        optimiser.step()
    entropy1, accuracy1 = adversary_view(adversary, visual, audio)
    assert entropy1 > 0.9 * math.log(classes) and entropy1 > entropy0 + 0.3
    assert accuracy1 < accuracy0 - 0.3
    assert all(torch.equal(p, before[n]) for n, p in adversary.named_parameters())
