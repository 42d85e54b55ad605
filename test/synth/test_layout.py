"""VoxCeleb list files: trials balanced, targets across videos, official line formats."""
import re
from pathlib import Path

import numpy as np

from xmodal.synth.layout import (Track, make_iden_split, make_trials, make_ytid, speaker_id,
                                 write_vox1_lists, write_vox1_meta, write_vox2_meta)


def tracks(n_spk=4, n_vid=3, n_utt=2):
    rng = np.random.default_rng(1)
    out = []
    for s in range(n_spk):
        for _ in range(n_vid):
            ytid = make_ytid(rng)
            out += [Track("vox1_test", speaker_id("vox1_test", s), ytid, u + 1) for u in range(n_utt)]
    return out


def test_ids_and_paths():
    assert speaker_id("vox1_dev", 0) == "id10001" and speaker_id("vox2_dev", 11) == "id00012"
    t = Track("vox2_dev", "id00012", "21Uxsk56VDQ", 3)
    assert t.key == "id00012/21Uxsk56VDQ/00003"
    paths = t.paths(Path("/c"))
    assert paths["mp4"] == Path("/c/voxceleb2/dev/mp4/id00012/21Uxsk56VDQ/00003.mp4")
    assert paths["aac"] == Path("/c/voxceleb2/dev/aac/id00012/21Uxsk56VDQ/00003.m4a")
    assert Track("vox1_test", "id19000", "x" * 11, 1).paths(Path("/c"))["wav"] == \
        Path("/c/voxceleb1/wav/id19000/xxxxxxxxxxx/00001.wav")
    assert re.fullmatch(r"[A-Za-z0-9_-]{11}", make_ytid(np.random.default_rng(0)))


def test_trials_balanced_and_targets_from_other_videos():
    ts = tracks()
    lines = make_trials(ts, 3, np.random.default_rng(0))
    # No trial twice, not even as its mirror image (enrol and test swapped).
    assert len({frozenset(line.split()[1:]) for line in lines}) == len(lines)
    labels = [int(line.split()[0]) for line in lines]
    assert labels.count(1) == labels.count(0) > 0
    for line in lines:
        label, a, b = line.split()
        assert a.endswith(".wav") and b.endswith(".wav")
        spk_a, vid_a, _ = a.split("/")
        spk_b, vid_b, _ = b.split("/")
        assert (spk_a == spk_b) == (label == "1")
        if label == "1":
            assert vid_a != vid_b


def test_hard_trials_pair_speakers_of_one_group():
    groups = {"id19000": "f-UK", "id19001": "f-UK", "id19002": "m-UK", "id19003": "f-USA"}
    lines = make_trials(tracks(), 3, np.random.default_rng(0), groups)
    labels = [line.split()[0] for line in lines]
    assert labels.count("1") == labels.count("0") > 0
    for line in lines:
        _, a, b = line.split()
        assert groups[a.split("/")[0]] == groups[b.split("/")[0]]
        # Speakers alone in their group enrol nothing.
        assert a.split("/")[0] in ("id19000", "id19001")


def test_vox1_lists_skip_a_list_without_trials(tmp_path):
    ts = tracks()
    groups = {t.spk: t.spk for t in ts}  # nobody shares a group: no hard trials
    counts = write_vox1_lists(tmp_path, ts, ts, groups, 2, np.random.default_rng(0))
    assert counts["list_test_hard2.txt"] == 0 and counts["veri_test2.txt"] > 0
    assert sorted(p.name for p in (tmp_path / "voxceleb1").iterdir()) == \
        ["iden_split.txt", "list_test_all2.txt", "veri_test.txt", "veri_test2.txt"]


def test_iden_split_marks_one_test_and_one_val_video_per_speaker():
    lines = make_iden_split(tracks())
    splits = {}
    for line in lines:
        split, key = line.split()
        splits.setdefault(key.split("/")[0], set()).add((split, key.split("/")[1]))
    for videos in splits.values():
        assert sorted(s for s, _ in videos) == ["1", "2", "3"]


def test_meta_formats(tmp_path):
    write_vox1_meta(tmp_path, [("id10002", "f", "en-029", "test"), ("id10001", "m", "en-us", "dev")])
    lines = (tmp_path / "voxceleb1" / "vox1_meta.csv").read_text().splitlines()
    assert lines[0].split("\t") == ["VoxCeleb1 ID", "VGGFace1 ID", "Gender", "Nationality", "Set"]
    assert lines[1].split("\t")[0::2] == ["id10001", "m", "dev"]
    assert lines[2].split("\t")[3:] == ["Jamaica", "test"]
    write_vox2_meta(tmp_path, [("id00001", "m", "dev")])
    assert (tmp_path / "voxceleb2" / "vox2_meta.csv").read_text().splitlines()[1] == \
        "id00001 ,n000001 ,m ,dev "
