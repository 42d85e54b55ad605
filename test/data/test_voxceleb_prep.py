"""Preparation from the official VoxCeleb layouts: exact outputs, options, and bad inputs.

The official list and meta files are added to private copies of the session tree, so the
tree other tests share stays as it is.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import wave

import pytest

from xmodal.data.datadir import DataDirError, Trial
from xmodal.data.validate import validate_data_dir
from xmodal.data.voxceleb_lists import (read_iden_split, read_official_trials,
                                        read_track_offset, read_vox1_meta, read_vox2_meta)
from xmodal.data.voxceleb_prep import prepare_vox1, prepare_vox2, sample_tracks

VOX2_META = ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n"
             "id00001 ,n000001 ,m ,dev \n"
             "id00002 ,n000002 ,f ,dev \n"
             "id09000 ,n009000 ,f ,test \n")
IDEN_SPLIT = ["1 id10001/FFFFFFFFFFF/00001.wav", "3 id10001/GGGGGGGGGGG/00001.wav",
              "1 id10002/HHHHHHHHHHH/00001.wav", "1 id19000/IIIIIIIIIII/00001.wav",
              "2 id19000/JJJJJJJJJJJ/00001.wav", "1 id19001/KKKKKKKKKKK/00001.wav",
              "3 id19001/LLLLLLLLLLL/00001.wav"]
# VoxCeleb1-E pairs dev speakers' utterances too.
LIST_E = ["1 id10001/FFFFFFFFFFF/00001.wav id10001/GGGGGGGGGGG/00001.wav",
          "0 id10001/FFFFFFFFFFF/00001.wav id19000/IIIIIIIIIII/00001.wav"]


def track_txt(spk, ytid, offset="1"):
    return (f"Identity  : \t{spk}\nReference : \t{ytid}\nOffset    : \t{offset}\n"
            "FV Conf   : \t16.500\t(1)\nASD Conf  : \t5.000\n\nFRAME \tX \tY \tW \tH \n"
            "000045 \t0.300 \t0.200 \t0.400 \t0.500 \n")


@pytest.fixture
def tree_copy(vox_tree, tmp_path):
    """A private copy of the tree, for tests that add to it or break it."""
    return shutil.copytree(vox_tree.root, tmp_path / "tree")


@pytest.fixture
def vox2_full(tree_copy):
    """The copy's VoxCeleb2 with vox2_meta.csv and a txt file per face-track."""
    vox2 = tree_copy / "voxceleb2"
    (vox2 / "vox2_meta.csv").write_text(VOX2_META)
    for m4a in vox2.glob("*/aac/*/*/*.m4a"):
        subset, _, spk, ytid, name = m4a.relative_to(vox2).parts
        txt = vox2 / subset / "txt" / spk / ytid / name.replace(".m4a", ".txt")
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text(track_txt(spk, ytid, offset="-2" if name == "00002.m4a" else "1"))
    return vox2


@pytest.fixture
def vox1_full(tree_copy):
    """The copy's VoxCeleb1 with iden_split.txt, list_test_all2.txt (E) and veri_test.txt."""
    vox1 = tree_copy / "voxceleb1"
    (vox1 / "iden_split.txt").write_text("".join(f"{x}\n" for x in IDEN_SPLIT))
    (vox1 / "list_test_all2.txt").write_text("".join(f"{x}\n" for x in LIST_E))
    (vox1 / "veri_test.txt").write_text((vox1 / "veri_test2.txt").read_text())
    return vox1


def lines(path):
    return path.read_text().splitlines()


def write_lines(path, rows):
    path.write_text("".join(f"{row}\n" for row in rows))
    return path


# ---- VoxCeleb2 -------------------------------------------------------------------------------

def test_vox2_dev_path_form(vox_tree, tmp_path):
    out = tmp_path / "ssl_train"
    report = prepare_vox2(vox_tree.vox2, "dev", out, text_file=vox_tree.text)
    assert report == [f"{out}: 3 of 3 face-tracks, 2 of 2 speakers",
                      f"{vox_tree.vox2}/vox2_meta.csv: not found; no spk2gender",
                      f"{vox_tree.vox2}/dev/txt: not found; no utt2av_offset"]
    utts = list(vox_tree.vox2_tracks["dev"])
    base = vox_tree.vox2 / "dev"
    assert lines(out / "wav.scp") == [f"{u} {base}/aac/{u}.m4a" for u in utts]
    assert lines(out / "video.scp") == [f"{u} {base}/mp4/{u}.mp4" for u in utts]
    assert lines(out / "utt2spk") == [f"{u} {u[:7]}" for u in utts]
    assert lines(out / "spk2utt") == [f"id00001 {utts[0]} {utts[1]}", f"id00002 {utts[2]}"]
    assert lines(out / "text") == [f"{u} HELLO WORLD {i}" for i, u in enumerate(utts)]
    assert sorted(p.name for p in out.iterdir()) == \
        ["spk2utt", "text", "utt2spk", "video.scp", "wav.scp"]
    validate_data_dir(out, need_video=True)


def test_vox2_test_pipe_form_without_text(vox_tree, tmp_path):
    out = tmp_path / "ssl_test"
    prepare_vox2(vox_tree.vox2, "test", out, audio="pipe")
    m4a = vox_tree.vox2 / "test" / "aac" / "id09000/DDDDDDDDDDD/00001.m4a"
    assert lines(out / "wav.scp")[0] == (f"id09000/DDDDDDDDDDD/00001 ffmpeg -nostdin -v error "
                                         f"-i {m4a} -f wav -ac 1 -ar 16000 - |")
    assert not (out / "text").exists()
    validate_data_dir(out, need_video=True)


def test_vox2_wav_form_converts_once(vox_tree, tmp_path):
    out, wav_dir = tmp_path / "ssl_train", tmp_path / "wav"
    prepare_vox2(vox_tree.vox2, "dev", out, audio="wav", wav_dir=wav_dir, nj=2)
    utts = list(vox_tree.vox2_tracks["dev"])
    assert lines(out / "wav.scp") == [f"{u} {wav_dir}/{u}.wav" for u in utts]
    for utt, (_, audio_s, _) in vox_tree.vox2_tracks["dev"].items():
        with wave.open(str(wav_dir / f"{utt}.wav")) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            # Decoded AAC runs a little past the source (dump crops it to the video).
            assert 0 <= w.getnframes() - 16000 * audio_s < 2048
    validate_data_dir(out, need_video=True)
    before = {p: p.stat().st_mtime_ns for p in wav_dir.rglob("*")}
    prepare_vox2(vox_tree.vox2, "dev", out, audio="wav", wav_dir=wav_dir)
    assert {p: p.stat().st_mtime_ns for p in wav_dir.rglob("*")} == before
    assert not list(wav_dir.rglob(".*.tmp"))
    with pytest.raises(DataDirError, match="audio form 'wav' needs a directory"):
        prepare_vox2(vox_tree.vox2, "dev", out, audio="wav")


def test_vox2_meta_and_track_offsets(vox2_full, tmp_path):
    out = tmp_path / "ssl_train"
    report = prepare_vox2(vox2_full, "dev", out)
    assert len(report) == 2
    assert report[1] == (f"{vox2_full}/dev/txt: 3 of 3 tracks (100.0%) have a non-zero "
                         "audio-video offset (data.apply_av_offset re-aligns them)")
    assert lines(out / "spk2gender") == ["id00001 m", "id00002 f"]
    assert lines(out / "utt2av_offset") == ["id00001/AAAAAAAAAAA/00001 1",
                                            "id00001/AAAAAAAAAAA/00002 -2",
                                            "id00002/BBBBBBBBBBB/00001 1"]
    assert validate_data_dir(out)[1] == \
        "files: spk2gender spk2utt utt2av_offset utt2spk video.scp wav.scp"


def test_vox2_sampling_is_seeded_and_per_speaker(vox2_full, tmp_path):
    # id00001 has 2 tracks and id00002 one: half of each, rounded, at least one.
    report = prepare_vox2(vox2_full, "dev", tmp_path / "half", fraction=0.5, seed=3)
    assert report[0] == f"{tmp_path / 'half'}: 2 of 3 face-tracks, 2 of 2 speakers"
    half = lines(tmp_path / "half" / "utt2spk")
    assert [u.split()[1] for u in half] == ["id00001", "id00002"]
    prepare_vox2(vox2_full, "dev", tmp_path / "again", fraction=0.5, seed=3)
    assert lines(tmp_path / "again" / "utt2spk") == half
    # The speaker sample is stage 7's: nested, seeded; asking for more than exist takes all.
    prepare_vox2(vox2_full, "dev", tmp_path / "one", num_speakers=1, seed=3)
    assert len(lines(tmp_path / "one" / "spk2utt")) == 1
    assert lines(tmp_path / "one" / "spk2gender")[0].split()[0] == \
        lines(tmp_path / "one" / "spk2utt")[0].split()[0]
    report = prepare_vox2(vox2_full, "test", tmp_path / "test", num_speakers=120)
    assert report[1] == f"{vox2_full}/test: 120 speakers requested, only 1 there; using all"
    with pytest.raises(DataDirError, match="number of speakers must be >= 0"):
        prepare_vox2(vox2_full, "test", tmp_path / "x", num_speakers=-1)


def test_sample_tracks_rounds_per_speaker_and_ignores_other_speakers():
    utts = [f"a/v{i:02d}/00001" for i in range(10)] + ["b/v00/00001", "b/v01/00001"]
    chosen = sample_tracks(utts, 0.2, seed=0)
    assert sum(u.startswith("a/") for u in chosen) == 2
    assert sum(u.startswith("b/") for u in chosen) == 1  # round(0.4) = 0, at least one
    assert chosen == sorted(chosen) and set(chosen) <= set(utts)
    alone = sample_tracks(utts[:10], 0.2, seed=0)
    assert alone == [u for u in chosen if u.startswith("a/")]
    assert sample_tracks(utts, 1.0, seed=5) == sorted(utts)
    draws = {tuple(sample_tracks(utts, 0.2, seed=s)) for s in range(20)}
    assert len(draws) > 1
    for bad in (0.0, 1.5):
        with pytest.raises(DataDirError, match=r"must be in \(0, 1\]"):
            sample_tracks(utts, bad, seed=0)


def test_vox2_unpaired_files_are_named(tree_copy, tmp_path):
    mp4 = tree_copy / "voxceleb2" / "dev" / "mp4" / "id00002" / "BBBBBBBBBBB" / "00001.mp4"
    mp4.unlink()
    m4a = tree_copy / "voxceleb2" / "dev" / "aac" / "id00002" / "BBBBBBBBBBB" / "00001.m4a"
    with pytest.raises(DataDirError, match=re.escape(f"1 file(s) without their mp4 video: {m4a}")):
        prepare_vox2(tree_copy / "voxceleb2", "dev", tmp_path / "out")
    m4a.unlink()
    (tree_copy / "voxceleb2" / "dev" / "aac" / "id00001" / "AAAAAAAAAAA" / "00002.m4a").unlink()
    with pytest.raises(DataDirError, match=r"without their m4a audio: .*/00002\.mp4"):
        prepare_vox2(tree_copy / "voxceleb2", "dev", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_vox2_text_must_cover_every_utterance(vox_tree, tmp_path):
    text = tmp_path / "text"
    text.write_text("id00001/AAAAAAAAAAA/00001 HI\n")
    with pytest.raises(DataDirError, match=re.escape(f"{text}: no transcript for 2 utterance(s)")):
        prepare_vox2(vox_tree.vox2, "dev", tmp_path / "out", text_file=text)


def test_vox2_meta_must_list_each_speaker_in_its_set(vox2_full, tmp_path):
    meta = vox2_full / "vox2_meta.csv"
    meta.write_text(VOX2_META.replace("id00002 ,n000002 ,f ,dev \n", ""))
    with pytest.raises(DataDirError, match=r"vox2_meta\.csv: no row for speaker\(s\) id00002"):
        prepare_vox2(vox2_full, "dev", tmp_path / "out")
    meta.write_text(VOX2_META.replace("f ,dev", "f ,test"))
    with pytest.raises(DataDirError, match=r"speaker\(s\) id00002 found under dev/ but listed "
                                           r"in Set 'test'"):
        prepare_vox2(vox2_full, "dev", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_vox2_every_track_needs_its_txt(vox2_full, tmp_path):
    (vox2_full / "dev" / "txt" / "id00002" / "BBBBBBBBBBB" / "00001.txt").unlink()
    with pytest.raises(DataDirError, match=re.escape(
            f"{vox2_full}/dev/txt: no txt file for 1 track(s): id00002/BBBBBBBBBBB/00001.txt")):
        prepare_vox2(vox2_full, "dev", tmp_path / "out")


@pytest.mark.parametrize("meta, message", [
    ("VoxCeleb2 ID ,Gender ,Set \nid00001 ,m ,dev\n", None),
    ("\ufeffVoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \r\nid00001 ,n1 ,m ,dev \r\n\n", None),
    ("VoxCeleb2 ID\tVGGFace2 ID\tGender\tSet\n", "meta.csv:1: expected a comma-separated header"),
    ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00001 ,n1 ,m\n",
     "meta.csv:2: expected 4 comma-separated fields, got 3"),
    ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00001 ,n1 ,male ,dev\n",
     "meta.csv:2: speaker 'id00001': Gender 'male' is not m or f"),
    ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00001 ,n1 ,m ,train\n",
     "meta.csv:2: speaker 'id00001': Set 'train' is not dev or test"),
    ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00001 ,n1 ,m ,dev\nid00001 ,n1 ,m ,dev\n",
     "meta.csv:3: speaker 'id00001': a second row"),
    ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid 01 ,n1 ,m ,dev\n",
     "meta.csv:2: VoxCeleb2 ID 'id 01' is empty or contains whitespace"),
])
def test_read_vox2_meta(tmp_path, meta, message):
    path = tmp_path / "meta.csv"
    path.write_text(meta)
    if message is None:
        assert read_vox2_meta(path)["id00001"].gender == "m"
    else:
        with pytest.raises(DataDirError, match=re.escape(f"{path.parent}/{message}")):
            read_vox2_meta(path)


@pytest.mark.parametrize("edit, message", [
    (None, None),
    (("Offset    : \t1", "Offset    : \tone"), "00001.txt:3: Offset 'one' is not an integer"),
    (("Offset    : \t1\n", ""), "00001.txt: no 'Offset : <frames>' line"),
    (("Identity  : \tid00001", "Identity  : \tid00002"),
     "00001.txt:1: Identity 'id00002' differs from the speaker 'id00001'"),
    (("FV Conf   : ", "FV Conf     "), "00001.txt:4: expected a 'Name : value' header line"),
])
def test_read_track_offset(tmp_path, edit, message):
    path = tmp_path / "00001.txt"
    text = track_txt("id00001", "AAAAAAAAAAA")
    path.write_text(text if edit is None else text.replace(*edit))
    if message is None:
        assert read_track_offset(path, "id00001") == 1
    else:
        with pytest.raises(DataDirError, match=re.escape(f"{tmp_path}/{message}")):
            read_track_offset(path, "id00001")
    with pytest.raises(DataDirError, match="nope.txt: file not found"):
        read_track_offset(tmp_path / "nope.txt", "id00001")


# ---- VoxCeleb1 -------------------------------------------------------------------------------

def test_vox1_dev_test_split_and_trials(vox_tree, tmp_path):
    dev, test = tmp_path / "spk_dev", tmp_path / "spk_test"
    report = prepare_vox1(vox_tree.vox1, dev, test, ["O"])
    assert report == [f"{dev}: 3 utterances",
                      f"{test}: 4 utterances (0 of dev speakers, named by the required "
                      "trial lists)",
                      "trials: 4 trials", "trials_O: 4 trials",
                      f"{vox_tree.vox1}/iden_split.txt: not found; no utt2iden_split"]
    wav = vox_tree.vox1 / "wav"
    assert lines(dev / "wav.scp") == [f"{u} {wav}/{u}.wav" for u in vox_tree.vox1_dev]
    assert lines(test / "wav.scp") == [f"{u} {wav}/{u}.wav" for u in vox_tree.vox1_test]
    assert lines(dev / "spk2utt")[1] == "id10002 id10002/HHHHHHHHHHH/00001"  # stray-space row
    assert lines(dev / "spk2gender") == ["id10001 m", "id10002 f"]
    assert lines(test / "spk2gender") == ["id19000 m", "id19001 f"]
    expected = [
        "id19000/IIIIIIIIIII/00001 id19000/JJJJJJJJJJJ/00001 target",
        "id19000/IIIIIIIIIII/00001 id19001/KKKKKKKKKKK/00001 nontarget",
        "id19001/KKKKKKKKKKK/00001 id19001/LLLLLLLLLLL/00001 target",
        "id19001/LLLLLLLLLLL/00001 id19000/JJJJJJJJJJJ/00001 nontarget"]
    assert lines(test / "trials") == expected and lines(test / "trials_O") == expected
    assert not (dev / "trials").exists()
    validate_data_dir(dev)
    validate_data_dir(test)


def test_vox1_lists_given_as_files_keep_their_names(vox_tree, tmp_path):
    extra = tmp_path / "hard.txt"
    extra.write_text(vox_tree.veri_test[0] + "\n")
    prepare_vox1(vox_tree.vox1, tmp_path / "dev", tmp_path / "test", ["veri_test2.txt", extra])
    assert sorted(p.name for p in (tmp_path / "test").glob("trials*")) == ["trials", "trials_hard"]
    assert len(lines(tmp_path / "test" / "trials")) == 4
    assert lines(tmp_path / "test" / "trials_hard") == [
        "id19000/IIIIIIIIIII/00001 id19000/JJJJJJJJJJJ/00001 target"]
    assert validate_data_dir(tmp_path / "test")[-1] == \
        "trials_hard: 1 trials (1 target, 0 nontarget)"


def test_vox1_requested_E_brings_dev_utterances_into_the_test_dir(vox1_full, tmp_path):
    dev, test = tmp_path / "spk_dev", tmp_path / "spk_test"
    report = prepare_vox1(vox1_full, dev, test, ["O", "E"],
                          optional_trials=["O", "E", "H", "O_orig"])
    assert report == [f"{dev}: 3 utterances",
                      f"{test}: 6 utterances (2 of dev speakers, named by the required "
                      "trial lists)",
                      "trials: 4 trials", "trials_E: 2 trials", "trials_O: 4 trials",
                      "trials_O_orig: 4 trials",
                      f"{vox1_full}/list_test_hard2.txt: not found; trials_H skipped"]
    assert lines(test / "trials_E") == [
        "id10001/FFFFFFFFFFF/00001 id10001/GGGGGGGGGGG/00001 target",
        "id10001/FFFFFFFFFFF/00001 id19000/IIIIIIIIIII/00001 nontarget"]
    assert lines(test / "utt2spk")[:2] == ["id10001/FFFFFFFFFFF/00001 id10001",
                                           "id10001/GGGGGGGGGGG/00001 id10001"]
    assert lines(test / "spk2gender") == ["id10001 m", "id19000 m", "id19001 f"]
    assert lines(dev / "utt2iden_split") == ["id10001/FFFFFFFFFFF/00001 train",
                                             "id10001/GGGGGGGGGGG/00001 test",
                                             "id10002/HHHHHHHHHHH/00001 train"]
    assert lines(test / "utt2iden_split")[3] == "id19000/JJJJJJJJJJJ/00001 val"
    assert validate_data_dir(test)[1] == \
        "files: spk2gender spk2utt utt2iden_split utt2spk wav.scp"
    # Not requested, E would need dev utterances the test dir does not hold: skipped, and said.
    report = prepare_vox1(vox1_full, dev, test, ["O"], optional_trials=["E"])
    assert report[-1] == (f"{vox1_full}/list_test_all2.txt: names 2 utterance(s) of dev speakers, "
                          f"which {test} holds only for requested lists; trials_E skipped")
    assert not (test / "trials_E").exists() and len(lines(test / "wav.scp")) == 4


def test_vox1_required_lists_and_set_names(vox_tree, tmp_path):
    with pytest.raises(DataDirError, match=re.escape(
            f"{vox_tree.vox1}/list_test_hard2.txt: not found (trial list 'H' is required)")):
        prepare_vox1(vox_tree.vox1, tmp_path / "dev", tmp_path / "test", ["O", "H"])
    with pytest.raises(DataDirError,
                       match=r"unknown trial set\(s\) X \(expected O, E, H, O_orig\)"):
        prepare_vox1(vox_tree.vox1, tmp_path / "dev", tmp_path / "test", ["O"],
                     optional_trials=["X"])
    assert not (tmp_path / "dev").exists() and not (tmp_path / "test").exists()


@pytest.mark.parametrize("bad_line, message", [
    ("1 id19000/IIIIIIIIIII/00001.wav", "veri_test2.txt:3: expected '<1|0>"),
    ("2 id19000/IIIIIIIIIII/00001.wav id19000/JJJJJJJJJJJ/00001.wav",
     "veri_test2.txt:3: expected '<1|0>"),
    ("1 id19000/IIIIIIIIIII/00001.wav id19000/JJJJJJJJJJJ/00001.flac",
     "veri_test2.txt:3: 'id19000/JJJJJJJJJJJ/00001.flac' is not <spk>/<ytid>/<NNNNN>.wav"),
    ("1 id19000/IIIIIIIIIII/00001.wav id19000/00001.wav",
     "veri_test2.txt:3: 'id19000/00001.wav' is not <spk>/<ytid>/<NNNNN>.wav"),
    ("1 id19000/IIIIIIIIIII/00001.wav id19000/ZZZZZZZZZZZ/00001.wav",
     "veri_test2.txt:3: utterance 'id19000/ZZZZZZZZZZZ/00001' is not on disk"),
])
def test_vox1_bad_trial_lines_name_the_line(tree_copy, tmp_path, vox_tree, bad_line, message):
    write_lines(tree_copy / "voxceleb1" / "veri_test2.txt", vox_tree.veri_test[:2] + [bad_line])
    with pytest.raises(DataDirError, match=re.escape(f"{tree_copy}/voxceleb1/{message}")):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", ["O"])
    assert not (tmp_path / "dev").exists() and not (tmp_path / "test").exists()


def test_read_official_trials(tmp_path, vox_tree):
    path = write_lines(tmp_path / "veri_test2.txt", vox_tree.veri_test[:2] + [""])
    assert read_official_trials(path) == [
        (1, Trial("id19000/IIIIIIIIIII/00001", "id19000/JJJJJJJJJJJ/00001", "target")),
        (2, Trial("id19000/IIIIIIIIIII/00001", "id19001/KKKKKKKKKKK/00001", "nontarget"))]
    path.write_text("\n")
    with pytest.raises(DataDirError, match="veri_test2.txt: no trials"):
        read_official_trials(path)
    path.write_bytes(b"1 id1/a/1.wav id1/b/1.wav\n0 id1/a/1.wav id2/\xff/1.wav\n")
    with pytest.raises(DataDirError, match="veri_test2.txt:2: not valid UTF-8"):
        read_official_trials(path)


def test_vox1_meta_problems(tree_copy, tmp_path):
    meta = tree_copy / "voxceleb1" / "vox1_meta.csv"
    rows = lines(meta)
    write_lines(meta, rows[:-1])
    with pytest.raises(DataDirError, match=r"vox1_meta\.csv: no row for speaker\(s\) id19001"):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", [])
    write_lines(meta, rows[:-1] + [rows[-1].replace("test", "tset")])
    with pytest.raises(DataDirError, match=r"vox1_meta\.csv:5: speaker 'id19001': Set 'tset' is "
                                           r"not dev or test"):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", [])
    write_lines(meta, rows[:-1] + [rows[-1].replace("\tIreland", "")])
    with pytest.raises(DataDirError, match=r"vox1_meta\.csv:5: expected 5 tab-separated fields"):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", [])
    write_lines(meta, [rows[0].replace("Nationality", "Country")] + rows[1:])
    with pytest.raises(DataDirError, match=r"vox1_meta\.csv:1: expected a tab-separated header "
                                           r"with columns 'VoxCeleb1 ID', 'Gender', 'Set', "
                                           r"'Nationality'"):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", [])


def test_read_vox1_meta_fields(vox_tree):
    meta = read_vox1_meta(vox_tree.vox1 / "vox1_meta.csv")
    assert [(m.subset, m.gender, m.nationality) for m in meta.values()] == [
        ("dev", "m", "UK"), ("dev", "f", "USA"), ("test", "m", "UK"), ("test", "f", "Ireland")]


@pytest.mark.parametrize("edit, message", [
    (("3 id10001/G", "4 id10001/G"),
     "iden_split.txt:2: expected '<1|2|3> <spk>/<ytid>/<NNNNN>.wav'"),
    (("3 id10001/GGGGGGGGGGG/00001.wav", "3 id10001/GGGGGGGGGGG/00001.m4a"),
     "iden_split.txt:2: 'id10001/GGGGGGGGGGG/00001.m4a' is not <spk>/<ytid>/<NNNNN>.wav"),
    (("1 id10002/HHHHHHHHHHH", "1 id10001/FFFFFFFFFFF"),
     "iden_split.txt:3: utterance 'id10001/FFFFFFFFFFF/00001' is listed twice"),
    (("GGGGGGGGGGG", "ZZZZZZZZZZZ"), "iden_split.txt:2: utterance 'id10001/ZZZZZZZZZZZ/00001' "
                                     "is not on disk"),
    (("1 id10002/HHHHHHHHHHH/00001.wav\n", ""), "iden_split.txt: no line for 1 utterance(s) on "
                                                "disk: id10002/HHHHHHHHHHH/00001"),
])
def test_vox1_bad_iden_split_lines_are_named(vox1_full, tmp_path, edit, message):
    path = vox1_full / "iden_split.txt"
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(DataDirError, match=re.escape(f"{vox1_full}/{message}")):
        prepare_vox1(vox1_full, tmp_path / "dev", tmp_path / "test", ["O"])


def test_read_iden_split(vox1_full):
    assert read_iden_split(vox1_full / "iden_split.txt")[:2] == [
        (1, "id10001/FFFFFFFFFFF/00001", "train"), (2, "id10001/GGGGGGGGGGG/00001", "test")]


# ---- the command line ------------------------------------------------------------------------

def test_cli_writes_dirs_and_reports_errors(vox_tree, tmp_path):
    run = [sys.executable, "-m", "xmodal.bin.prepare_voxceleb"]
    ok = subprocess.run([*run, "vox2", "--root", str(vox_tree.vox2), "--subset", "dev",
                         "--out-dir", str(tmp_path / "d"), "--audio", "pipe", "--fraction", "0.5",
                         "--num-speakers", "1", "--seed", "1"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith(f"{tmp_path / 'd'}: 1 of 3 face-tracks, "
                                                       "1 of 2 speakers\n")
    ok = subprocess.run([*run, "vox1", "--root", str(vox_tree.vox1), "--dev-dir",
                         str(tmp_path / "dev"), "--test-dir", str(tmp_path / "test"),
                         "--trials", "O", "--optional-trials", "E"], capture_output=True, text=True)
    assert ok.returncode == 0 and (tmp_path / "test" / "trials_O").is_file()
    assert "list_test_all2.txt: not found; trials_E skipped" in ok.stdout
    bad = subprocess.run([*run, "vox2", "--root", str(tmp_path / "none"), "--subset", "dev",
                          "--out-dir", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr and "none/dev/aac: not found" in bad.stderr


def test_vox1_transcripts(vox_tree, tmp_path):
    """--text gives both dirs a text table; an utterance without a transcript is named."""
    utts = sorted(vox_tree.vox1_dev + vox_tree.vox1_test)
    text = write_lines(tmp_path / "text", [f"{u} SAID {i}" for i, u in enumerate(utts)])
    dev, test = tmp_path / "spk_dev", tmp_path / "spk_test"
    prepare_vox1(vox_tree.vox1, dev, test, ["O"], text_file=text)
    assert lines(dev / "text") == [f"{u} SAID {utts.index(u)}" for u in vox_tree.vox1_dev]
    assert lines(test / "text") == [f"{u} SAID {utts.index(u)}" for u in vox_tree.vox1_test]
    validate_data_dir(dev)
    write_lines(text, [f"{u} SAID" for u in utts[1:]])
    with pytest.raises(DataDirError, match=f"text: no transcript for 1 utterance.*'{utts[0]}'"):
        prepare_vox1(vox_tree.vox1, tmp_path / "d2", tmp_path / "t2", ["O"], text_file=text)
    assert not (tmp_path / "d2").exists()
