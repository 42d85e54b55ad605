"""Audio and visual trunks: exact paper geometry and size, small configs, time alignment."""
from __future__ import annotations

import pytest
import torch

from xmodal.models.audio_trunk import AudioTrunk, audio_output_steps
from xmodal.models.two_stream import count_parameters
from xmodal.models.visual_trunk import VisualTrunk

# Paper audio trunk, conv weights + conv biases + BatchNorm (weight, bias):
#   conv1   1*96*5*7    + 96   + 2*96   =     3,648
#   conv2  96*256*5*5   + 256  + 2*256  =   615,168
#   conv3 256*384*3*3   + 384  + 2*384  =   885,888
#   conv4 384*256*3*3   + 256  + 2*256  =   885,504
#   conv5 256*256*3*3   + 256  + 2*256  =   590,592
#   conv6 256*512*4*1   + 512  + 2*512  =   525,824   (InstanceNorm has no parameters)
PAPER_AUDIO_PARAMS = 3_506_624
# Paper visual trunk:
#   conv1     3*96*5*7*7  + 96  + 2*96   =    70,848
#   conv2    96*256*1*5*5 + 256 + 2*256  =   615,168
#   conv3-5  3 * (256*256*1*3*3 + 256 + 2*256) = 1,771,776
#   conv6   256*512*1*6*6 + 512 + 2*512  = 4,720,128
PAPER_VISUAL_PARAMS = 7_177_920


@torch.no_grad()
def test_paper_audio_trunk_shape_and_size():
    trunk = AudioTrunk().eval()
    assert count_parameters(trunk) == PAPER_AUDIO_PARAMS
    out = trunk(torch.randn(1, 120, 40))  # N = 30 video frames
    assert out.shape == (1, 512, 26)


@torch.no_grad()
def test_paper_visual_trunk_shape_and_size():
    trunk = VisualTrunk().eval()
    assert count_parameters(trunk) == PAPER_VISUAL_PARAMS
    assert trunk.layers[-3].kernel_size == (1, 6, 6)  # the paper's fixed last kernel
    out = trunk(torch.randn(1, 3, 30, 224, 224))
    assert out.shape == (1, 512, 26)


@torch.no_grad()
def test_small_configs_give_n_minus_4_steps():
    visual = VisualTrunk(face_size=48, channels=1, width=0.25, out_dim=32).eval()
    assert visual.layers[0].out_channels == 24  # round(96 * 0.25)
    assert visual(torch.randn(2, 1, 9, 48, 48)).shape == (2, 32, 5)
    audio = AudioTrunk(n_mels=24, width=0.25, out_dim=32).eval()
    assert audio(torch.randn(2, 36, 24)).shape == (2, 32, 5)
    # The smallest sizes the padded small geometry accepts.
    assert VisualTrunk(face_size=19, width=0.1, out_dim=8).eval()(
        torch.randn(1, 3, 5, 19, 19)).shape == (1, 8, 1)
    smallest_audio = AudioTrunk(n_mels=7, width=0.1, out_dim=8).eval()
    assert smallest_audio(torch.randn(1, 20, 7)).shape == (1, 8, 1)


def test_too_small_or_wrong_inputs_are_rejected():
    with pytest.raises(ValueError, match="face_size=18"):
        VisualTrunk(face_size=18)
    with pytest.raises(ValueError, match="n_mels=6"):
        AudioTrunk(n_mels=6)
    visual = VisualTrunk(face_size=32, width=0.1, out_dim=8)
    with pytest.raises(ValueError, match="expected faces"):
        visual(torch.randn(1, 3, 6, 40, 40))  # a larger face would be silently pooled
    with pytest.raises(ValueError, match=">= 5 frames"):
        visual(torch.randn(1, 3, 4, 32, 32))
    with pytest.raises(ValueError, match="no output step"):
        AudioTrunk(n_mels=40, width=0.1, out_dim=8)(torch.randn(1, 16, 40))


@torch.no_grad()
def test_whole_utterance_audio_gives_v_minus_4_steps():
    trunk = AudioTrunk(width=0.125, out_dim=16).eval()
    for video_frames in (5, 13, 50):
        out = trunk(torch.randn(1, 4 * video_frames, 40))
        assert out.shape == (1, 16, video_frames - 4)
    for frames in range(17, 30):  # lengths that are not a multiple of 4 too
        assert trunk(torch.randn(1, frames, 40)).shape[-1] == audio_output_steps(frames)
        assert audio_output_steps(frames) == -(-frames // 4) - 4


@torch.no_grad()
def test_visual_time_receptive_field_is_five_frames():
    torch.manual_seed(0)
    trunk = VisualTrunk(face_size=32, channels=1, width=0.125, out_dim=8).eval()
    faces = torch.randn(1, 1, 12, 32, 32)
    base = trunk(faces)
    for k in (0, 3, 6, 11):
        moved = faces.clone()
        moved[:, :, k] += 1.0
        changed = (trunk(moved) - base).abs().amax(dim=(0, 1)) > 0
        expected = [k - 4 <= j <= k for j in range(base.shape[-1])]
        assert changed.tolist() == expected, k


@torch.no_grad()
def test_audio_step_sees_feature_frames_around_its_video_frames():
    torch.manual_seed(0)
    trunk = AudioTrunk(width=0.125, out_dim=8).eval()
    # After the (global, per-utterance) instance norm: step j sees frames 4j-10 .. 4j+26.
    x = torch.randn(1, 1, 40, 80)
    base = trunk.layers(x)
    for t in (0, 30, 79):
        moved = x.clone()
        moved[..., t] += 5.0
        changed = (trunk.layers(moved) - base).abs().amax(dim=(0, 1, 2)) > 0
        assert changed.tolist() == [4 * j - 10 <= t <= 4 * j + 26 for j in range(16)], t
