"""wav copies of m4a audio: the format, a failure named by its source, nothing half-written."""
from __future__ import annotations

import wave

import pytest

from xmodal.data.wav_convert import ConversionError, convert_to_wav


def test_copies_are_16k_mono_pcm(vox_tree, tmp_path):
    m4a = vox_tree.vox2 / "dev" / "aac" / "id00002" / "BBBBBBBBBBB" / "00001.m4a"
    out = convert_to_wav({"a/b/1": m4a}, tmp_path / "wav")
    assert out == {"a/b/1": tmp_path / "wav" / "a/b/1.wav"}
    with wave.open(str(out["a/b/1"])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)


def test_a_failure_names_the_source_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.m4a"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ConversionError, match=f"{bad}: ffmpeg could not convert it to wav: "):
        convert_to_wav({"x/y/1": bad}, tmp_path / "wav", nj=2)
    assert [p.name for p in (tmp_path / "wav").rglob("*") if p.is_file()] == []
