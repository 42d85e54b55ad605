"""Training samples of the face-generation method: an N-frame window of a face-track (its
audio and its faces, ``xmodal.data.track_windows``) plus one still frame of the same track.

Where the still frame comes from (``still_frame``):

- ``same_window``: any frame of the window itself (the paper: a frame of the same clip). The
  generator may then find the mouth of one of its targets in its input.
- ``outside_window``: any frame of the track outside the window, so the mouth it shows is
  never one the generator must draw. Tracks with no frame outside a window (exactly N
  frames long) are left out, with a logged count.

Tracks, starts and still frames are drawn by the sampler, a pure function of (seed, epoch,
batch index), so runs are reproducible and DDP ranks slice each global batch alike.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset

log = logging.getLogger(__name__)
STILL_FRAMES = ("same_window", "outside_window")
# Still frames are drawn from their own stream of the batch's seed: the tracks and starts of
# a batch stay those TrackBatchSampler draws.
STILL_STREAM = 1


class StillFrameWindows(Dataset):
    """Item ``(track, start, still)`` -> (audio window, faces ``(N, S, S, C)`` uint8, still
    frame ``(S, S, C)`` uint8); ``track`` indexes ``windows.keys``."""

    def __init__(self, windows: TrackWindowDataset):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, item: tuple[int, int, int]):
        track, start, still = item
        audio, faces = self.windows[(track, start)]
        # Frames count from the first where both streams exist once aligned (as ``start``).
        video_frame = still + max(0, int(self.windows.offsets[track]))
        frame = self.windows.face_frames(track, video_frame, 1)[0]
        return audio, faces, torch.from_numpy(frame)


def still_frame_index(start: int, n_frames: int, track_frames: int, still_frame: str,
                      rng: np.random.Generator) -> int:
    """A still frame for the window ``[start, start + n_frames)`` of a ``track_frames`` track,
    uniform over the window (``same_window``) or over the rest of the track
    (``outside_window``; the track must have a frame outside the window)."""
    if still_frame == "same_window":
        return start + int(rng.integers(0, n_frames))
    outside = track_frames - n_frames
    if outside < 1:
        raise ValueError(f"a track of {track_frames} frames has no frame outside a window "
                         f"of {n_frames}")
    k = int(rng.integers(0, outside))
    return k if k < start else k + n_frames


def usable_tracks(num_frames: np.ndarray, n_frames: int, still_frame: str) -> np.ndarray:
    """Indices of the tracks long enough for a window and a ``still_frame`` still frame."""
    if still_frame not in STILL_FRAMES:
        raise ValueError(f"still_frame must be one of {STILL_FRAMES}, got {still_frame!r}")
    need = n_frames + (1 if still_frame == "outside_window" else 0)
    return np.flatnonzero(np.asarray(num_frames) >= need)


class StillFrameSampler(TrackBatchSampler):
    """``TrackBatchSampler``'s batches, each item with a still frame: ``(track, start,
    still)``, track indices of the dataset; tracks too short for ``still_frame`` are never
    drawn."""

    def __init__(self, num_frames: np.ndarray, n_frames: int, still_frame: str,
                 batch_size: int, batches_per_epoch: int, seed: int, rank: int = 0,
                 num_replicas: int = 1, where: str | Path = ""):
        self.tracks = usable_tracks(num_frames, n_frames, still_frame)
        if not len(self.tracks):
            raise ValueError(f"{where}: no face-track is long enough for windows of {n_frames} "
                             f"frames with a still frame {still_frame}")
        if len(self.tracks) < len(num_frames):
            log.info("%s: %d of %d face-tracks have no frame outside a %d-frame window and "
                     "are not used", where, len(num_frames) - len(self.tracks),
                     len(num_frames), n_frames)
        self.still_frame = still_frame
        super().__init__(np.asarray(num_frames)[self.tracks], n_frames, batch_size,
                         batches_per_epoch, seed, rank, num_replicas)

    def batch(self, index: int) -> list[tuple[int, int, int]]:
        """Global batch ``index`` of the current epoch, still frames drawn."""
        rng = np.random.default_rng([self.seed, self.epoch, index, STILL_STREAM])
        return [(int(self.tracks[t]), s,
                 still_frame_index(s, self.n_frames, int(self.num_frames[t]), self.still_frame,
                                   rng))
                for t, s in super().batch(index)]
