"""Log-mel features: shapes, the log floor, and alignment of 4 feature frames per video frame."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from xmodal.data.features import LogMel, logmel_for_video


def tone(n_samples: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(n_samples) / 16000
    return (0.1 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_logmel_matches_torchaudio_definition():
    audio = tone(16000)
    feats = LogMel()(audio)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512, win_length=400,
                                               hop_length=160, n_mels=40, center=True)
    expected = torch.log(mel(torch.from_numpy(audio)) + 1e-6).T.numpy()
    assert feats.dtype == np.float32 and feats.shape == (101, 40)
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-5)
    assert LogMel(n_mels=24)(audio).shape == (101, 24)


def test_silence_hits_the_log_floor():
    feats = LogMel()(np.zeros(6400, dtype=np.float32))
    np.testing.assert_allclose(feats, np.log(1e-6), rtol=1e-6)


@pytest.mark.parametrize("n_video_frames", [1, 7, 30])
def test_four_frames_per_video_frame(n_video_frames):
    audio = tone(640 * n_video_frames)
    feats = logmel_for_video(audio, n_video_frames)
    assert feats.shape == (4 * n_video_frames, 40) and feats.dtype == np.float32
    # The first 4V of the 4V+1 centred frames.
    np.testing.assert_array_equal(feats, LogMel()(audio)[:4 * n_video_frames])


def test_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="need 6400 samples for 10 video frames, got 6401"):
        logmel_for_video(tone(6401), 10)
    with pytest.raises(ValueError):
        logmel_for_video(tone(0), 0)


@pytest.mark.parametrize("burst_frame", [0, 5, 13, 19])
def test_feature_frames_align_with_video_frames(burst_frame):
    # Sound only during video frame s: the loudest feature frames are 4s..4s+3.
    n = 20
    audio = np.zeros(640 * n, dtype=np.float32)
    audio[640 * burst_frame:640 * (burst_frame + 1)] = tone(640, 1000)
    energy = logmel_for_video(audio, n).max(axis=1)
    loud = np.flatnonzero(energy > energy.max() - 3.0)  # within ~13 dB of the peak
    assert loud.min() >= 4 * burst_frame - 1 and loud.max() <= 4 * burst_frame + 4
    assert 4 * burst_frame <= int(np.argmax(energy)) < 4 * burst_frame + 4
