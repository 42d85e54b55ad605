"""Training samples for the cross-modal model: aligned N-frame windows of face-tracks.

A batch holds B distinct face-tracks; from each, N consecutive face frames and the audio
features of the same 1.2 s (for N=30): feature frames [4s, 4s+4N) pair with video frames
[s, s+N) (100 feature frames/s, 25 video frames/s; see ``xmodal.data.features``). With
``audio="wave"`` the audio is the dump's 16 kHz samples instead (``wave.scp``, a dump with
``waveform: true``): samples [640s, 640s+640N). Which tracks
and which start frames are drawn is a pure function of (seed, epoch, batch index), so a run
is reproducible, a resumed run sees the same batches, and each DDP rank can take its own
slice of every global batch without communication.

Only a window's face frames are read from the faces ark (``xmodal.data.face_store``: a raw or
JPEG dump, as the dump dir's ``face_format`` says), not the whole track: a VoxCeleb2 track has
195 frames on average, a window 30, and reading whole tracks was 16x slower per window
(``bench.data_pipeline``). Features, 40 floats a frame, are read whole.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.face_store import read_face_format, read_window
from xmodal.data.features import SAMPLES_PER_VIDEO_FRAME
from xmodal.data.scp import ScpReader

log = logging.getLogger(__name__)

FEATS_PER_FRAME = 4
# Audio of a dump dir a window can carry -> its rows per video frame.
AUDIO_PER_FRAME = {"feats": FEATS_PER_FRAME, "wave": SAMPLES_PER_VIDEO_FRAME}


class TrackWindowDataset(Dataset):
    """Windows of a dumped set, indexed by ``(track index, start frame)`` pairs."""

    def __init__(self, dump_dir: str | Path, n_frames: int, apply_av_offset: bool = False,
                 audio: str = "feats"):
        """With ``apply_av_offset``, each track's ``utt2av_offset`` (VoxCeleb2's ``Offset``,
        video frames by which the mouth lags the audio) re-aligns its windows: the faces of
        video frames [v, v+N) pair with the audio of frames [v - offset, v - offset + N).
        ``audio``: ``feats`` (log-mel) or ``wave`` (samples; ``AUDIO_PER_FRAME``)."""
        dump_dir = Path(dump_dir)
        self.dump_dir = dump_dir
        num_frames = read_table(dump_dir / "utt2num_frames")
        if audio not in AUDIO_PER_FRAME:
            raise ValueError(f"audio must be one of {sorted(AUDIO_PER_FRAME)}, got {audio!r}")
        if not (dump_dir / f"{audio}.scp").is_file():
            raise DataDirError(f"{dump_dir / f'{audio}.scp'}: not found" + (
                " (dump the set with 'waveform: true' in the dump config)"
                if audio == "wave" else ""))
        self._per_frame = AUDIO_PER_FRAME[audio]
        self._feats = ScpReader(dump_dir / f"{audio}.scp")
        self._faces = ScpReader(dump_dir / "faces.scp")
        self.n_frames = n_frames
        offsets = {k: 0 for k in self._faces}
        if apply_av_offset:
            path = dump_dir / "utt2av_offset"
            if not path.is_file():
                raise DataDirError(f"{path}: not found, and data.apply_av_offset is true (set it "
                                   "false for sets without VoxCeleb2 txt files)")
            table = read_table(path)
            offsets = {k: int(table[k]) if k in table else 0 for k in self._faces}
        # Frames where audio and video overlap once aligned; a track shorter than one window
        # cannot be sampled and is left out, not padded.
        usable = {k: int(num_frames[k]) - abs(offsets[k]) for k in self._faces}
        self.keys = sorted(k for k in self._faces if usable[k] >= n_frames)
        if len(self.keys) < len(self._faces):
            log.info("%s: %d of %d face-tracks are shorter than %d frames (once aligned) and "
                     "are not used", dump_dir, len(self._faces) - len(self.keys),
                     len(self._faces), n_frames)
        if len(self.keys) < 2:
            raise ValueError(f"{dump_dir}: fewer than 2 face-tracks have >= {n_frames} frames")
        # What the sampler draws start frames from: the aligned length of each track.
        self.num_frames = np.array([usable[k] for k in self.keys])
        self.offsets = np.array([offsets[k] for k in self.keys])
        try:
            self.face_format = read_face_format(dump_dir)
        except ValueError as err:
            raise DataDirError(str(err)) from None

    def __len__(self) -> int:
        return len(self.keys)

    def speakers(self) -> np.ndarray:
        """The speaker of each track (``utt2spk``), for evaluation batches of distinct people;
        a set without utt2spk counts each track as its own speaker."""
        path = self.dump_dir / "utt2spk"
        if not path.is_file():
            return np.array(self.keys)
        utt2spk = read_table(path)
        return np.array([utt2spk[key] for key in self.keys])

    def face_frames(self, track: int, start: int, n: int) -> np.ndarray:
        """Face frames ``[start, start + n)`` (uint8 ``(n, S, S, C)``) of track ``track``,
        counted in video frames of the track (not re-aligned by its av offset)."""
        key = self.keys[track]
        try:
            return read_window(self._faces.spec(key), self.face_format, start, n)
        except (OSError, ValueError) as err:  # a missing ark; a bad or truncated entry
            raise DataDirError(f"{self._faces.where(key)}: key '{key}': {err}") from None

    def aligned_starts(self, track: int, start: int) -> tuple[int, int]:
        """(video, audio) start frames of window ``start`` of ``track``: ``start`` counts from
        the first frame where both streams exist once aligned by the track's av offset."""
        offset = int(self.offsets[track])
        return start + max(0, offset), start + max(0, -offset)

    def audio_window(self, track: int, start: int) -> torch.Tensor:
        """The audio (features or samples) of window ``start`` of ``track``, float32."""
        key = self.keys[track]
        audio_start = self.aligned_starts(track, start)[1]
        first, last = self._per_frame * audio_start, self._per_frame * (audio_start + self.n_frames)
        feats = self._feats[key][first:last]
        if not np.isfinite(feats).all():
            raise DataDirError(f"{self._feats.where(key)}: key '{key}' has NaN or inf features "
                               f"in frames {first}-{last}")
        # A copy: kaldiio may hand out read-only views, which torch must not wrap.
        return torch.from_numpy(np.array(feats, dtype=np.float32))

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        track, start = item
        # The faces are a fresh array already.
        faces = self.face_frames(track, self.aligned_starts(track, start)[0], self.n_frames)
        return self.audio_window(track, start), torch.from_numpy(faces)


def window_batch(dataset: TrackWindowDataset, items: list[tuple[int, int]]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The stacked ``(feats, faces)`` of ``dataset``'s windows ``items`` (a sampler's batch)."""
    feats, faces = zip(*(dataset[item] for item in items))
    return torch.stack(feats), torch.stack(faces)


def check_even_split(units: int, parts: int, key: str, what: str) -> None:
    """Refuse a global batch of ``units`` that ``parts`` processes cannot share evenly,
    naming the nearest batch sizes that they can (every rank gathers equal-sized slices)."""
    if units % parts == 0:
        return
    lower, upper = units - units % parts, units - units % parts + parts
    sizes = f"{lower} or {upper}" if lower else f"{upper}"
    raise ValueError(f"{key}: a global batch of {units} {what} cannot be split evenly over "
                     f"{parts} processes; with {parts} processes use {sizes} (a multiple of "
                     f"{parts}), or a process count that divides {units}")


class SeededBatchSampler(Sampler):
    """What the recipes' batch samplers share: ``steps`` batches per epoch, batch ``index``
    of the current epoch drawn from ``rng(index)`` (seeded by seed, epoch and index, so it
    is the same in any process or worker), and replica ``rank`` of ``num_replicas`` taking
    its ``own`` share of each global batch."""

    def __init__(self, steps: int, seed: int, rank: int = 0, num_replicas: int = 1):
        self.steps = steps
        self.seed = seed
        self.rank = rank
        self.num_replicas = num_replicas
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches are drawn next."""
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator:
        """The generator that draws global batch ``index`` of the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def own(self, units: int) -> slice:
        """This replica's slice of ``units`` items (a multiple of the replica count)."""
        share = units // self.num_replicas
        return slice(self.rank * share, (self.rank + 1) * share)

    def __len__(self) -> int:
        return self.steps


class TrackBatchSampler(SeededBatchSampler):
    """Yields batches of ``(track, start)`` pairs; deterministic per epoch.

    ``batch_size`` is the global batch B: B distinct tracks per step, however many processes
    share the step. ``batches_per_epoch`` is fixed (a "fixed number of clips per epoch"),
    independent of the corpus size. With ``num_replicas`` R > 1, replica ``rank`` yields its
    B/R-track slice of every global batch, so R processes see exactly the tracks one process
    would and the training result does not depend on the number of GPUs or nodes.
    """

    def __init__(self, num_frames: np.ndarray, n_frames: int, batch_size: int,
                 batches_per_epoch: int, seed: int, rank: int = 0, num_replicas: int = 1,
                 groups: np.ndarray | None = None):
        if batch_size > len(num_frames):
            raise ValueError(f"batch of {batch_size} distinct tracks but only "
                             f"{len(num_frames)} tracks are long enough")
        # With groups (e.g. each track's identity), a batch takes B distinct groups and one
        # track of each: a B-way identity task with two tracks of one person has two right
        # answers, and a small test set would make that common.
        self.members = None
        if groups is not None:
            names, index = np.unique(np.asarray(groups), return_inverse=True)
            if batch_size > len(names):
                raise ValueError(f"batch of {batch_size} distinct groups but only {len(names)}")
            self.members = [np.flatnonzero(index == g) for g in range(len(names))]
        check_even_split(batch_size, num_replicas, "data.batch_size", "tracks")
        super().__init__(batches_per_epoch, seed, rank, num_replicas)
        self.num_frames = num_frames
        self.n_frames = n_frames
        self.batch_size = batch_size

    def batch(self, index: int) -> list[tuple[int, int]]:
        """Global batch ``index`` of the current epoch (all replicas' slices, in rank order)."""
        rng = self.rng(index)
        if self.members is None:
            tracks = rng.choice(len(self.num_frames), size=self.batch_size, replace=False)
        else:
            chosen = rng.choice(len(self.members), size=self.batch_size, replace=False)
            tracks = np.array([rng.choice(self.members[g]) for g in chosen])
        starts = rng.integers(0, self.num_frames[tracks] - self.n_frames + 1)
        return [(int(t), int(s)) for t, s in zip(tracks, starts)]

    def __iter__(self):
        for index in range(self.steps):
            yield self.batch(index)[self.own(self.batch_size)]
