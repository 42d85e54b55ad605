"""Synthetic CREMA-D, RAVDESS and LRW: the real readers accept them and agree with their labels;
designs, clips, new identities, determinism, the completion marker and bad specs."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import wave
from collections import Counter
from pathlib import Path

import av
import pytest

from xmodal.data.datadir import read_table
from xmodal.data.downstream_prep import SPLITS, prepare_crema_d, prepare_lrw, prepare_ravdess
from xmodal.data.validate import validate_data_dir
from xmodal.data.video_io import read_video
from xmodal.synth import layout
from xmodal.synth.corpus import CorpusSpec, sample_identity
from xmodal.synth.downstream_corpora import (CREMA_SENTENCES, LRW_SPLITS, LRW_VOCABULARY,
                                             RAVDESS_STATEMENTS, DownstreamSpec, crema_files,
                                             lrw_identities, plan_downstream, ravdess_files,
                                             ravdess_identities, synthesize_utt)

# Four actors per emotion corpus (the readers' speaker split needs three), four LRW words.
TINY = {"seed": 3, "size": 32, "crema_actors": 4, "crema_utts_per_actor": 6,
        "ravdess_actors": 4, "ravdess_utts_per_actor": 8, "lrw_words": 4,
        "lrw_train_speakers": 3, "lrw_val_speakers": 2, "lrw_test_speakers": 2,
        "lrw_train_clips": 2, "lrw_val_clips": 1, "lrw_test_clips": 1}
# Smaller still, for generating twice; no RAVDESS at all.
TINIER = {"seed": 5, "size": 32, "crema_actors": 3, "crema_utts_per_actor": 2,
          "ravdess_actors": 0, "lrw_words": 2, "lrw_train_speakers": 1, "lrw_val_speakers": 1,
          "lrw_test_speakers": 1, "lrw_train_clips": 1, "lrw_val_clips": 1, "lrw_test_clips": 1}


def cli_args(spec: dict) -> list[str]:
    return [x for k, v in spec.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def make(root: Path, spec: dict, nj: int = 1) -> str:
    """Run the real CLI (in a process of its own: forking workers from the test process, which
    runs threads, can deadlock); return its stdout."""
    return subprocess.run([sys.executable, "-m", "xmodal.bin.make_downstream_corpora", "--out",
                           str(root), "--nj", str(nj), *cli_args(spec)],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, str]:
    """The tiny corpora, generated once; (root, the CLI's stdout)."""
    root = tmp_path_factory.mktemp("downstream")
    return root, make(root, TINY)


def factors(root: Path, corpus: str) -> list[dict]:
    with open(root / corpus / "factors.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def prepared(out: Path) -> dict[str, dict[str, str]]:
    """Table name -> its entries over the three prepared splits (each validated)."""
    tables: dict[str, dict[str, str]] = {}
    for split in SPLITS:
        validate_data_dir(out / split, need_video=True)
        for name in ("utt2label", "video.scp", "utt2spk"):
            tables.setdefault(name, {}).update(read_table(out / split / name))
    return tables


def files_under(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "downstream_log.json"}


def test_the_cli_reports_one_line_per_corpus(corpora):
    root, stdout = corpora
    done = json.loads((root / "downstream.json").read_text())["corpora"]
    n_lrw_speakers = len({r["speaker"] for r in factors(root, "lrw")})
    assert stdout.splitlines() == [
        f"crema_d: 24 utterances, 4 speakers, {done['crema_d']['hours']} h in {root}/crema_d",
        f"ravdess: 32 utterances, 4 speakers, {done['ravdess']['hours']} h in {root}/ravdess",
        f"lrw: 16 utterances, {n_lrw_speakers} speakers, {done['lrw']['hours']} h in {root}/lrw"]


def test_crema_d_is_read_by_the_real_reader_with_the_written_labels(corpora, tmp_path):
    root, _ = corpora
    prepare_crema_d(root / "crema_d", tmp_path / "crema", with_video=True)
    tables = prepared(tmp_path / "crema")
    rows = factors(root, "crema_d")
    keys = {f"crema{Path(r['file']).stem[:4]}-{Path(r['file']).stem}": r for r in rows}
    assert tables["utt2label"] == {k: r["emotion"] for k, r in keys.items()}
    assert tables["utt2spk"] == {k: r["speaker"] for k, r in keys.items()}
    assert tables["video.scp"] == {k: str(root / "crema_d" / r["video"]) for k, r in keys.items()}


def test_ravdess_is_read_by_the_real_reader_with_the_written_labels(corpora, tmp_path):
    root, _ = corpora
    prepare_ravdess(root / "ravdess", tmp_path / "rav", with_video=True)
    tables = prepared(tmp_path / "rav")
    rows = factors(root, "ravdess")
    keys = {f"rav{Path(r['file']).stem[-2:]}-{Path(r['file']).stem}": r for r in rows}
    assert tables["utt2label"] == {k: r["emotion"] for k, r in keys.items()}
    assert tables["video.scp"] == {k: str(root / "ravdess" / r["video"]) for k, r in keys.items()}
    # The reader's genders come from the actor numbers, the written ones from the identities.
    spk2gender = {}
    for split in SPLITS:
        spk2gender.update(read_table(tmp_path / "rav" / split / "spk2gender"))
    assert spk2gender == {r["speaker"]: r["gender"] for r in rows}


def test_lrw_is_read_by_the_real_reader_with_the_written_words(corpora, tmp_path):
    root, _ = corpora
    prepare_lrw(root / "lrw", tmp_path / "lrw", with_video=True)
    tables = prepared(tmp_path / "lrw")
    rows = factors(root, "lrw")
    keys = {f"lrw-{r['split']}-{Path(r['file']).stem}": r for r in rows}
    assert tables["utt2label"] == {k: r["word"] for k, r in keys.items()}
    assert tables["video.scp"] == {k: str(root / "lrw" / r["video"]) for k, r in keys.items()}
    assert set(tables["utt2label"].values()) == set(LRW_VOCABULARY[:TINY["lrw_words"]])


def test_crema_d_design_names_levels_and_balance(corpora):
    names = crema_files()
    # The real corpus' 82 files per actor: IEO at three levels (neutral at XX), the rest at XX.
    assert len(names) == len(set(names)) == 82
    assert {lv for s, e, lv in names if s == "IEO" and e != "NEU"} == {"LO", "MD", "HI"}
    assert {lv for s, e, lv in names if s != "IEO" or e == "NEU"} == {"XX"}
    for n in (7, 82):
        jobs = plan_downstream(DownstreamSpec(crema_actors=3, crema_utts_per_actor=n,
                                              ravdess_actors=0, lrw_words=0), "/unused")
        for actor in ("1001", "1002", "1003"):
            stems = [Path(j.files["wav"]).stem for j in jobs if j.identity.spk == f"crema{actor}"]
            assert len(stems) == len(set(stems)) == n
            counts = Counter(stem.split("_")[2] for stem in stems)
            if n == 7:  # balanced: each emotion once, one of them twice
                assert sorted(counts.values()) == [1, 1, 1, 1, 1, 2]
            else:  # all: 14 files of each emotion (IEO at three levels), 12 neutral
                assert counts == {"NEU": 12, **{e: 14 for e in ("ANG", "DIS", "FEA", "HAP",
                                                                 "SAD")}}
    root, _ = corpora
    rows = factors(root, "crema_d")
    assert len({r["file"] for r in rows}) == len(rows) == 24
    assert {r["level"] for r in rows if r["sentence"] == "IEO" and r["emotion"] != "neutral"} \
        == {"LO", "MD", "HI"}
    for r in rows:
        level = {"LO": 0.5, "MD": 1.0, "HI": 1.5, "XX": 1.0}[r["level"]]
        assert float(r["intensity"]) == (0.0 if r["emotion"] == "neutral" else level)
        assert r["text"] == CREMA_SENTENCES[r["sentence"]]
    # The flv decodes with the toolkit's video reader, as long as its wav.
    for r in rows[:3]:
        frames, fps = read_video(root / "crema_d" / r["video"], 32, gray=False)
        with wave.open(str(root / "crema_d" / r["file"])) as w:
            assert (w.getframerate(), w.getnchannels()) == (16000, 1)
            assert fps == 25.0 and len(frames) * 640 == w.getnframes()


def test_ravdess_design_gender_and_av_pairs(corpora):
    cells = ravdess_files()
    # The real 60 speech files per actor: neutral only at normal intensity.
    assert len(cells) == len(set(cells)) == 60
    assert Counter(c[0] for c in cells) == {"01": 4, **{f"0{e}": 8 for e in range(2, 9)}}
    spec = DownstreamSpec(ravdess_actors=24, crema_actors=0, lrw_words=0)
    assert [(i.spk, i.gender) for i in ravdess_identities(spec)] == \
        [(f"rav{a:02d}", "m" if a % 2 else "f") for a in range(1, 25)]
    assert len({i.voice for i in ravdess_identities(spec)}) == 24
    root, _ = corpora
    rows = factors(root, "ravdess")
    for actor in ("rav01", "rav02", "rav03", "rav04"):
        mine = [r for r in rows if r["speaker"] == actor]
        # Eight files per actor: each emotion once.
        assert sorted(r["emotion"] for r in mine) == sorted(
            ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"])
    for r in rows:
        fields = Path(r["file"]).stem.split("-")
        assert float(r["intensity"]) == {"01": 1.0, "02": 1.6}[fields[3]] * (
            r["emotion"] != "neutral")
        assert r["text"] == RAVDESS_STATEMENTS[fields[4]]
    # The full-AV mp4 carries the audio-only wav's performance.
    for r in rows[:3]:
        with wave.open(str(root / "ravdess" / r["file"])) as w:
            n_samples = w.getnframes()
        frames, fps = read_video(root / "ravdess" / r["video"], 32, gray=False)
        assert fps == 25.0 and len(frames) * 640 == n_samples


def test_lrw_clips_are_29_frames_centred_on_the_word_between_others(corpora):
    root, _ = corpora
    rows = factors(root, "lrw")
    assert len(rows) == TINY["lrw_words"] * 4
    for r in rows:
        mp4 = root / "lrw" / r["file"]
        with av.open(str(mp4)) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert float(v.average_rate) == 25.0 and a.rate == 16000
            assert float(a.duration * a.time_base) == pytest.approx(1.16)
            assert sum(1 for _ in c.decode(v)) == 29
        with av.open(str(mp4)) as c:
            # Decoded AAC runs past the nominal length by less than one 1024-sample frame.
            n = sum(f.samples for f in c.decode(audio=0))
            assert 18560 <= n < 18560 + 1024
        start, end = float(r["word_start"]), float(r["word_end"])
        assert abs((start + end) / 2 - 0.58) <= 0.5 / 25 + 1e-3  # centred to the nearest frame
        assert r["before"] and r["after"]
        words = r["sentence"].split()
        before, after = r["before"].split(), r["after"].split()
        k = words.index(r["word"])
        assert words[k - len(before):k] == before and words[k + 1:k + 1 + len(after)] == after
        txt = mp4.with_suffix(".txt").read_text()
        assert re.fullmatch(rf"Text:  {r['word']}\nConf:  1\n\nDuration: ([0-9.]+) seconds\n",
                            txt)
        assert float(txt.split()[-2]) == pytest.approx(end - start, abs=0.006)
    # Clip numbers restart in every word's split.
    for word in LRW_VOCABULARY[:TINY["lrw_words"]]:
        for split in LRW_SPLITS:
            stems = sorted(p.stem for p in (root / "lrw" / "lipread_mp4" / word / split)
                           .glob("*.mp4"))
            assert stems == [f"{word}_{i:05d}" for i in range(1, TINY[f"lrw_{split}_clips"] + 1)]


def test_a_short_lrw_sentence_gets_more_words_until_the_clip_fits(tmp_path):
    job = [j for j in plan_downstream(DownstreamSpec(**TINIER), tmp_path) if j.corpus == "lrw"][0]
    # One short word either side: too little speech for 1.16 s around the target.
    short = dataclasses.replace(job, root=str(tmp_path), words=("a", job.words[job.target], "a"),
                                target=1)
    result, clip = synthesize_utt(short)
    row = result.factors
    assert len(row["sentence"].split()) > 3 and row["before"] and row["after"]
    assert abs((row["word_start"] + row["word_end"]) / 2 - 0.58) <= 0.5 / 25 + 1e-3
    assert clip.frames.shape[0] == 29 and clip.audio.shape == (18560,)
    assert (tmp_path / job.files["txt"]).read_text().startswith(f"Text:  {row['word']}\n")


def test_speakers_are_new_people_and_lrw_splits_share_none(corpora):
    spec = DownstreamSpec(**TINY)
    people = {"crema_d": {j.identity for j in plan_downstream(
                  DownstreamSpec(**{**TINY, "ravdess_actors": 0, "lrw_words": 0}), "/unused")},
              "ravdess": set(ravdess_identities(spec)),
              **{split: set(lrw_identities(spec, split)) for split in LRW_SPLITS}}
    vox = CorpusSpec(seed=TINY["seed"])
    pretraining = {(i.voice, i.face) for pool in layout.POOLS
                   for i in (sample_identity(vox, pool, k) for k in range(60))}
    seen: set = set()
    for group, idents in people.items():
        looks = {(i.voice, i.face) for i in idents}
        assert len(looks) == len(idents), group
        assert not looks & pretraining, group
        assert not looks & seen, group
        seen |= looks
    root, _ = corpora
    by_split = {s: {r["speaker"] for r in factors(root, "lrw") if r["split"] == s}
                for s in LRW_SPLITS}
    assert all(not by_split[a] & by_split[b] for a in LRW_SPLITS for b in LRW_SPLITS if a < b)


def test_same_bytes_regardless_of_nj_rerun_no_op_other_spec_refused(tmp_path):
    one, two = tmp_path / "nj1", tmp_path / "nj2"
    stdout = make(one, TINIER, nj=1)
    assert "ravdess: not generated" in stdout and not (one / "ravdess").exists()
    make(two, TINIER, nj=2)
    assert files_under(one) == files_under(two)
    assert any(name.endswith(".flv") for name in files_under(one))
    before = {p: p.stat().st_mtime_ns for p in one.rglob("*") if p.is_file()}
    assert make(one, TINIER, nj=2) == stdout
    assert {p: p.stat().st_mtime_ns for p in one.rglob("*") if p.is_file()} == before
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.make_downstream_corpora", "--out",
                           str(one), *cli_args({**TINIER, "seed": 6})],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"other arguments (see {one / 'downstream.json'})" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in one.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("field, value", [
    ("seed", -1), ("size", 17), ("size", 8), ("coupling", 1.5), ("crema_actors", 2),
    ("crema_actors", 92), ("crema_utts_per_actor", 0), ("crema_utts_per_actor", 83),
    ("ravdess_actors", 25), ("ravdess_utts_per_actor", 61), ("lrw_words", 41),
    ("lrw_val_speakers", 0), ("lrw_test_clips", 0)])
def test_bad_spec_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be .*, got {value}$"):
        DownstreamSpec(**{field: value})


def test_the_cli_refuses_a_bad_value_before_writing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.make_downstream_corpora", "--out",
                           str(tmp_path / "x"), "--ravdess-actors", "30"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "ravdess_actors must be" in proc.stderr
    assert not (tmp_path / "x").exists()
