"""Kaldi tables: strict reading (errors name path:line and key), sorted atomic writing, splits."""
from __future__ import annotations

import re

import pytest

from xmodal.data.datadir import (DataDir, DataDirError, DataDirTables, Trial, read_table,
                                 read_trials, spk2utt_to_utt2spk, split_data_dir,
                                 utt2spk_to_spk2utt, write_data_dir, write_table)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_table_round_trip_sorted_in_c_order(tmp_path):
    table = {"b-2": "x y", "B-1": "/p/B.wav", "a-1": "ffmpeg -i a.m4a - |"}
    write_table(tmp_path / "t", table)
    # C order puts upper case before lower case, unlike most locales.
    assert (tmp_path / "t").read_text() == "B-1 /p/B.wav\na-1 ffmpeg -i a.m4a - |\nb-2 x y\n"
    assert read_table(tmp_path / "t") == table
    assert list(read_table(tmp_path / "t")) == ["B-1", "a-1", "b-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no temporary left behind


@pytest.mark.parametrize("text, message", [
    ("b x\na y\n", "t:2: key 'a' is out of order after 'b'"),
    ("a x\na y\n", "t:2: key 'a' is a duplicate"),
    ("a x\nb\tc y\n", "t:2: key 'b\\tc' contains a tab"),
    ("a x\nb\n", "t:2: key 'b' has no value"),
    ("a x\n\nb y\n", "t:2: empty line"),
    ("a x\r\n", "t:1: carriage return"),
    (" a x\n", "t:1: line starts with whitespace"),
])
def test_read_table_names_line_and_key(tmp_path, text, message):
    with pytest.raises(DataDirError, match="^" + re.escape(str(tmp_path / message))):
        read_table(write(tmp_path / "t", text))


def test_read_table_missing_file(tmp_path):
    with pytest.raises(DataDirError, match="file not found"):
        read_table(tmp_path / "nope")


def test_write_table_rejects_bad_keys(tmp_path):
    with pytest.raises(DataDirError, match="key 'a b'"):
        write_table(tmp_path / "t", {"a b": "x"})
    with pytest.raises(DataDirError, match="key 'a'"):
        write_table(tmp_path / "t", {"a": " "})
    assert not (tmp_path / "t").exists()


def test_utt2spk_spk2utt_conversion():
    utt2spk = {"s1-b": "s1", "s1-a": "s1", "s2-a": "s2"}
    spk2utt = utt2spk_to_spk2utt(utt2spk)
    assert spk2utt == {"s1": "s1-a s1-b", "s2": "s2-a"}
    assert spk2utt_to_utt2spk(spk2utt) == {"s1-a": "s1", "s1-b": "s1", "s2-a": "s2"}
    with pytest.raises(DataDirError, match="'s1-a' is listed under both 's1' and 's2'"):
        spk2utt_to_utt2spk({"s1": "s1-a", "s2": "s1-a"})


def test_read_trials(tmp_path):
    path = write(tmp_path / "trials", "a b target\na c nontarget\n")
    assert read_trials(path) == [Trial("a", "b", "target"), Trial("a", "c", "nontarget")]
    write(path, "a b target\na c maybe\n")
    with pytest.raises(DataDirError, match=r"trials:2: expected '<enroll> <test> target\|nontarget'"):
        read_trials(path)


def small_tables() -> DataDirTables:
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in (1, 2) for u in (1, 2, 3)}
    utt2spk.pop("s2-u3")
    return DataDirTables(utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk),
                         wav={u: f"/w/{u}.wav" for u in utt2spk},
                         text={u: "HELLO" for u in utt2spk},
                         trials={"trials": [Trial("s1-u1", "s2-u1", "nontarget")]})


def test_load_reads_optional_files_and_requires_the_rest(tmp_path):
    write_data_dir(tmp_path / "d", small_tables())
    loaded = DataDir(tmp_path / "d").load()
    assert loaded == small_tables()
    assert loaded.video is None and loaded.feats is None
    (tmp_path / "d" / "spk2utt").unlink()
    with pytest.raises(DataDirError, match="spk2utt: required file missing"):
        DataDir(tmp_path / "d").load()


def test_speaker_genders_follow_their_speakers(tmp_path):
    tables = small_tables()
    tables.spk2gender = {"s1": "m", "s2": "f"}
    tables.utt2av_offset = {u: "0" for u in tables.utt2spk}
    write_data_dir(tmp_path / "d", tables)
    loaded = DataDir(tmp_path / "d").load()
    assert loaded == tables
    part = loaded.subset(["s2-u1"])
    assert part.spk2gender == {"s2": "f"} and part.utt2av_offset == {"s2-u1": "0"}


def test_write_data_dir_replaces_the_whole_dir(tmp_path):
    (tmp_path / "d" / "split9").mkdir(parents=True)
    write_data_dir(tmp_path / "d", small_tables())
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == \
        ["spk2utt", "text", "trials", "utt2spk", "wav.scp"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_split_contiguous_sorted_parts(tmp_path):
    write_data_dir(tmp_path / "d", small_tables())
    split_root = split_data_dir(tmp_path / "d", 2)
    assert split_root == tmp_path / "d" / "split2"
    part1, part2 = (DataDir(split_root / str(j)).load() for j in (1, 2))
    assert list(part1.utt2spk) == ["s1-u1", "s1-u2", "s1-u3"]
    assert list(part2.utt2spk) == ["s2-u1", "s2-u2"]
    assert part2.spk2utt == {"s2": "s2-u1 s2-u2"} and list(part2.wav) == list(part2.utt2spk)
    assert part1.trials == {} and not (split_root / "1" / "trials").exists()
    # Speakers may span parts; sizes differ by at most one, larger parts first.
    split3 = split_data_dir(tmp_path / "d", 3)
    assert [list(DataDir(split3 / str(j)).load().utt2spk) for j in (1, 2, 3)] == \
        [["s1-u1", "s1-u2"], ["s1-u3", "s2-u1"], ["s2-u2"]]
    with pytest.raises(DataDirError, match="cannot split 5 utterances into 6 parts"):
        split_data_dir(tmp_path / "d", 6)
