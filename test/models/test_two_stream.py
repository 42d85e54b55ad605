"""The assembled two-stream model: outputs, input handling, embeddings, parameter count."""
from __future__ import annotations

import pytest
import torch

from xmodal.models.two_stream import ModelConfig, TwoStreamModel, count_parameters

SMALL = ModelConfig(width=0.125, face_size=32, face_channels=1, n_mels=24, embed_dim=16,
                    head_hidden=12, trunk_dim=20)


def small_batch(batch=3, frames=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, 4 * frames, SMALL.n_mels, generator=gen)
    faces = torch.randint(0, 256, (batch, frames, 32, 32, 1), dtype=torch.uint8, generator=gen)
    return feats, faces


def test_paper_config_size():
    model = TwoStreamModel()
    # Trunks (see test_trunks) + 4 heads of 512*512+512 + 2*512 + 512*1024+1024 = 788,992.
    assert count_parameters(model.audio_content) == 788_992
    assert count_parameters(model) == 3_506_624 + 7_177_920 + 4 * 788_992


def test_forward_gives_four_embeddings_per_step():
    torch.manual_seed(0)
    model = TwoStreamModel(SMALL)
    feats, faces = small_batch()
    out = model(feats, faces)
    for stream in ("audio", "visual"):
        for kind in ("identity", "content"):
            assert out[stream][kind].shape == (3, 16, 4)
    # Training mode: every parameter takes part in the outputs.
    sum(t.sum() for s in out.values() for t in s.values()).backward()
    assert all(p.grad is not None for p in model.parameters())


@torch.no_grad()
def test_uint8_faces_are_scaled_and_float_faces_used_as_given():
    torch.manual_seed(0)
    model = TwoStreamModel(SMALL).eval()
    _, faces = small_batch()
    from_uint8 = model.forward_visual(faces)["content"]
    from_float = model.forward_visual(faces.float() / 255 - 0.5)["content"]
    assert torch.allclose(from_uint8, from_float, atol=1e-6)
    assert not torch.allclose(from_uint8, model.forward_visual(faces.float())["content"])


@torch.no_grad()
def test_rgb_faces():
    model = TwoStreamModel(ModelConfig(width=0.125, face_size=32, n_mels=24, embed_dim=16,
                                       head_hidden=12, trunk_dim=20)).eval()
    faces = torch.randint(0, 256, (2, 6, 32, 32, 3), dtype=torch.uint8)
    assert model.forward_visual(faces)["identity"].shape == (2, 16, 2)


@torch.no_grad()
def test_embed_utterance_averages_identity_over_any_length():
    """Known answer: with the last layer of each audio head zeroed but for its bias, every
    step of the identity head is exactly that bias, so the utterance embedding (the mean over
    time, of the identity head, whatever the length) is the bias too; the content head's
    differs, and a sum over steps would scale it."""
    torch.manual_seed(0)
    model = TwoStreamModel(SMALL).eval()
    biases = {}
    for name in ("audio_identity", "audio_content"):
        last = getattr(model, name).layers[3]
        last.weight.zero_()
        biases[name] = torch.randn(16)
        last.bias.copy_(biases[name])
    for frames in (40, 123):
        feats = torch.randn(1, frames, SMALL.n_mels)
        emb = model.embed_utterance(feats)
        assert emb.shape == (16,)
        assert torch.allclose(emb, biases["audio_identity"], atol=1e-6)
        assert model.forward_audio(feats)["identity"].shape[-1] == -(-frames // 4) - 4
    with pytest.raises(ValueError, match="one utterance"):
        model.embed_utterance(torch.randn(2, 40, SMALL.n_mels))


def test_faces_without_channel_axis_are_rejected():
    with pytest.raises(ValueError, match=r"\(B, N, H, W, C\)"):
        TwoStreamModel(SMALL).forward_visual(torch.zeros(1, 6, 32, 32, dtype=torch.uint8))
