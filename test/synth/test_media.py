"""Encoding face-tracks with the real ffmpeg: one process for several tracks, same bytes."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from xmodal.synth.media import EncodeError, FaceTrack, write_track, write_tracks


def track(root: Path, name: str, seed: int, n_frames: int = 20) -> FaceTrack:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n_frames, 32, 32, 3), dtype=np.uint8)
    audio = (0.1 * np.sin(np.arange(n_frames * 640) * (0.05 + 0.01 * seed))).astype(np.float32)
    return FaceTrack(root / name / "a.mp4", root / name / "a.m4a", frames, audio)


def test_tracks_encoded_together_are_the_bytes_of_tracks_encoded_alone(tmp_path: Path):
    together = [track(tmp_path / "together", str(k), k, 15 + 5 * k) for k in range(3)]
    write_tracks(together)
    for k, t in enumerate(together):
        alone = track(tmp_path / "alone", str(k), k, 15 + 5 * k)
        write_track(alone.mp4, alone.m4a, alone.frames, alone.audio)
        assert t.mp4.read_bytes() == alone.mp4.read_bytes()
        assert t.m4a.read_bytes() == alone.m4a.read_bytes()
        with av.open(str(t.mp4)) as mp4, av.open(str(t.m4a)) as m4a:
            assert mp4.streams.video[0].frames == 15 + 5 * k
            assert not m4a.streams.video
            # The m4a carries the mp4's AAC stream, packet for packet.
            assert [bytes(p) for p in mp4.demux(mp4.streams.audio[0]) if p.size] == \
                [bytes(p) for p in m4a.demux(m4a.streams.audio[0]) if p.size]
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".encode.*"))


def test_a_failed_encode_names_the_track_and_leaves_nothing(tmp_path: Path):
    good = track(tmp_path, "good", 0)
    odd = FaceTrack(tmp_path / "odd" / "a.mp4", tmp_path / "odd" / "a.m4a",
                    np.zeros((10, 31, 31, 3), np.uint8), np.zeros(6400, np.float32))
    with pytest.raises(EncodeError, match="good/a.mp4 \\(and 1 other tracks"):
        write_tracks([good, odd])  # libx264 refuses odd frame sizes in yuv420p
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    with pytest.raises(ValueError, match="odd/a.mp4: audio has 100 samples, expected 6400"):
        write_tracks([FaceTrack(odd.mp4, odd.m4a, odd.frames, np.zeros(100, np.float32))])
