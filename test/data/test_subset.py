"""Speaker subsets of a data dir: nesting, seeded determinism, restricted sorted tables, errors."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xmodal.data.datadir import (DataDir, DataDirError, DataDirTables, Trial, read_table,
                                 utt2spk_to_spk2utt, write_data_dir)
from xmodal.data.subset import choose_speakers, hold_out_speakers, subset_data_dir

REPO = Path(__file__).resolve().parents[2]
SPEAKERS = [f"id{n:05d}" for n in (7, 3, 12, 1, 9, 5, 20, 2)]
PER_UTT_FILES = ("wav.scp", "utt2spk", "text", "video.scp", "utt2num_frames")


@pytest.fixture
def source(tmp_path) -> Path:
    """8 speakers with 1-3 utterances each, every per-utterance file, and a trials list."""
    utt2spk = {f"{spk}/vid{v}/00001": spk for i, spk in enumerate(SPEAKERS)
               for v in range(1 + i % 3)}
    tables = DataDirTables(
        utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk),
        wav={u: f"/wav/{u}.wav" for u in utt2spk}, video={u: f"/mp4/{u}.mp4" for u in utt2spk},
        text={u: f"words of {u}" for u in utt2spk},
        utt2num_frames={u: str(50 + len(u)) for u in utt2spk},
        trials={"trials": [Trial(*sorted(utt2spk)[:2], "nontarget")]})
    write_data_dir(tmp_path / "src", tables)
    return tmp_path / "src"


def speakers_of(data_dir: Path) -> list[str]:
    return list(read_table(data_dir / "spk2utt"))


def test_subsets_of_growing_size_are_nested(source, tmp_path):
    chosen = [set(subset_data_dir(source, tmp_path / f"n{n}", n, seed=3)) for n in (2, 5, 8)]
    assert chosen[0] < chosen[1] < chosen[2] == set(SPEAKERS)
    assert [len(c) for c in chosen] == [2, 5, 8]
    assert set(speakers_of(tmp_path / "n5")) == chosen[1]


def test_same_seed_same_subset_other_seeds_differ(source, tmp_path):
    subset_data_dir(source, tmp_path / "a", 3, seed=11)
    subset_data_dir(source, tmp_path / "b", 3, seed=11)
    for name in PER_UTT_FILES + ("spk2utt",):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    picks = {tuple(choose_speakers(SPEAKERS, 3, seed)) for seed in range(10)}
    assert len(picks) > 1


def test_per_utterance_files_restricted_and_sorted(source, tmp_path):
    speakers = subset_data_dir(source, tmp_path / "sub", 3, seed=0)
    src, sub = DataDir(source).load(), DataDir(tmp_path / "sub").load()
    keep = sorted(u for u, s in src.utt2spk.items() if s in speakers)
    for name in PER_UTT_FILES:
        table = read_table(tmp_path / "sub" / name)  # read_table rejects unsorted keys
        assert list(table) == keep
        assert table == {u: v for u, v in read_table(source / name).items() if u in keep}
    assert sub.spk2utt == {s: src.spk2utt[s] for s in sorted(speakers)}
    assert not (tmp_path / "sub" / "trials").exists()


def test_all_speakers_and_too_many(source, tmp_path):
    assert subset_data_dir(source, tmp_path / "all", 0) == sorted(SPEAKERS)
    assert read_table(tmp_path / "all" / "wav.scp") == read_table(source / "wav.scp")
    with pytest.raises(DataDirError, match="cannot choose 9 speakers: the data dir has only 8"):
        subset_data_dir(source, tmp_path / "x", 9)
    assert not (tmp_path / "x").exists()


def test_cli(source, tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    def run(*args):
        return subprocess.run(["utils/subset_data_dir.sh", *args], cwd=REPO, env=env,
                              capture_output=True, text=True)

    ok = run("--num-spk", "all", "--seed", "4", str(source), str(tmp_path / "all"))
    assert ok.returncode == 0, ok.stderr
    assert speakers_of(tmp_path / "all") == sorted(SPEAKERS)
    budget = run("--num-spk", "4", "--num-utt", "4", str(source), str(tmp_path / "budget"))
    assert budget.returncode == 0, budget.stderr
    assert "4 speakers, 4 utterances" in budget.stderr
    assert sorted(len(u) for u in utts_per_speaker(tmp_path / "budget").values()) == [1, 1, 1, 1]
    bad = run("--num-spk", "10", str(source), str(tmp_path / "x"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ")
    assert "10 speakers" in bad.stderr and "only 8" in bad.stderr


@pytest.fixture
def budget_source(tmp_path) -> Path:
    """6 speakers with 6 utterances each (3 videos x 2)."""
    utt2spk = {f"id{s:05d}/vid{v}/{u:05d}": f"id{s:05d}" for s in range(1, 7)
               for v in range(3) for u in (1, 2)}
    write_data_dir(tmp_path / "budget", DataDirTables(
        utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk),
        wav={u: f"/wav/{u}.wav" for u in utt2spk}))
    return tmp_path / "budget"


def utts_per_speaker(data_dir: Path) -> dict[str, set[str]]:
    return {spk: set(utts.split()) for spk, utts in read_table(data_dir / "spk2utt").items()}


def test_utterance_budgets_spread_over_the_speakers_and_nest(budget_source, tmp_path):
    """The paper's kind of budgets: more speakers and more utterances each, nested."""
    sub = [subset_data_dir(budget_source, tmp_path / f"b{n}", n, seed=1, num_utt=m)
           for n, m in ((2, 4), (4, 10), (6, 24))]
    counts = [sorted(len(u) for u in utts_per_speaker(tmp_path / f"b{n}").values())
              for n in (2, 4, 6)]
    assert counts == [[2, 2], [2, 2, 3, 3], [4, 4, 4, 4, 4, 4]]
    assert sub[1] == choose_speakers(list(read_table(budget_source / "spk2utt")), 4, 1)
    small, mid, large = (utts_per_speaker(tmp_path / f"b{n}") for n in (2, 4, 6))
    for inner, outer in ((small, mid), (mid, large)):
        assert all(inner[spk] <= outer[spk] for spk in inner)
    # The utterances are a seeded choice, not each speaker's first ones.
    for seed in (1, 2):
        subset_data_dir(budget_source, tmp_path / f"s{seed}", 6, seed=seed, num_utt=12)
    s1, s2 = (utts_per_speaker(tmp_path / f"s{seed}") for seed in (1, 2))
    assert s1 != s2
    assert s1 != {spk: set(sorted(utts)[:2]) for spk, utts in large.items()}


def test_a_sample_of_tracks_over_all_speakers(budget_source, tmp_path):
    """--num-spk all --num-utt M: M utterances of M different speakers when M <= speakers
    (the training-set mean used for scoring comes from such a sample)."""
    speakers = subset_data_dir(budget_source, tmp_path / "mean", 0, seed=0, num_utt=4)
    assert len(speakers) == 4 and len(read_table(tmp_path / "mean" / "wav.scp")) == 4
    subset_data_dir(budget_source, tmp_path / "everything", 0, seed=0, num_utt=0)
    assert len(read_table(tmp_path / "everything" / "wav.scp")) == 36


def test_budgets_that_cannot_be_met_name_the_speaker(source, tmp_path):
    """``source``'s speakers have 1-3 utterances: 15 utterances give most a quota of 2, and one with 1 fails."""
    with pytest.raises(DataDirError, match=r"speaker id\d{5} has 1, fewer than its quota of 2"):
        subset_data_dir(source, tmp_path / "x", 0, seed=0, num_utt=15)
    with pytest.raises(DataDirError, match="cannot choose 16 utterances: the 8 speakers have only 15"):
        subset_data_dir(source, tmp_path / "x", 0, seed=0, num_utt=16)
    assert not (tmp_path / "x").exists()


def test_held_out_speakers_are_kept_apart_whole(source, tmp_path):
    """The calibration split: N speakers with all their utterances on one side, every other
    speaker on the other; none on both; the same N as the first N of a subset's permutation."""
    held = hold_out_speakers(source, tmp_path / "rest", tmp_path / "cal", 3, seed=0)
    assert held == speakers_of(tmp_path / "cal") == choose_speakers(speakers_of(source), 3, 0)
    rest = speakers_of(tmp_path / "rest")
    assert not set(rest) & set(held) and sorted(rest + held) == speakers_of(source)
    src, cal, other = (DataDir(d).load() for d in (source, tmp_path / "cal", tmp_path / "rest"))
    assert {**cal.utt2spk, **other.utt2spk} == src.utt2spk
    assert set(cal.text) | set(other.text) == set(src.text) and not cal.trials
    for num_spk in (0, len(speakers_of(source))):
        with pytest.raises(DataDirError, match="need at least one on each side"):
            hold_out_speakers(source, tmp_path / "r2", tmp_path / "c2", num_spk)
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.hold_out_speakers", "--num-spk",
                           "3", str(source), str(tmp_path / "r3"), str(tmp_path / "c3")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert speakers_of(tmp_path / "c3") == held
