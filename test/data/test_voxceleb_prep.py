"""Preparation from the official VoxCeleb layouts: exact outputs, pipe form, and bad inputs."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from xmodal.data.datadir import DataDirError
from xmodal.data.validate import validate_data_dir
from xmodal.data.voxceleb_prep import prepare_vox1, prepare_vox2


@pytest.fixture
def tree_copy(vox_tree, tmp_path):
    """A private copy of the tree, for tests that break it."""
    return shutil.copytree(vox_tree.root, tmp_path / "tree")


def lines(path):
    return path.read_text().splitlines()


def test_vox2_dev_path_form(vox_tree, tmp_path):
    out = tmp_path / "ssl_train"
    assert prepare_vox2(vox_tree.vox2, "dev", out, text_file=vox_tree.text) == 3
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


def test_vox1_dev_test_split_and_trials(vox_tree, tmp_path):
    dev, test = tmp_path / "spk_dev", tmp_path / "spk_test"
    assert prepare_vox1(vox_tree.vox1, dev, test, ["veri_test2.txt"]) == (3, 4)
    wav = vox_tree.vox1 / "wav"
    assert lines(dev / "wav.scp") == [f"{u} {wav}/{u}.wav" for u in vox_tree.vox1_dev]
    assert lines(test / "wav.scp") == [f"{u} {wav}/{u}.wav" for u in vox_tree.vox1_test]
    assert lines(dev / "spk2utt")[1] == "id10002 id10002/HHHHHHHHHHH/00001"  # stray-space row
    assert lines(test / "trials") == [
        "id19000/IIIIIIIIIII/00001 id19000/JJJJJJJJJJJ/00001 target",
        "id19000/IIIIIIIIIII/00001 id19001/KKKKKKKKKKK/00001 nontarget",
        "id19001/KKKKKKKKKKK/00001 id19001/LLLLLLLLLLL/00001 target",
        "id19001/LLLLLLLLLLL/00001 id19000/JJJJJJJJJJJ/00001 nontarget"]
    assert not (dev / "trials").exists()
    validate_data_dir(dev)
    validate_data_dir(test)


def test_vox1_several_trial_lists(vox_tree, tmp_path):
    extra = tmp_path / "hard.txt"
    extra.write_text(vox_tree.veri_test[0] + "\n")
    prepare_vox1(vox_tree.vox1, tmp_path / "dev", tmp_path / "test", ["veri_test2.txt", extra])
    assert len(lines(tmp_path / "test" / "trials")) == 4
    assert lines(tmp_path / "test" / "trials_hard") == [
        "id19000/IIIIIIIIIII/00001 id19000/JJJJJJJJJJJ/00001 target"]
    assert validate_data_dir(tmp_path / "test")[-1] == "trials_hard: 1 trials (1 target, 0 nontarget)"


@pytest.mark.parametrize("bad_line, message", [
    ("1 id19000/IIIIIIIIIII/00001.wav", "veri_test2.txt:3: expected '<1|0>"),
    ("2 id19000/IIIIIIIIIII/00001.wav id19000/JJJJJJJJJJJ/00001.wav",
     "veri_test2.txt:3: expected '<1|0>"),
    ("1 id19000/IIIIIIIIIII/00001.wav id19000/ZZZZZZZZZZZ/00001.wav",
     "veri_test2.txt:3: utterance 'id19000/ZZZZZZZZZZZ/00001' is not on disk"),
    ("0 id19000/IIIIIIIIIII/00001.wav id10001/FFFFFFFFFFF/00001.wav",
     "veri_test2.txt:3: utterance 'id10001/FFFFFFFFFFF/00001' belongs to a dev speaker"),
])
def test_vox1_bad_trial_lines_name_the_line(tree_copy, tmp_path, vox_tree, bad_line, message):
    trials = tree_copy / "voxceleb1" / "veri_test2.txt"
    trials.write_text("\n".join(vox_tree.veri_test[:2] + [bad_line]) + "\n")
    with pytest.raises(DataDirError, match=re.escape(f"{tree_copy}/voxceleb1/{message}")):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test",
                     ["veri_test2.txt"])
    assert not (tmp_path / "dev").exists() and not (tmp_path / "test").exists()


def test_vox1_meta_problems(tree_copy, tmp_path):
    meta = tree_copy / "voxceleb1" / "vox1_meta.csv"
    rows = lines(meta)
    meta.write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(DataDirError, match=r"vox1_meta\.csv: no row for speaker\(s\) id19001"):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", [])
    meta.write_text("\n".join(rows[:-1] + [rows[-1].replace("test", "tset")]) + "\n")
    with pytest.raises(DataDirError, match=r"vox1_meta\.csv:5: expected 5 tab-separated fields"):
        prepare_vox1(tree_copy / "voxceleb1", tmp_path / "dev", tmp_path / "test", [])


def test_cli_writes_dirs_and_reports_errors(vox_tree, tmp_path):
    run = [sys.executable, "-m", "xmodal.bin.prepare_voxceleb"]
    ok = subprocess.run([*run, "vox2", "--root", str(vox_tree.vox2), "--subset", "dev",
                         "--out-dir", str(tmp_path / "d"), "--audio", "pipe"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == f"{tmp_path / 'd'}: 3 utterances\n"
    ok = subprocess.run([*run, "vox1", "--root", str(vox_tree.vox1), "--dev-dir",
                         str(tmp_path / "dev"), "--test-dir", str(tmp_path / "test"),
                         "--trials", "veri_test2.txt"], capture_output=True, text=True)
    assert ok.returncode == 0 and (tmp_path / "test" / "trials").is_file()
    bad = subprocess.run([*run, "vox2", "--root", str(tmp_path / "none"), "--subset", "dev",
                          "--out-dir", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr and "none/dev/aac: not found" in bad.stderr
