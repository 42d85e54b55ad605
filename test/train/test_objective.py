"""Which embedding feeds which loss, and where each loss' gradient goes (DESIGN §4).

Content loss: content heads and trunks only. Identity loss: identity heads and trunks only.
Confusion: the sync adversary reads the identity embeddings, the identity adversary the content
embeddings; their own loss trains only them, the model's loss does not train them, and
``alpha`` scales the confusion term.
"""
from __future__ import annotations

import pytest
import torch

from xmodal.methods.cross_modal import Adversaries, CrossModalObjective, LossConfig
from xmodal.models.two_stream import ModelConfig, TwoStreamModel

DIM, BATCH, FRAMES = 16, 4, 12
TINY = ModelConfig(width=0.125, face_size=32, face_channels=3, n_mels=40, embed_dim=DIM,
                   head_hidden=DIM, trunk_dim=DIM)
PARTS = ("audio_trunk", "visual_trunk", "audio_content", "visual_content", "audio_identity",
         "visual_identity")
ALL_LOSSES = LossConfig(content=True, identity=True, disentangle=True, adversary_dim=8)


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(BATCH, 4 * FRAMES, 40, generator=gen)
    faces = torch.randint(0, 256, (BATCH, FRAMES, 32, 32, 3), generator=gen, dtype=torch.uint8)
    return feats, faces


def reached(model: TwoStreamModel) -> set[str]:
    """The parts of the model whose parameters received a non-zero gradient."""
    return {part for part in PARTS
            if any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in getattr(model, part).parameters())}


@pytest.mark.parametrize("term, parts", [
    ("content_loss", {"audio_trunk", "visual_trunk", "audio_content", "visual_content"}),
    ("identity_loss", {"audio_trunk", "visual_trunk", "audio_identity", "visual_identity"}),
])
def test_each_loss_trains_its_own_heads_and_the_trunks(term, parts):
    torch.manual_seed(0)
    model = TwoStreamModel(TINY).train()
    objective = CrossModalObjective(ALL_LOSSES)
    terms = objective(model(*batch()), torch.Generator().manual_seed(0))
    terms[term].backward()
    assert reached(model) == parts


def embeddings(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Stand-in model outputs: four independent leaf embeddings ``(B, D, S)``."""
    gen = torch.Generator().manual_seed(seed)
    return {stream: {head: torch.randn(BATCH, DIM, FRAMES - 4, generator=gen).requires_grad_()
                     for head in ("content", "identity")} for stream in ("audio", "visual")}


def fed(out: dict[str, dict[str, torch.Tensor]]) -> set[str]:
    return {f"{stream}_{head}" for stream, heads in out.items() for head, x in heads.items()
            if x.grad is not None and x.grad.abs().sum() > 0}


@pytest.mark.parametrize("silenced, parts", [
    # With one adversary's projections zeroed (its logits constant, no gradient through it),
    # the confusion gradient that is left comes from the other one.
    ("identity_from_content", {"audio_identity", "visual_identity"}),
    ("sync_from_identity", {"audio_content", "visual_content"}),
])
def test_each_adversary_reads_the_other_factor_s_embedding(silenced, parts):
    torch.manual_seed(0)
    adversaries = Adversaries(ALL_LOSSES, DIM)
    with torch.no_grad():
        for p in getattr(adversaries, silenced).parameters():
            p.zero_()
    out = embeddings()
    adversaries.model_terms(out, torch.Generator().manual_seed(0))["confusion_loss"].backward()
    assert fed(out) == parts


def test_the_model_loss_does_not_train_the_adversaries_nor_their_loss_the_model():
    torch.manual_seed(0)
    model = TwoStreamModel(TINY).train()
    objective = CrossModalObjective(ALL_LOSSES)
    adversaries = Adversaries(ALL_LOSSES, DIM)
    out = model(*batch())
    gen = torch.Generator().manual_seed(0)
    model_loss = objective(out, gen)["loss"] + adversaries.model_terms(out, gen)["confusion_loss"]
    adversary_loss = adversaries.own_terms(out, gen)["adversary_loss"]
    model_loss.backward(retain_graph=True)
    assert reached(model) == set(PARTS)
    assert all(p.grad is None for p in adversaries.parameters())
    model.zero_grad(set_to_none=True)
    adversary_loss.backward()
    assert reached(model) == set()
    assert all(p.grad is not None for p in adversaries.parameters())
    # The similarity's bias shifts every candidate's logit alike, and a softmax is blind to
    # that: its true gradient is 0 (float noise of 1e-8, or exactly 0 on one thread). Every
    # other adversary parameter must be trained.
    assert all(p.grad.abs().sum() > 0 for name, p in adversaries.named_parameters()
               if not name.endswith("similarity.bias"))


def test_alpha_scales_the_confusion_term_and_nothing_else():
    out = embeddings()
    results = {}
    for alpha in (1.0, 2.5):
        torch.manual_seed(0)  # the same adversary weights for both
        cfg = LossConfig(content=True, identity=True, disentangle=True, alpha=alpha,
                         adversary_dim=8)
        adversaries = Adversaries(cfg, DIM)
        gen = torch.Generator().manual_seed(0)
        results[alpha] = (adversaries.model_terms(out, gen)["confusion_loss"].item(),
                          adversaries.own_terms(out, torch.Generator().manual_seed(0))["adversary_loss"]
                          .item())
    assert results[2.5][0] == pytest.approx(2.5 * results[1.0][0], rel=1e-6)
    assert results[2.5][0] > 0
    assert results[2.5][1] == pytest.approx(results[1.0][1], rel=1e-6)
