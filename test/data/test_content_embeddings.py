"""Content embeddings as a content input: each feature frame takes the trunk step centred
nearest to it (checked against the real trunk's receptive fields), and bad files are named."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch
from torch import nn

from xmodal.data.content_embeddings import ContentEmbeddings, expand_to_frames, frame_steps
from xmodal.data.datadir import DataDirError
from xmodal.models.audio_trunk import AudioTrunk


def test_frame_steps_known_answers():
    # Step j is centred on frame 4j + 8; frames before the first centre take step 0.
    assert frame_steps(24, 3).tolist() == [0] * 10 + [1] * 4 + [2] * 10
    assert frame_steps(5, 1).tolist() == [0] * 5
    with pytest.raises(ValueError, match="at least one step"):
        frame_steps(5, 0)


def linear_trunk() -> AudioTrunk:
    """The real trunk's geometry with every frame of a step's receptive field reaching it:
    no per-utterance normalisation (it mixes all frames), no ReLU, average for max pooling."""
    torch.manual_seed(0)
    trunk = AudioTrunk(n_mels=40, width=0.125, out_dim=8).eval()
    trunk.norm = nn.Identity()
    for i, layer in enumerate(trunk.layers):
        if isinstance(layer, nn.ReLU):
            trunk.layers[i] = nn.Identity()
        elif isinstance(layer, nn.MaxPool2d):
            trunk.layers[i] = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
    return trunk


def test_each_frame_takes_the_step_whose_receptive_field_it_is_central_to():
    """Perturb one input frame: the steps that change are those whose receptive field holds
    the frame, and the step chosen for it is their middle (half a step either way)."""
    trunk = linear_trunk()
    x = torch.randn(1, 96, 40)
    base = trunk(x)[0]
    n_steps = base.shape[-1]
    assert n_steps == 96 // 4 - 4
    chosen = frame_steps(96, n_steps)
    for t in range(30, 66):
        y = x.clone()
        y[0, t] += 5.0
        changed = ((trunk(y)[0] - base).abs().amax(dim=0) > 1e-6).nonzero().flatten()
        assert 6 <= len(changed) <= 10, t  # a receptive field of 37 frames, 4 apart
        assert abs(chosen[t] - (changed.min() + changed.max()).item() / 2) <= 0.5, t


def test_expand_to_frames():
    steps = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = expand_to_frames(steps, 24)
    assert out.shape == (24, 2) and out.dtype == np.float32
    assert out[0].tolist() == [0, 1] and out[12].tolist() == [2, 3] and out[-1].tolist() == [4, 5]
    assert expand_to_frames(np.zeros((0, 2)), 7).tolist() == [[0, 0]] * 7


def test_bad_files_are_named(tmp_path):
    with pytest.raises(DataDirError, match="content_emb.scp: file not found"):
        ContentEmbeddings(tmp_path / "content_emb.scp")
    scp = tmp_path / "content_emb.scp"
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/e.ark,{scp}") as w:
        w("a", np.zeros((3, 4), np.float32))
        w("b", np.zeros((3, 5), np.float32))
    emb = ContentEmbeddings(scp)
    assert emb.width == 4 and list(emb) == ["a", "b"]
    with pytest.raises(DataDirError, match=r"content_emb.scp: utterance 'b': expected a "
                                           r"\(steps, 4\) matrix, got shape \(3, 5\)"):
        emb["b"]
