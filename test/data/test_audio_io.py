"""Decoding wav.scp entries (wav, m4a, Kaldi pipes) and the errors for broken media."""
from __future__ import annotations

import re
import shlex
import subprocess

import numpy as np
import pytest

from xmodal.data.audio_io import MediaError, read_audio

M4A_UTT = "id00001/AAAAAAAAAAA/00001"  # 1.2 s of 440 Hz
WAV_UTT = "id10001/FFFFFFFFFFF/00001"  # 0.5 s of 300 Hz


def ffmpeg_pcm(path) -> np.ndarray:
    """Oracle: ffmpeg's own decode to 16-bit PCM at 16 kHz mono."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le",
                          "-ac", "1", "-ar", "16000", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


@pytest.fixture
def m4a(vox_tree):
    return vox_tree.vox2 / "dev" / "aac" / f"{M4A_UTT}.m4a"


@pytest.fixture
def wav(vox_tree):
    return vox_tree.vox1 / "wav" / f"{WAV_UTT}.wav"


def test_wav_matches_ffmpeg(wav):
    audio, rate = read_audio(str(wav), "wav.scp:1")
    assert rate == 16000 and audio.dtype == np.float32 and audio.shape == (8000,)
    np.testing.assert_array_equal(audio, ffmpeg_pcm(wav))
    assert 0.1 < np.abs(audio).max() < 0.15  # lavfi sine: amplitude 1/8


def test_m4a_is_nominal_length_plus_codec_padding(m4a):
    audio, rate = read_audio(str(m4a))
    assert rate == 16000 and audio.dtype == np.float32 and audio.ndim == 1
    assert 19200 <= len(audio) <= 19200 + 1024
    np.testing.assert_allclose(audio[:19200], ffmpeg_pcm(m4a)[:19200], atol=1e-4)


def test_kaldi_pipe_decodes_like_the_file(m4a):
    spec = f"ffmpeg -nostdin -v error -i {shlex.quote(str(m4a))} -f wav -ac 1 -ar 16000 - |"
    piped, rate = read_audio(spec, "wav.scp:3")
    direct, _ = read_audio(str(m4a))
    assert rate == 16000 and len(piped) == len(direct)
    np.testing.assert_allclose(piped, direct, atol=1e-4)


def test_other_rates_are_resampled(tmp_path, media_maker):
    media_maker.wav(tmp_path / "a.wav", 0.5, 440, rate=8000)
    audio, rate = read_audio(str(tmp_path / "a.wav"))
    assert rate == 16000 and len(audio) == 8000
    native, native_rate = read_audio(str(tmp_path / "a.wav"), sample_rate=None)
    assert native_rate == 8000 and len(native) == 4000


def expect_media_error(spec, pattern):
    with pytest.raises(MediaError, match=pattern):
        read_audio(spec, "data/x/wav.scp:7")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.m4a"
    expect_media_error(str(path), re.escape(f"{path}: no such file (data/x/wav.scp:7)"))


def test_empty_file(tmp_path):
    for name in ("e.wav", "e.m4a"):
        (tmp_path / name).touch()
        expect_media_error(str(tmp_path / name),
                           re.escape(f"{tmp_path / name}: file is empty (data/x/wav.scp:7)"))


def test_truncated_wav(tmp_path, wav):
    data = wav.read_bytes()
    (tmp_path / "t.wav").write_bytes(data[:len(data) // 2])
    expect_media_error(str(tmp_path / "t.wav"), re.escape(f"{tmp_path / 't.wav'}: truncated: the "
                                                          "header announces 8000 samples"))
    (tmp_path / "h.wav").write_bytes(data[:30])
    expect_media_error(str(tmp_path / "h.wav"), "truncated wav header")


def test_truncated_m4a(tmp_path, m4a):
    data = m4a.read_bytes()
    (tmp_path / "t.m4a").write_bytes(data[:len(data) // 2])
    expect_media_error(str(tmp_path / "t.m4a"), re.escape(f"{tmp_path / 't.m4a'}: cannot decode"))


def test_corrupt_files(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    for name in ("c.m4a", "c.wav"):
        (tmp_path / name).write_bytes(noise)
        expect_media_error(str(tmp_path / name),
                           re.escape(f"{tmp_path / name}: cannot decode") + r".*wav\.scp:7")


def test_failing_pipe(tmp_path):
    missing = tmp_path / "gone.m4a"
    expect_media_error(f"ffmpeg -nostdin -v error -i {missing} -f wav - |",
                       re.escape(f"pipe 'ffmpeg -nostdin -v error -i {missing} -f wav - |': exited "
                                 "with status 1") + r".*gone\.m4a.*\(data/x/wav\.scp:7\)")
    expect_media_error("true |", "produced no output")
