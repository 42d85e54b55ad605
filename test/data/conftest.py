"""A tiny tree in the official VoxCeleb layouts, with real media made by ffmpeg.

VoxCeleb2 (dev, test): H.264/AAC mp4 face tracks at 25 fps and their m4a audio; one test track
has audio 1 s longer than its video. VoxCeleb1: 16 kHz wav, ``vox1_meta.csv`` (one row with
stray spaces) and ``veri_test2.txt``. Plus ``annotations/text`` for the VoxCeleb2 tracks.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

FACE_SIZE = 64
# utt -> (video seconds, audio seconds, tone Hz)
VOX2 = {
    "dev": {
        "id00001/AAAAAAAAAAA/00001": (1.2, 1.2, 440),
        "id00001/AAAAAAAAAAA/00002": (0.8, 0.8, 660),
        "id00002/BBBBBBBBBBB/00001": (1.0, 1.0, 880),
    },
    "test": {
        "id09000/DDDDDDDDDDD/00001": (1.2, 1.2, 330),
        "id09000/EEEEEEEEEEE/00001": (1.0, 2.0, 550),  # audio 1 s longer than the video
    },
}
VOX1_DEV = ["id10001/FFFFFFFFFFF/00001", "id10001/GGGGGGGGGGG/00001", "id10002/HHHHHHHHHHH/00001"]
VOX1_TEST = ["id19000/IIIIIIIIIII/00001", "id19000/JJJJJJJJJJJ/00001",
             "id19001/KKKKKKKKKKK/00001", "id19001/LLLLLLLLLLL/00001"]
VERI_TEST = [
    "1 id19000/IIIIIIIIIII/00001.wav id19000/JJJJJJJJJJJ/00001.wav",
    "0 id19000/IIIIIIIIIII/00001.wav id19001/KKKKKKKKKKK/00001.wav",
    "1 id19001/KKKKKKKKKKK/00001.wav id19001/LLLLLLLLLLL/00001.wav",
    "0 id19001/LLLLLLLLLLL/00001.wav id19000/JJJJJJJJJJJ/00001.wav",
]


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test set-up if it fails."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_track(mp4: Path, m4a: Path, video_s: float, audio_s: float, freq: int) -> None:
    """A test-pattern face track (H.264 + AAC 16 kHz mono) and its audio copied out as m4a."""
    mp4.parent.mkdir(parents=True, exist_ok=True)
    m4a.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={FACE_SIZE}x{FACE_SIZE}:rate=25:duration={video_s}",
           "-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=16000:duration={audio_s}",
           "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-ac", "1", "-ar", "16000", str(mp4))
    ffmpeg("-i", str(mp4), "-map", "0:a", "-c:a", "copy", "-f", "ipod", str(m4a))


def make_wav(path: Path, seconds: float, freq: int, rate: int = 16000) -> None:
    """A 16-bit PCM mono wav of a sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}",
           "-c:a", "pcm_s16le", str(path))


def write_voxceleb_tree(root: Path) -> Path:
    """Write the tiny VoxCeleb1/VoxCeleb2 tree under ``root`` and return ``root``."""
    vox2 = root / "voxceleb2"
    text = []
    for subset, tracks in VOX2.items():
        for i, (utt, (video_s, audio_s, freq)) in enumerate(tracks.items()):
            make_track(vox2 / subset / "mp4" / f"{utt}.mp4", vox2 / subset / "aac" / f"{utt}.m4a",
                       video_s, audio_s, freq)
            text.append(f"{utt} HELLO WORLD {i}")
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "text").write_text("".join(f"{t}\n" for t in sorted(text)))
    vox1 = root / "voxceleb1"
    for i, utt in enumerate(VOX1_DEV + VOX1_TEST):
        make_wav(vox1 / "wav" / f"{utt}.wav", 0.5 + 0.1 * i, 300 + 50 * i)
    (vox1 / "vox1_meta.csv").write_text(
        "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
        "id10001\tA_Person\tm\tUK\tdev\n"
        " id10002 \tB_Person\tf\tUSA\t dev \n"
        "id19000\tC_Person\tm\tUK\ttest\n"
        "id19001\tD_Person\tf\tIreland\ttest\n")
    (vox1 / "veri_test2.txt").write_text("".join(f"{line}\n" for line in VERI_TEST))
    return root


@pytest.fixture(scope="session")
def vox_tree(tmp_path_factory) -> SimpleNamespace:
    """The tiny tree (made once per session; tests must copy it before changing anything)."""
    root = write_voxceleb_tree(tmp_path_factory.mktemp("vox") / "tree")
    return SimpleNamespace(root=root, vox2=root / "voxceleb2", vox1=root / "voxceleb1",
                           text=root / "annotations" / "text", vox2_tracks=VOX2,
                           vox1_dev=VOX1_DEV, vox1_test=VOX1_TEST, veri_test=VERI_TEST,
                           face_size=FACE_SIZE)


@pytest.fixture(scope="session")
def media_maker() -> SimpleNamespace:
    """The media writers above, for tests that need a file of their own."""
    return SimpleNamespace(track=make_track, wav=make_wav)
