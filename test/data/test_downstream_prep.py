"""Preparation of CREMA-D, RAVDESS and LRW for downstream evaluation: tables, labels,
speaker-disjoint splits, and bad names.

Each test builds its own tiny tree. Audio is real: 0.2 s PCM wav files (written in-process,
no encoder runs). Video files (CREMA-D flv, RAVDESS and LRW mp4) are placeholders holding a
few bytes: the preparer never decodes them (it reads only the first bytes of a CREMA-D file,
to reject git-lfs pointers), and the validator checks only that they exist and are not empty.
One LRW test encodes a real clip, to show its wav.scp pipe decodes.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from xmodal.bin.prepare_downstream import main
from xmodal.data.audio_io import read_audio
from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.downstream_prep import (CREMA_FRACTIONS, RAVDESS_FRACTIONS, SPLITS,
                                         prepare_crema_d, prepare_lrw, prepare_ravdess,
                                         prepare_speaker_id, speaker_splits)
from xmodal.data.validate import validate_data_dir
from xmodal.synth.media import write_wav

PLACEHOLDER = b"not media: never decoded by the preparer\n"
# Ten actors, two clips each: 70/10/20 of the actors is 7/1/2.
CREMA_ACTORS = [str(a) for a in range(1001, 1011)]
CREMA_CLIPS = [("DFA", "ANG", "XX", "angry"), ("IEO", "HAP", "HI", "happy")]
# Six actors (odd male), two speech clips each; actor 01 also sang one.
RAV_ACTORS = [f"{a:02d}" for a in range(1, 7)]
RAV_CLIPS = [("06", "01", "02", "01", "fearful"), ("01", "01", "01", "02", "neutral")]
LRW_CLIPS = {"train": 2, "val": 1, "test": 1}
LRW_WORDS = ["ABOUT", "ABSOLUTELY"]


def tone(path, rate=16000, seconds=0.2, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    write_wav(path, 0.3 * np.sin(2 * np.pi * freq * t), sample_rate=rate)


def placeholder(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PLACEHOLDER)


def lrw_txt(word, duration="0.27"):
    """An LRW clip's txt: the Text line the preparer reads, then lines it ignores."""
    return f"Text:  {word}\nConf:  4\n\nDuration: {duration} seconds\n"


def lines(path):
    return path.read_text().splitlines()


def speakers_of(split_dir):
    return set(read_table(split_dir / "spk2utt"))


@pytest.fixture
def crema(tmp_path):
    """CREMA-D: AudioWAV/*.wav and VideoFlash/*.flv for every clip."""
    root = tmp_path / "CREMA-D"
    for i, actor in enumerate(CREMA_ACTORS):
        for sentence, emotion, level, _ in CREMA_CLIPS:
            stem = f"{actor}_{sentence}_{emotion}_{level}"
            tone(root / "AudioWAV" / f"{stem}.wav", freq=300 + 20 * i)
            placeholder(root / "VideoFlash" / f"{stem}.flv")
    return root


@pytest.fixture
def ravdess(tmp_path):
    """RAVDESS: the audio-only speech and song archives unpacked into one root (both unpack
    into Actor_NN/), and each actor's speech video archive unpacked into its own dir."""
    root = tmp_path / "RAVDESS"
    for actor in RAV_ACTORS:
        for emotion, intensity, statement, repetition, _ in RAV_CLIPS:
            fields = f"{emotion}-{intensity}-{statement}-{repetition}-{actor}"
            tone(root / f"Actor_{actor}" / f"03-01-{fields}.wav", rate=48000)
            for modality in ("01", "02"):
                placeholder(root / f"Video_Speech_Actor_{actor}" / f"Actor_{actor}"
                            / f"{modality}-01-{fields}.mp4")
    tone(root / "Actor_01" / "03-02-03-01-01-01-01.wav", rate=48000)  # song
    return root


@pytest.fixture
def lrw(tmp_path):
    """LRW: lipread_mp4/<WORD>/<split>/<WORD>_<NNNNN>.{mp4,txt}."""
    root = tmp_path / "LRW"
    for word in LRW_WORDS:
        for split, n in LRW_CLIPS.items():
            for i in range(1, n + 1):
                clip = root / "lipread_mp4" / word / split / f"{word}_{i:05d}"
                placeholder(clip.with_suffix(".mp4"))
                clip.with_suffix(".txt").write_text(lrw_txt(word))
    return root


# ---- CREMA-D ---------------------------------------------------------------------------------

def test_crema_d_tables_labels_and_split(crema, tmp_path):
    out = tmp_path / "crema_d"
    report = prepare_crema_d(crema, out)
    assert report == [f"{out}/train: 14 utterances, 7 speakers, 2 labels",
                      f"{out}/valid: 2 utterances, 1 speakers, 2 labels",
                      f"{out}/test: 4 utterances, 2 speakers, 2 labels",
                      "speaker split: seeded (seed 0), train/valid/test 7/1/2 of 10 speakers"]
    split_of = read_table(out / "split_speakers")
    assert sorted(split_of) == [f"crema{a}" for a in CREMA_ACTORS]
    for split in SPLITS:
        d = out / split
        assert sorted(p.name for p in d.iterdir()) == ["spk2utt", "utt2label", "utt2spk",
                                                       "wav.scp"]
        assert speakers_of(d) == {s for s, v in split_of.items() if v == split}
        for spk in speakers_of(d):
            actor = spk[len("crema"):]
            utts = [f"{spk}-{actor}_{s}_{e}_{lv}" for s, e, lv, _ in CREMA_CLIPS]
            assert read_table(d / "spk2utt")[spk] == " ".join(utts)
            assert [read_table(d / "utt2label")[u] for u in utts] == \
                [label for *_, label in CREMA_CLIPS]
            assert read_table(d / "wav.scp")[utts[0]] == \
                f"{crema}/AudioWAV/{actor}_DFA_ANG_XX.wav"
        assert validate_data_dir(d)[0] == \
            f"{d}: {len(lines(d / 'utt2spk'))} utterances, {len(speakers_of(d))} speakers"
        assert list(read_table(d / "utt2label")) == list(read_table(d / "utt2spk"))


def test_crema_d_with_video(crema, tmp_path):
    out = tmp_path / "crema_d"
    prepare_crema_d(crema, out, with_video=True)
    video = read_table(out / "train" / "video.scp")
    assert all(v == f"{crema}/VideoFlash/{u.split('-', 1)[1]}.flv" for u, v in video.items())
    for split in SPLITS:
        validate_data_dir(out / split, need_video=True)
    (crema / "VideoFlash" / "1003_IEO_HAP_HI.flv").unlink()
    with pytest.raises(DataDirError, match=re.escape(
            f"{crema}/VideoFlash: no flv for 1 utterance(s), e.g. 1003_IEO_HAP_HI.flv")):
        prepare_crema_d(crema, tmp_path / "again", with_video=True)
    placeholder(crema / "VideoFlash" / "1003_IEO_HAP_HI.flv")
    placeholder(crema / "VideoFlash" / "1003_IEO_SAD_HI.flv")
    with pytest.raises(DataDirError, match=re.escape(
            f"{crema}/VideoFlash/1003_IEO_SAD_HI.flv: no AudioWAV/1003_IEO_SAD_HI.wav")):
        prepare_crema_d(crema, tmp_path / "again", with_video=True)
    assert not (tmp_path / "again").exists()
    # Without video, VideoFlash is not read.
    prepare_crema_d(crema, tmp_path / "again")
    assert not (tmp_path / "again" / "train" / "video.scp").exists()


def test_crema_d_git_lfs_pointer_is_named(crema, tmp_path):
    wav = crema / "AudioWAV" / "1002_DFA_ANG_XX.wav"
    wav.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 72862\n")
    with pytest.raises(DataDirError, match=re.escape(f"{wav}: a git-lfs pointer, not media")):
        prepare_crema_d(crema, tmp_path / "out")


# ---- RAVDESS ---------------------------------------------------------------------------------

def test_ravdess_speech_tables_gender_and_video(ravdess, tmp_path):
    out = tmp_path / "ravdess"
    report = prepare_ravdess(ravdess, out, with_video=True)
    assert report[3:] == ["speaker split: seeded (seed 0), train/valid/test 4/1/1 of 6 speakers",
                          f"{ravdess}: skipped 1 song file(s) (vocal channel 02)"]
    split_of = read_table(out / "split_speakers")
    # Dealt alternately by gender (f first): test and valid get one of each.
    assert sorted(int(s[3:]) % 2 for s, v in split_of.items() if v != "train") == [0, 1]
    all_utts = {}
    for split in SPLITS:
        d = out / split
        validate_data_dir(d, need_video=True)
        assert read_table(d / "spk2gender") == \
            {s: "m" if int(s[3:]) % 2 else "f" for s in speakers_of(d)}
        all_utts.update(read_table(d / "utt2label"))
        wav, video = read_table(d / "wav.scp"), read_table(d / "video.scp")
        for utt in wav:
            spk, stem = utt.split("-", 1)
            actor = spk[3:]
            assert wav[utt] == f"{ravdess}/Actor_{actor}/{stem}.wav"
            assert video[utt] == (f"{ravdess}/Video_Speech_Actor_{actor}/Actor_{actor}/"
                                  f"01{stem[2:]}.mp4")
    assert len(all_utts) == 2 * len(RAV_ACTORS)
    assert all_utts["rav03-03-01-06-01-02-01-03"] == "fearful"
    assert all_utts["rav03-03-01-01-01-01-02-03"] == "neutral"
    # The wav is 48 kHz; read as wav.scp is read, it comes out at 16 kHz.
    assert read_audio(f"{ravdess}/Actor_03/03-01-06-01-02-01-03.wav")[0].shape == (3200,)


def test_ravdess_without_video_and_missing_video(ravdess, tmp_path):
    prepare_ravdess(ravdess, tmp_path / "audio")
    assert not (tmp_path / "audio" / "train" / "video.scp").exists()
    mp4 = ravdess / "Video_Speech_Actor_04" / "Actor_04" / "01-01-01-01-01-02-04.mp4"
    mp4.unlink()
    with pytest.raises(DataDirError, match=re.escape(
            f"{ravdess}: no full-AV mp4 for 1 utterance(s), e.g. Video_Speech_Actor_04/Actor_04/"
            "01-01-01-01-01-02-04.mp4")):
        prepare_ravdess(ravdess, tmp_path / "out", with_video=True)
    placeholder(mp4)
    (ravdess / "Actor_04" / "03-01-01-01-01-02-04.wav").unlink()
    with pytest.raises(DataDirError, match=re.escape(f"{mp4}: no audio-only Actor_04/")):
        prepare_ravdess(ravdess, tmp_path / "out", with_video=True)


# ---- LRW -------------------------------------------------------------------------------------

def test_lrw_official_splits_self_speakers_and_labels(lrw, tmp_path):
    out = tmp_path / "lrw"
    report = prepare_lrw(lrw, out, with_video=True)
    assert report[:3] == [f"{out}/train: 4 utterances, 4 speakers, 2 labels",
                          f"{out}/valid: 2 utterances, 2 speakers, 2 labels",
                          f"{out}/test: 2 utterances, 2 speakers, 2 labels"]
    assert "utt2spk maps each utterance to itself" in report[3]
    assert not (out / "split_speakers").exists()
    assert lines(out / "valid" / "utt2label") == ["lrw-val-ABOUT_00001 ABOUT",
                                                  "lrw-val-ABSOLUTELY_00001 ABSOLUTELY"]
    mp4 = lrw / "lipread_mp4" / "ABOUT" / "train" / "ABOUT_00002.mp4"
    train = out / "train"
    assert read_table(train / "utt2spk")["lrw-train-ABOUT_00002"] == "lrw-train-ABOUT_00002"
    assert read_table(train / "video.scp")["lrw-train-ABOUT_00002"] == str(mp4)
    assert read_table(train / "wav.scp")["lrw-train-ABOUT_00002"] == (
        f"ffmpeg -nostdin -v error -i {mp4} -f wav -ac 1 -ar 16000 - |")
    for split in SPLITS:
        validate_data_dir(out / split, need_video=True)
    # Audio only by default: the downstream tasks embed the audio.
    prepare_lrw(lrw, tmp_path / "audio")
    assert not (tmp_path / "audio" / "train" / "video.scp").exists()
    assert read_table(tmp_path / "audio" / "train" / "wav.scp") == read_table(train / "wav.scp")


def test_lrw_pipe_decodes_a_real_clip(lrw, tmp_path, media_maker):
    """29 frames at 25 fps: 1.16 s of audio through the wav.scp pipe."""
    mp4 = lrw / "lipread_mp4" / "ABOUT" / "test" / "ABOUT_00001.mp4"
    mp4.unlink()
    media_maker.track(mp4, tmp_path / "audio.m4a", 1.16, 1.16, 440)
    prepare_lrw(lrw, tmp_path / "lrw")
    pipe = read_table(tmp_path / "lrw" / "test" / "wav.scp")["lrw-test-ABOUT_00001"]
    audio, rate = read_audio(pipe)
    # Decoded AAC may run a little past the source.
    assert rate == 16000 and 0 <= len(audio) - 18560 < 2048


# ---- splits ----------------------------------------------------------------------------------

def test_default_fractions_on_the_real_speaker_counts():
    crema = speaker_splits({f"crema{a}": "all" for a in range(1001, 1092)}, CREMA_FRACTIONS, 0)
    assert [sum(v == s for v in crema.values()) for s in SPLITS] == [64, 9, 18]
    genders = {f"rav{a:02d}": "m" if a % 2 else "f" for a in range(1, 25)}
    rav = speaker_splits(genders, RAVDESS_FRACTIONS, 0)
    for split, n in zip(SPLITS, (16, 4, 4)):
        chosen = [s for s, v in rav.items() if v == split]
        assert len(chosen) == n and sum(genders[s] == "m" for s in chosen) == n // 2
    with pytest.raises(DataDirError, match=r"2 speaker\(s\) are too few"):
        speaker_splits({"a": "all", "b": "all"}, CREMA_FRACTIONS, 0)
    for bad in ((0.5, 0.5), (0.8, 0.0, 0.2), (0.7, 0.2, 0.2)):
        with pytest.raises(DataDirError, match="three positive numbers"):
            speaker_splits(genders, bad, 0)


def test_splits_are_speaker_disjoint_and_seeded(crema, tmp_path):
    prepare_crema_d(crema, tmp_path / "a", seed=3)
    prepare_crema_d(crema, tmp_path / "b", seed=3)
    assert lines(tmp_path / "a" / "split_speakers") == lines(tmp_path / "b" / "split_speakers")
    per_split = [speakers_of(tmp_path / "a" / s) for s in SPLITS]
    assert sum(len(s) for s in per_split) == len(set().union(*per_split)) == len(CREMA_ACTORS)
    draws = set()
    for seed in range(6):
        prepare_crema_d(crema, tmp_path / "c", seed=seed)
        draws.add(tuple(lines(tmp_path / "c" / "split_speakers")))
    assert len(draws) > 1
    prepare_crema_d(crema, tmp_path / "d", fractions=(0.4, 0.3, 0.3))
    assert [len(speakers_of(tmp_path / "d" / s)) for s in SPLITS] == [4, 3, 3]


def test_split_file_is_honoured(ravdess, tmp_path):
    chosen = {"rav01": "test", "rav02": "valid", "rav03": "train", "rav04": "train",
              "rav05": "train", "rav06": "test"}
    split_file = tmp_path / "published.txt"
    split_file.write_text("".join(f"{s} {v}\n" for s, v in reversed(chosen.items())))
    out = tmp_path / "ravdess"
    report = prepare_ravdess(ravdess, out, split_file=split_file, seed=99)
    assert report[3] == f"speaker split: from {split_file}"
    assert read_table(out / "split_speakers") == dict(sorted(chosen.items()))
    for split in SPLITS:
        assert speakers_of(out / split) == {s for s, v in chosen.items() if v == split}
    # The written split_speakers reproduces the split.
    prepare_ravdess(ravdess, tmp_path / "again", split_file=out / "split_speakers")
    assert lines(tmp_path / "again" / "test" / "utt2spk") == lines(out / "test" / "utt2spk")


@pytest.mark.parametrize("content, message", [
    ("rav01 test\nrav07 train\n", "published.txt:2: speaker 'rav07' is not in the corpus"),
    ("rav01 test\nrav02 dev\n", "published.txt:2: speaker 'rav02': split 'dev' is not train, "
                                "valid or test"),
    ("rav01 test\nrav02 valid\nrav03 train\n",
     "published.txt: no line for 3 speaker(s) of the corpus, e.g. 'rav04'"),
    ("".join(f"rav{a:02d} train\n" for a in range(1, 6)) + "rav06 test\n",
     "published.txt: no speakers in split(s) valid"),
    ("rav01 test\nrav01 train\n", "published.txt:2: key 'rav01' is a duplicate"),
])
def test_bad_split_file_names_file_and_line(ravdess, tmp_path, content, message):
    split_file = tmp_path / "published.txt"
    split_file.write_text(content)
    with pytest.raises(DataDirError, match=re.escape(f"{tmp_path}/{message}")):
        prepare_ravdess(ravdess, tmp_path / "out", split_file=split_file)
    assert not (tmp_path / "out").exists()


# ---- bad names and empty corpora -------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("1001_DFA_ANG.wav", "expected <actor>_<sentence>_<emotion>_<level>, got 3"),
    ("1001_DFA_ANG_XX_2.wav", "expected <actor>_<sentence>_<emotion>_<level>, got 5"),
    ("1092_DFA_ANG_XX.wav", "actor '1092' is not 1001-1091"),
    ("0999_DFA_ANG_XX.wav", "actor '0999' is not 1001-1091"),
    ("101_DFA_ANG_XX.wav", "actor '101' is not 1001-1091"),
    ("1001_ABC_ANG_XX.wav", "sentence 'ABC' is not one of IEO TIE"),
    ("1001_DFA_SUR_XX.wav", "emotion 'SUR' is not one of ANG DIS FEA HAP NEU SAD"),
    ("1040_ITH_SAD_X.wav", "level 'X' is not one of LO MD HI XX"),
])
def test_crema_d_bad_names_are_named(crema, tmp_path, name, message):
    tone(crema / "AudioWAV" / name)
    with pytest.raises(DataDirError, match=re.escape(f"{crema}/AudioWAV/{name}: {message}")):
        prepare_crema_d(crema, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where, name, message", [
    ("Actor_02", "03-01-06-01-02-01.wav", "expected seven two-digit fields"),
    ("Actor_02", "03-01-06-01-02-01-2.wav", "expected seven two-digit fields"),
    ("Actor_02", "03-01-09-01-02-01-02.wav", "emotion '09' is not 01-08"),
    ("Actor_02", "03-01-01-02-02-01-02.wav", "intensity 02 (strong) with emotion 01 (neutral)"),
    ("Actor_02", "03-01-06-03-02-01-02.wav", "intensity '03' is not 01 (normal) or 02"),
    ("Actor_02", "03-01-06-01-02-01-05.wav", "actor 05 is not the actor of its dir Actor_02"),
    ("Actor_02", "03-03-06-01-02-01-02.wav", "vocal channel '03' is not 01 (speech) or 02"),
    ("Actor_02", "01-01-06-01-02-01-02.wav", "modality '01' is not 03"),
    ("Video_Speech_Actor_02/Actor_02", "03-01-06-01-02-01-02.mp4", "modality '03' is not 01 or 02"),
    ("Video_Speech_Actor_02/Actor_02", "01-01-06-01-02-01-25.mp4", "actor '25' is not 01-24"),
    ("Video_Speech_Actor_02/Actor_02", "01-01-06-01-02-01-03.mp4",
     "actor 03 is not the actor of its dir Video_Speech_Actor_02"),
    ("Video_Speech_Actor_02/Actor_02", "01-02-03-01-01-01-02.mp4",
     "vocal channel '02' (song) in a speech video archive"),
])
def test_ravdess_bad_names_are_named(ravdess, tmp_path, where, name, message):
    path = ravdess / where / name
    if path.suffix == ".wav":
        tone(path, rate=48000)
    else:
        placeholder(path)
    with pytest.raises(DataDirError, match=re.escape(f"{path}: {message}")):
        prepare_ravdess(ravdess, tmp_path / "out", with_video=True)
    assert not (tmp_path / "out").exists()


def test_ravdess_bad_actor_dirs(ravdess, tmp_path):
    shutil.move(ravdess / "Video_Speech_Actor_06", ravdess / "Video_Speech_Actor_6")
    with pytest.raises(DataDirError, match=re.escape(
            f"{ravdess}/Video_Speech_Actor_6: expected Video_Speech_Actor_NN with NN 01-24")):
        prepare_ravdess(ravdess, tmp_path / "out", with_video=True)
    shutil.move(ravdess / "Actor_06", ravdess / "Actor_25")
    with pytest.raises(DataDirError, match=re.escape(f"{ravdess}/Actor_25: expected Actor_NN")):
        prepare_ravdess(ravdess, tmp_path / "out")


@pytest.mark.parametrize("break_it, culprit, message", [
    (lambda c: c.rename(c.with_name("ABOUT_7.mp4")), "ABOUT_7.mp4",
     "expected ABOUT_<NNNNN>.mp4 (the word of its dir)"),
    (lambda c: c.rename(c.with_name("ABOVE_00001.mp4")), "ABOVE_00001.mp4",
     "expected ABOUT_<NNNNN>.mp4"),
    (lambda c: c.with_suffix(".txt").write_text(lrw_txt("ABOVE")), "ABOUT_00001.txt",
     "word 'ABOVE' differs from 'ABOUT' (its dir and file name)"),
    (lambda c: c.with_suffix(".txt").write_text("Conf:  4\n"), "ABOUT_00001.txt",
     "expected one 'Text: <WORD>' line, found 0"),
    (lambda c: c.with_suffix(".txt").unlink(), "ABOUT_00001.txt",
     "not found (every LRW clip has a txt naming its word)"),
    (lambda c: c.unlink(), "ABOUT_00001.txt", "no mp4 beside this txt"),
])
def test_lrw_bad_clips_are_named(lrw, tmp_path, break_it, culprit, message):
    clip = lrw / "lipread_mp4" / "ABOUT" / "val" / "ABOUT_00001.mp4"
    break_it(clip)
    if culprit.endswith(".mp4") and culprit != clip.name:
        # A renamed clip takes its txt along, so only the name is wrong.
        clip.with_suffix(".txt").rename(clip.with_name(culprit).with_suffix(".txt"))
    with pytest.raises(DataDirError, match=re.escape(f"{clip.parent / culprit}: {message}")):
        prepare_lrw(lrw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_lrw_word_dir_must_be_a_word(lrw, tmp_path):
    shutil.move(lrw / "lipread_mp4" / "ABOUT", lrw / "lipread_mp4" / "About")
    with pytest.raises(DataDirError, match=re.escape(
            f"{lrw}/lipread_mp4/About/train/ABOUT_00001.mp4: word dir 'About' is not an "
            "upper-case word")):
        prepare_lrw(lrw, tmp_path / "out")


def test_empty_or_missing_corpora_name_the_dir(tmp_path):
    (tmp_path / "crema" / "AudioWAV").mkdir(parents=True)
    with pytest.raises(DataDirError, match=re.escape(f"{tmp_path}/crema/AudioWAV: no .wav files")):
        prepare_crema_d(tmp_path / "crema", tmp_path / "out")
    with pytest.raises(DataDirError, match=re.escape(f"{tmp_path}/none/AudioWAV: not found")):
        prepare_crema_d(tmp_path / "none", tmp_path / "out")
    with pytest.raises(DataDirError, match=re.escape(f"{tmp_path}/none: no Actor_NN dirs")):
        prepare_ravdess(tmp_path / "none", tmp_path / "out")
    tone(tmp_path / "rav" / "Actor_01" / "03-02-03-01-01-01-01.wav", rate=48000)
    with pytest.raises(DataDirError, match=re.escape(
            f"{tmp_path}/rav: no speech files (vocal channel 01) under Actor_NN/")):
        prepare_ravdess(tmp_path / "rav", tmp_path / "out")
    with pytest.raises(DataDirError, match=re.escape(f"{tmp_path}/none/lipread_mp4: not found")):
        prepare_lrw(tmp_path / "none", tmp_path / "out")
    clip = tmp_path / "lrw" / "lipread_mp4" / "ABOUT" / "train" / "ABOUT_00001.mp4"
    placeholder(clip)
    clip.with_suffix(".txt").write_text(lrw_txt("ABOUT"))
    with pytest.raises(DataDirError, match=re.escape(
            f"{tmp_path}/lrw/lipread_mp4: no <WORD>/val/<WORD>_<NNNNN>.mp4 files")):
        prepare_lrw(tmp_path / "lrw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failed_run_leaves_the_previous_output(crema, tmp_path):
    out = tmp_path / "crema_d"
    prepare_crema_d(crema, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    tone(crema / "AudioWAV" / "1001_DFA_ANG_ZZ.wav")
    with pytest.raises(DataDirError, match="level 'ZZ'"):
        prepare_crema_d(crema, out, seed=5)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---- the command line ------------------------------------------------------------------------

def test_cli(crema, lrw, tmp_path, capsys):
    ok = subprocess.run([sys.executable, "-m", "xmodal.bin.prepare_downstream", "crema_d",
                         "--root", str(crema), "--out-dir", str(tmp_path / "c"), "--seed", "1",
                         "--with-video"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == \
        "speaker split: seeded (seed 1), train/valid/test 7/1/2 of 10 speakers"
    assert (tmp_path / "c" / "test" / "video.scp").is_file()
    assert main(["lrw", "--root", str(lrw), "--out-dir", str(tmp_path / "l")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path}/l/train: 4 utterances")
    split_file = tmp_path / "split"
    split_file.write_text("crema1001 train\n")
    assert main(["crema_d", "--root", str(crema), "--out-dir", str(tmp_path / "x"),
                 "--split-file", str(split_file)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {split_file}: no line for 9 speaker(s)")
    assert main(["ravdess", "--root", str(tmp_path / "none"), "--out-dir", str(tmp_path / "x"),
                 "--fractions", "0.5", "0.5", "0.5"]) == 1
    assert capsys.readouterr().err.startswith("error: split fractions must be three positive")
    assert not (tmp_path / "x").exists()


# ---- VoxCeleb1 identification -----------------------------------------------------------------

def iden_dir(path, speakers, splits):
    """A VoxCeleb1-style data dir: utterance j of each speaker in identification split
    ``splits[j]``."""
    from xmodal.data.datadir import DataDir, DataDirTables, utt2spk_to_spk2utt
    utt2spk, iden = {}, {}
    for spk in speakers:
        for j, split in enumerate(splits):
            key = f"{spk}/vid{j}/{j + 1:05d}"
            utt2spk[key], iden[key] = spk, split
    wav = {k: str(path.parent / "wav" / f"{k}.wav") for k in utt2spk}
    for audio in wav.values():
        tone(Path(audio))
    DataDir(path).write(DataDirTables(
        utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk), wav=wav, utt2iden_split=iden))
    return path


def test_speaker_id_follows_the_iden_split_with_speakers_as_labels(tmp_path):
    dev = iden_dir(tmp_path / "spk_dev", ["id10001", "id10002"], ["train", "train", "val", "test"])
    test = iden_dir(tmp_path / "spk_test", ["id19000"], ["train", "test", "val"])
    # An utterance in two dirs (the VoxCeleb recipe's spk_test holds E/H dev utterances).
    extra = iden_dir(tmp_path / "extra", ["id10002"], ["train", "train", "val", "test"])
    assert main(["speaker_id", "--data-dir", str(dev), "--data-dir", str(test), "--data-dir",
                 str(extra), "--out-dir", str(tmp_path / "sid")]) == 0
    out = tmp_path / "sid"
    assert lines(out / "test" / "utt2label") == ["id10001/vid3/00004 id10001",
                                                 "id10002/vid3/00004 id10002",
                                                 "id19000/vid1/00002 id19000"]
    assert len(read_table(out / "train" / "utt2label")) == 5
    assert read_table(out / "valid" / "wav.scp")["id19000/vid2/00003"] == str(
        tmp_path / "wav" / "id19000/vid2/00003.wav")
    for split in SPLITS:
        validate_data_dir(out / split)


def test_speaker_id_is_closed_set_and_needs_the_split(tmp_path):
    dev = iden_dir(tmp_path / "a", ["id10001"], ["val", "test"])
    with pytest.raises(DataDirError, match="speaker 'id10001' has valid utterances but none "
                       "to train on"):
        prepare_speaker_id([dev], tmp_path / "out")
    (dev / "utt2iden_split").unlink()
    with pytest.raises(DataDirError, match=f"{dev / 'utt2iden_split'}: file not found"):
        prepare_speaker_id([dev], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_training_sets_can_leave_the_identification_test_out(tmp_path):
    dev = iden_dir(tmp_path / "spk_dev", ["id10001", "id10002"], ["train", "val", "test"])
    assert main(["exclude_iden_test", "--data-dir", str(dev), "--out-dir",
                 str(tmp_path / "trainable")]) == 0
    kept = read_table(tmp_path / "trainable" / "utt2spk")
    assert sorted(kept) == ["id10001/vid0/00001", "id10001/vid1/00002", "id10002/vid0/00001",
                            "id10002/vid1/00002"]
    assert set(read_table(tmp_path / "trainable" / "utt2iden_split").values()) == {"train",
                                                                                   "val"}
    validate_data_dir(tmp_path / "trainable")
