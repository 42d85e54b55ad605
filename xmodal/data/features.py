"""Log-mel filterbank features, aligned with 25 fps video (DESIGN §4 timing).

Audio at 16 kHz, a 25 ms window every 10 ms (100 frames/s) against 25 video frames/s: 640
samples and 4 feature frames per video frame. The centred STFT of 640*V samples has 4V+1
frames, frame k centred on sample 160k; keeping the first 4V makes feature frames [4s, 4s+4N)
cover video frames [s, s+N).
"""
from __future__ import annotations

import numpy as np
import torch
import torchaudio

SAMPLE_RATE = 16000
VIDEO_FPS = 25
SAMPLES_PER_VIDEO_FRAME = SAMPLE_RATE // VIDEO_FPS
FEATS_PER_VIDEO_FRAME = 4
LOG_FLOOR = 1e-6


class LogMel:
    """log(mel power + 1e-6): 16 kHz, n_fft 512, 400-sample window, hop 160, centred frames."""

    def __init__(self, n_mels: int = 40):
        self.n_mels = n_mels
        self.transform = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160,
            n_mels=n_mels, center=True)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Features of mono float audio as float32 ``(frames, n_mels)``."""
        with torch.no_grad():
            mel = self.transform(torch.from_numpy(np.asarray(audio, dtype=np.float32)))
        return torch.log(mel + LOG_FLOOR).T.contiguous().numpy()


def logmel_for_video(audio: np.ndarray, n_video_frames: int,
                     logmel: LogMel | None = None) -> np.ndarray:
    """Features of exactly ``640 * n_video_frames`` samples as float32 ``(4V, n_mels)``."""
    expected = SAMPLES_PER_VIDEO_FRAME * n_video_frames
    if n_video_frames < 1 or len(audio) != expected:
        raise ValueError(f"need {expected} samples for {n_video_frames} video frames, "
                         f"got {len(audio)}")
    feats = (logmel or LogMel())(audio)
    return feats[:FEATS_PER_VIDEO_FRAME * n_video_frames]
