"""The data dir validator: one test per kind of problem, each error naming file and line.

Unsorted, duplicate and whitespace-containing keys, empty media and bad trials, run through
the validate_data_dir CLI, are in the bad-input catalogue (test/bad_input/test_catalogue.py).
"""
from __future__ import annotations

import re

import pytest

from xmodal.data.datadir import DataDirError
from xmodal.data.validate import media_paths, validate_data_dir
from xmodal.data.voxceleb_prep import prepare_vox1, prepare_vox2

UTT1 = "id00001/AAAAAAAAAAA/00001"
UTT2 = "id00001/AAAAAAAAAAA/00002"
UTT3 = "id00002/BBBBBBBBBBB/00001"


@pytest.fixture
def vox2_dir(vox_tree, tmp_path):
    """A prepared VoxCeleb2 dev data dir (path form) referencing the session tree."""
    prepare_vox2(vox_tree.vox2, "dev", tmp_path / "d", text_file=vox_tree.text)
    return tmp_path / "d"


@pytest.fixture
def vox1_test_dir(vox_tree, tmp_path):
    """A prepared VoxCeleb1 test data dir with trials."""
    prepare_vox1(vox_tree.vox1, tmp_path / "dev", tmp_path / "test", ["veri_test2.txt"])
    return tmp_path / "test"


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def expect_error(data_dir, pattern, **kwargs):
    with pytest.raises(DataDirError, match=pattern) as info:
        validate_data_dir(data_dir, **kwargs)
    return str(info.value)


def test_valid_dirs_pass_with_summary(vox2_dir, vox1_test_dir, vox_tree, tmp_path):
    assert validate_data_dir(vox2_dir, need_video=True) == [
        f"{vox2_dir}: 3 utterances, 2 speakers", "files: spk2utt text utt2spk video.scp wav.scp"]
    assert validate_data_dir(vox1_test_dir)[-1] == "trials: 4 trials (2 target, 2 nontarget)"
    prepare_vox2(vox_tree.vox2, "dev", tmp_path / "pipe", audio="pipe")
    validate_data_dir(tmp_path / "pipe")


def test_key_sets_must_match(vox2_dir):
    lines = (vox2_dir / "video.scp").read_text().splitlines()
    (vox2_dir / "video.scp").write_text("\n".join([lines[0], lines[2]]) + "\n")
    expect_error(vox2_dir, re.escape(f"{vox2_dir / 'utt2spk'}:2: utterance '{UTT2}' has no entry "
                                     f"in {vox2_dir / 'video.scp'}"))


def test_spk2utt_lists_utt_of_another_speaker(vox2_dir):
    (vox2_dir / "spk2utt").write_text(f"id00001 {UTT1}\nid00002 {UTT2} {UTT3}\n")
    expect_error(vox2_dir, re.escape(f"{vox2_dir / 'spk2utt'}:2: speaker 'id00002': lists "
                                     f"'{UTT2}', which {vox2_dir / 'utt2spk'} gives to speaker "
                                     "'id00001'"))


def test_spk2utt_misses_an_utterance(vox2_dir):
    (vox2_dir / "spk2utt").write_text(f"id00001 {UTT1}\nid00002 {UTT3}\n")
    expect_error(vox2_dir, re.escape(f"{vox2_dir / 'utt2spk'}:2: utterance '{UTT2}': not listed "
                                     f"in {vox2_dir / 'spk2utt'}"))


def test_spk2utt_utterances_sorted(vox2_dir):
    (vox2_dir / "spk2utt").write_text(f"id00001 {UTT2} {UTT1}\nid00002 {UTT3}\n")
    expect_error(vox2_dir, re.escape(f"{vox2_dir / 'spk2utt'}:1: speaker 'id00001': utterance "
                                     f"'{UTT1}' is a duplicate or out of C order"))


def test_utterance_must_start_with_speaker(vox2_dir):
    edit(vox2_dir / "utt2spk", f"{UTT3} id00002", f"{UTT3} id00003")
    (vox2_dir / "spk2utt").write_text(f"id00001 {UTT1} {UTT2}\nid00003 {UTT3}\n")
    expect_error(vox2_dir, re.escape(f"{vox2_dir / 'utt2spk'}:3: utterance '{UTT3}': does not "
                                     "start with its speaker id 'id00003'"))


def test_missing_media_file(vox2_dir):
    edit(vox2_dir / "video.scp", "00002.mp4", "00009.mp4")
    message = expect_error(vox2_dir, re.escape(f"{vox2_dir / 'video.scp'}:2: utterance '{UTT2}'"))
    assert "00009.mp4' does not exist" in message
    validate_data_dir(vox2_dir, check_files=False)


def test_missing_media_file_in_pipe(vox_tree, tmp_path):
    prepare_vox2(vox_tree.vox2, "dev", tmp_path / "d", audio="pipe")
    edit(tmp_path / "d" / "wav.scp", "00001.m4a", "00007.m4a")
    message = expect_error(tmp_path / "d", re.escape(f"{tmp_path / 'd' / 'wav.scp'}:1: "))
    assert "00007.m4a' does not exist" in message


def test_required_files(vox2_dir, vox1_test_dir):
    expect_error(vox1_test_dir, "video.scp: required file missing", need_video=True)
    (vox2_dir / "utt2spk").unlink()
    expect_error(vox2_dir, "utt2spk: required file missing")


def test_media_paths_of_a_pipe():
    assert media_paths("/a/b.m4a") == ["/a/b.m4a"]
    assert media_paths("ffmpeg -v error -i '/x y/a.m4a' -f wav - |") == ["/x y/a.m4a"]
    assert media_paths("sox a.WAV b.flac -t wav - |") == ["a.WAV", "b.flac"]


def test_spk2gender_covers_exactly_the_speakers(vox2_dir):
    gender = vox2_dir / "spk2gender"
    gender.write_text("id00001 m\n")
    expect_error(vox2_dir, re.escape(f"{vox2_dir / 'spk2utt'}:2: speaker 'id00002' has no entry "
                                     f"in {gender}"))
    gender.write_text("id00001 m\nid00002 x\n")
    expect_error(vox2_dir, re.escape(f"{gender}:2: speaker 'id00002': gender 'x' is not m or f"))
    gender.write_text("id00001 m\nid00002 f\nid00003 f\n")
    expect_error(vox2_dir, re.escape(f"{gender}:3: speaker 'id00003' is not in "
                                     f"{vox2_dir / 'spk2utt'}"))
    gender.write_text("id00001 m\nid00002 f\n")
    assert "spk2gender" in validate_data_dir(vox2_dir)[1]


@pytest.mark.parametrize("name, values, message", [
    ("utt2av_offset", ("0", "-3", "1.5"), "'1.5' is not an integer (audio-video offset"),
    ("utt2iden_split", ("train", "val", "dev"), "'dev' is not train, val or test"),
])
def test_fixed_form_values(vox2_dir, name, values, message):
    path = vox2_dir / name
    path.write_text("".join(f"{u} {v}\n" for u, v in zip((UTT1, UTT2, UTT3), values)))
    expect_error(vox2_dir, re.escape(f"{path}:3: utterance '{UTT3}': {message}"))
