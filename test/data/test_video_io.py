"""Decoding face-track videos: shapes, colour/gray, resizing, and broken files."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from xmodal.data.audio_io import MediaError
from xmodal.data.video_io import read_video

UTT = "id00001/AAAAAAAAAAA/00001"  # 1.2 s at 25 fps, 64x64


@pytest.fixture
def mp4(vox_tree):
    return vox_tree.vox2 / "dev" / "mp4" / f"{UTT}.mp4"


def ffmpeg_rgb(path, size) -> np.ndarray:
    """Oracle: ffmpeg's own decode to RGB frames."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, size, size, 3)


def test_colour_frames_match_ffmpeg(mp4, vox_tree):
    frames, fps = read_video(mp4, vox_tree.face_size, gray=False)
    assert fps == 25.0 and frames.dtype == np.uint8 and frames.shape == (30, 64, 64, 3)
    oracle = ffmpeg_rgb(mp4, vox_tree.face_size)
    assert frames.shape == oracle.shape
    # Same decoder; the YUV->RGB conversion may round differently by a step.
    assert np.abs(frames.astype(int) - oracle).max() <= 2


def test_resized_and_gray(mp4):
    frames, _ = read_video(mp4, 32, gray=True)
    assert frames.shape == (30, 32, 32, 1) and frames.dtype == np.uint8
    colour, _ = read_video(mp4, 32, gray=False)
    assert colour.shape == (30, 32, 32, 3)
    assert frames.std() > 0


def expect_media_error(path, pattern):
    with pytest.raises(MediaError, match=pattern):
        read_video(path, 32, gray=False, where="data/x/video.scp:2")


def test_missing_and_empty(tmp_path):
    expect_media_error(tmp_path / "no.mp4",
                       re.escape(f"{tmp_path / 'no.mp4'}: no such file (data/x/video.scp:2)"))
    (tmp_path / "e.mp4").touch()
    expect_media_error(tmp_path / "e.mp4", re.escape(f"{tmp_path / 'e.mp4'}: file is empty"))


def test_no_video_stream(vox_tree):
    m4a = vox_tree.vox2 / "dev" / "aac" / f"{UTT}.m4a"
    expect_media_error(m4a, re.escape(f"{m4a}: no video stream (data/x/video.scp:2)"))


def test_zero_frames(tmp_path):
    # mp4 drops a stream without packets; a y4m file keeps its header: one stream, no frame.
    path = tmp_path / "z.y4m"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x64:rate=25", "-frames:v", "0", "-pix_fmt", "yuv420p",
                    "-f", "yuv4mpegpipe", str(path)], check=True)
    expect_media_error(path, re.escape(f"{path}: no video frames"))


def test_truncated_and_corrupt(tmp_path, mp4):
    data = mp4.read_bytes()
    (tmp_path / "t.mp4").write_bytes(data[:len(data) // 2])
    expect_media_error(tmp_path / "t.mp4", re.escape(f"{tmp_path / 't.mp4'}: cannot decode"))
    (tmp_path / "c.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    expect_media_error(tmp_path / "c.mp4", re.escape(f"{tmp_path / 'c.mp4'}: cannot decode"))
