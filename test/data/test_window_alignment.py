"""Audio-video alignment of training windows, from the encoded files to the model's input.

A face-track is written with real encoders (H.264/AAC, as the corpus writes it) with one
planted event: a 1 kHz tone burst during video frame k and, in the same frame, a white face.
After the recipe's preparation and dump, every window of ``TrackWindowDataset`` that holds
frame k must show the white face at row ``k - start`` and the burst in the 4 feature rows that
belong to that face frame. An off-by-one in the feature rows, a swapped start, or audio shifted
against the video by the container's encoder delay moves one of the two and fails.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xmodal.data.track_windows import FEATS_PER_FRAME, TrackWindowDataset
from xmodal.synth.media import SAMPLE_RATE, SAMPLES_PER_FRAME, FaceTrack, write_tracks

FRAMES, EVENTS, SIZE, WINDOW = 40, (9, 23), 32, 12
TONE_HZ, N_MELS = 1000.0, 40


def run(module: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def planted_track(event: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey faces and quiet noise, with a white face and a tone burst in video frame ``event``."""
    rng = np.random.default_rng(seed)
    faces = np.full((FRAMES, SIZE, SIZE, 3), 60, dtype=np.uint8)
    faces[event] = 255
    audio = 0.003 * rng.standard_normal(FRAMES * SAMPLES_PER_FRAME)
    burst = slice(event * SAMPLES_PER_FRAME, (event + 1) * SAMPLES_PER_FRAME)
    t = np.arange(SAMPLES_PER_FRAME) / SAMPLE_RATE
    audio[burst] += 0.5 * np.sin(2 * np.pi * TONE_HZ * t)
    return faces, audio


@pytest.fixture(scope="module")
def planted_dump(tmp_path_factory) -> Path:
    """Two planted tracks in the VoxCeleb2 layout, prepared and dumped as stage 1-2 do."""
    root = tmp_path_factory.mktemp("planted")
    tracks = []
    for n, event in enumerate(EVENTS):
        utt = f"id00001/AAAAAAAAAA{n}/00001"
        faces, audio = planted_track(event, n)
        tracks.append(FaceTrack(root / "vox2/dev/mp4" / f"{utt}.mp4",
                                root / "vox2/dev/aac" / f"{utt}.m4a", faces, audio))
    for track in tracks:
        track.mp4.parent.mkdir(parents=True, exist_ok=True)
        track.m4a.parent.mkdir(parents=True, exist_ok=True)
    write_tracks(tracks)
    conf = root / "dump.yaml"
    conf.write_text(f"face_size: {SIZE}\nface_gray: false\nn_mels: {N_MELS}\n"
                    "av_tolerance_s: 0.1\n")
    data, dump = root / "data", root / "dump"
    run("xmodal.bin.prepare_voxceleb", "vox2", "--root", str(root / "vox2"), "--subset", "dev",
        "--out-dir", str(data))
    run("xmodal.bin.dump", "--config", str(conf), "--data-dir", str(data), "--out-dir",
        str(dump), "--job", "1")
    run("xmodal.bin.merge_dump", "--data-dir", str(data), "--out-dir", str(dump),
        "--num-jobs", "1")
    return dump


def tone_bin() -> int:
    """The mel bin whose centre is nearest the tone (torchaudio's HTK mel scale, 0-8 kHz)."""
    mel = lambda hz: 2595.0 * np.log10(1.0 + hz / 700.0)  # noqa: E731
    centres = np.linspace(mel(0.0), mel(SAMPLE_RATE / 2), N_MELS + 2)[1:-1]
    return int(np.argmin(abs(centres - mel(TONE_HZ))))


def test_the_planted_event_lands_in_aligned_face_and_feature_rows(planted_dump: Path):
    dataset = TrackWindowDataset(planted_dump, WINDOW)
    band = tone_bin()
    assert len(dataset) == len(EVENTS)
    for track, event in enumerate(EVENTS):
        # Every window that holds the event: at its start, its end and in between.
        for start in range(max(0, event - WINDOW + 1), min(event, FRAMES - WINDOW) + 1):
            feats, faces = dataset[(track, start)]
            assert feats.shape == (FEATS_PER_FRAME * WINDOW, N_MELS)
            brightness = faces.float().mean(dim=(1, 2, 3)).numpy()
            assert int(np.argmax(brightness)) == event - start
            assert brightness.max() > 200 and np.median(brightness) < 100
            # Tone energy per face frame: the mean of its 4 feature rows in the tone's band.
            per_frame = feats[:, band].numpy().reshape(WINDOW, FEATS_PER_FRAME).mean(axis=1)
            assert int(np.argmax(per_frame)) == event - start, (start, per_frame.round(1))
