"""The real generator on a tiny corpus: layouts, formats, determinism, AV sync, trials."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from xmodal.synth.corpus import CorpusSpec, plan_jobs


def files_under(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every corpus file except the run log (times vary)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "generation_log.json"}


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.rate
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(stream)]), rate


def decode_frames(path: Path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fps = float(stream.average_rate)
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)]), fps


def test_layout_and_formats(tiny_corpus: Path):
    summary = json.loads((tiny_corpus / "corpus.json").read_text())
    assert {p: v["speakers"] for p, v in summary["pools"].items()} == \
        {"vox2_dev": 3, "vox2_test": 2, "vox1_dev": 2, "vox1_test": 3}
    mp4s = sorted((tiny_corpus / "voxceleb2").glob("*/mp4/id*/*/00001.mp4"))
    assert len(mp4s) == (3 + 2) * 2
    for mp4 in mp4s:
        rel = mp4.relative_to(tiny_corpus / "voxceleb2")
        subset, _, spk, ytid, _ = rel.parts
        assert subset in ("dev", "test") and len(ytid) == 11 and spk.startswith("id0")
        m4a = tiny_corpus / "voxceleb2" / subset / "aac" / spk / ytid / "00001.m4a"
        txt = tiny_corpus / "voxceleb2" / subset / "txt" / spk / ytid / "00001.txt"
        with av.open(str(mp4)) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert v.codec_context.name == "h264" and (v.width, v.height) == (64, 64)
            assert float(v.average_rate) == 25.0
            assert a.codec_context.name == "aac" and a.rate == 16000
        with av.open(str(m4a)) as c:
            assert c.streams.audio[0].codec_context.name == "aac" and not c.streams.video
        frames, _ = decode_frames(mp4)
        audio, rate = decode_audio(m4a)
        # Decoded AAC runs a little past the nominal 640 samples per frame, never short of it.
        assert rate == 16000 and 0 <= len(audio) - 640 * len(frames) < 2048
        assert "Offset    : \t0" in txt.read_text()
    wavs = sorted((tiny_corpus / "voxceleb1" / "wav").glob("id1*/*/*.wav"))
    assert len(wavs) == (2 + 3) * 2
    with wave.open(str(wavs[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)


def test_meta_trials_and_disjoint_identities(tiny_corpus: Path):
    meta = (tiny_corpus / "voxceleb1" / "vox1_meta.csv").read_text().splitlines()
    rows = [line.split("\t") for line in meta[1:]]
    test_spk = {r[0] for r in rows if r[4] == "test"}
    dev_spk = {r[0] for r in rows if r[4] == "dev"}
    assert len(test_spk) == 3 and len(dev_spk) == 2
    vox2 = [line.split(",") for line in
            (tiny_corpus / "voxceleb2" / "vox2_meta.csv").read_text().splitlines()[1:]]
    vox2_dev = {r[0].strip() for r in vox2 if r[3].strip() == "dev"}
    vox2_test = {r[0].strip() for r in vox2 if r[3].strip() == "test"}
    pools = [test_spk, dev_spk, vox2_dev, vox2_test]
    assert sum(len(p) for p in pools) == len(set().union(*pools))

    trials = (tiny_corpus / "voxceleb1" / "veri_test2.txt").read_text().splitlines()
    labels = [t.split()[0] for t in trials]
    assert labels.count("1") == labels.count("0") > 0
    for t in trials:
        _, a, b = t.split()
        assert a.split("/")[0] in test_spk and b.split("/")[0] in test_spk
        assert (tiny_corpus / "voxceleb1" / "wav" / a).exists()
        assert (tiny_corpus / "voxceleb1" / "wav" / b).exists()


def test_E_and_H_lists_built_as_the_official_ones(tiny_corpus: Path):
    vox1 = tiny_corpus / "voxceleb1"
    meta = {r[0]: r for r in (line.split("\t") for line in
                              (vox1 / "vox1_meta.csv").read_text().splitlines()[1:])}
    summary = json.loads((tiny_corpus / "corpus.json").read_text())
    for name in ("veri_test.txt", "list_test_all2.txt", "list_test_hard2.txt"):
        trials = [t.split() for t in (vox1 / name).read_text().splitlines()]
        assert len(trials) == summary["trials"][name] > 0
        assert [t[0] for t in trials].count("1") == [t[0] for t in trials].count("0")
        for label, a, b in trials:
            spk_a, spk_b = a.split("/")[0], b.split("/")[0]
            assert (spk_a == spk_b) == (label == "1")
            if name == "veri_test.txt":
                assert meta[spk_a][4] == meta[spk_b][4] == "test"
            if name == "list_test_hard2.txt":  # same gender and nationality
                assert meta[spk_a][2:4] == meta[spk_b][2:4]
    # E and H pair dev speakers too.
    for name in ("list_test_all2.txt", "list_test_hard2.txt"):
        assert any(meta[t.split()[1].split("/")[0]][4] == "dev"
                   for t in (vox1 / name).read_text().splitlines())


def test_annotations_cover_every_utterance(tiny_corpus: Path):
    ann = tiny_corpus / "annotations"
    text = ann.joinpath("text").read_text().splitlines()
    keys = [line.split()[0] for line in text]
    assert keys == sorted(keys) and len(keys) == 20
    phones = ann.joinpath("phones.ctm").read_text().splitlines()
    assert {p.split()[0] for p in phones} == set(keys)
    factors = ann.joinpath("factors.tsv").read_text().splitlines()
    header = factors[0].split("\t")
    for column in ("utt", "spk", "gender", "accent", "topic", "emotion", "emotion_intensity"):
        assert column in header
    assert len(factors) == 21
    # Word alignments name the transcript's words, in order.
    words = ann.joinpath("words.ctm").read_text().splitlines()
    first = keys[0]
    assert [w.split()[4] for w in words if w.split()[0] == first] == text[0].split()[1:]


def test_same_seed_same_bytes_regardless_of_nj(tiny_corpus: Path, tmp_path: Path,
                                                corpus_factory):
    again = corpus_factory(tmp_path / "again", nj=1)
    assert files_under(again) == files_under(tiny_corpus)


def test_rerun_is_a_no_op_and_other_args_are_refused(tmp_path: Path, corpus_factory):
    root = corpus_factory(tmp_path / "c", "--vox2-dev-speakers", "1", "--vox2-test-speakers", "0",
                       "--vox1-dev-speakers", "0", "--vox1-test-speakers", "0")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")}
    corpus_factory(root, "--vox2-dev-speakers", "1", "--vox2-test-speakers", "0",
                "--vox1-dev-speakers", "0", "--vox1-test-speakers", "0")
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.mp4")} == before
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.make_synth_corpus", "--out-dir",
                           str(root), "--seed", "8"], capture_output=True, text=True)
    assert proc.returncode == 1 and "other arguments" in proc.stderr


def test_bad_arguments_are_clear_errors(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.make_synth_corpus", "--out-dir",
                           str(tmp_path / "x"), "--topic-bias", "2"], capture_output=True, text=True)
    assert proc.returncode == 1 and "topic_bias must be in [0, 1]" in proc.stderr
    assert not (tmp_path / "x").exists()


def mouth_and_energy(mp4: Path, m4a: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mouth opening (dark pixels in the mouth box) and audio RMS energy."""
    frames, _ = decode_frames(mp4)
    size = frames.shape[1]
    box = frames[:, int(0.62 * size):int(0.86 * size), int(0.36 * size):int(0.64 * size)]
    opening = (box.mean(axis=-1) < 70).mean(axis=(1, 2))
    audio, _ = decode_audio(m4a)
    audio = audio[:640 * len(frames)].reshape(len(frames), 640)
    return opening, np.log(np.sqrt((audio ** 2).mean(axis=1)) + 1e-4)


def lagged_correlation(tracks: list[tuple[np.ndarray, np.ndarray]], lag: int) -> float:
    """Pearson correlation of mouth opening at frame t+lag with energy at frame t."""
    xs, ys = [], []
    for opening, energy in tracks:
        n = len(opening)
        if lag >= 0:
            xs.append(opening[lag:]), ys.append(energy[:n - lag])
        else:
            xs.append(opening[:lag]), ys.append(energy[-lag:])
    return float(np.corrcoef(np.concatenate(xs), np.concatenate(ys))[0, 1])


def corpus_tracks(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for mp4 in sorted((root / "voxceleb2").glob("*/mp4/*/*/*.mp4")):
        parts = mp4.relative_to(root / "voxceleb2").parts
        m4a = root / "voxceleb2" / parts[0] / "aac" / Path(*parts[2:]).with_suffix(".m4a")
        out.append(mouth_and_energy(mp4, m4a))
    return out


def test_mouth_moves_with_the_audio(tiny_corpus: Path):
    tracks = corpus_tracks(tiny_corpus)
    in_sync = lagged_correlation(tracks, 0)
    assert in_sync > 0.4
    for lag in (-8, 8):
        assert lagged_correlation(tracks, lag) < in_sync - 0.25


@pytest.mark.parametrize("offset_ms", [200])
def test_av_offset_shifts_the_mouth(tmp_path: Path, offset_ms: int, corpus_factory):
    root = corpus_factory(tmp_path / "off", "--av-offset-ms", str(offset_ms),
                       "--vox2-test-speakers", "0", "--vox1-dev-speakers", "0",
                       "--vox1-test-speakers", "0")
    tracks = corpus_tracks(root)
    lags = range(-10, 11)
    best = max(lags, key=lambda lag: lagged_correlation(tracks, lag))
    assert best == round(offset_ms / 40)
    txt = next((root / "voxceleb2" / "dev" / "txt").rglob("*.txt")).read_text()
    assert f"Offset    : \t{round(offset_ms / 40)}" in txt


def test_ssl_training_identities_can_have_fewer_videos():
    spec = CorpusSpec(vox2_dev_speakers=4, vox2_test_speakers=2, vox1_dev_speakers=2,
                      vox1_test_speakers=2, videos_per_speaker=3, utts_per_video=2,
                      vox2_dev_videos=1)
    _, jobs = plan_jobs(spec, Path("unused"))
    videos = {}
    for job in jobs:
        videos.setdefault((job.track.pool, job.track.spk), set()).add(job.track.ytid)
    assert {(pool, len(v)) for (pool, _), v in videos.items()} == \
        {("vox2_dev", 1), ("vox2_test", 3), ("vox1_dev", 3), ("vox1_test", 3)}
    assert sum(job.track.pool == "vox2_dev" for job in jobs) == 4 * 1 * 2
    with pytest.raises(ValueError, match="vox2_dev_videos"):
        CorpusSpec(vox2_dev_videos=-1)


def test_speaker_pools_can_have_their_own_videos_and_utterances():
    """The audio-only VoxCeleb1 pools are cheap: more videos and utterances per speaker."""
    spec = CorpusSpec(vox2_dev_speakers=2, vox2_test_speakers=2, vox1_dev_speakers=2,
                      vox1_test_speakers=2, videos_per_speaker=3, utts_per_video=1,
                      vox1_videos=4, vox1_utts_per_video=2)
    _, jobs = plan_jobs(spec, Path("unused"))
    count: dict[tuple[str, str], list[str]] = {}
    for job in jobs:
        count.setdefault((job.track.pool, job.track.spk), []).append(job.track.ytid)
    assert {(pool, len(set(v)), len(v)) for (pool, _), v in count.items()} == \
        {("vox2_dev", 3, 3), ("vox2_test", 3, 3), ("vox1_dev", 4, 8), ("vox1_test", 4, 8)}
    with pytest.raises(ValueError, match="vox1_utts_per_video >= 0"):
        CorpusSpec(vox1_utts_per_video=-1)
    with pytest.raises(ValueError, match="at least 2 videos"):
        CorpusSpec(videos_per_speaker=3, vox1_videos=1)


def test_vox2_dev_videos_on_the_command_line(tmp_path: Path, corpus_factory):
    root = corpus_factory(tmp_path / "c", "--vox2-dev-speakers", "2", "--vox2-test-speakers", "1",
                          "--vox1-dev-speakers", "0", "--vox1-test-speakers", "0",
                          "--vox2-dev-videos", "1")
    videos = {}
    for mp4 in (root / "voxceleb2").glob("*/mp4/id*/*/*.mp4"):
        subset, _, spk, ytid, _ = mp4.relative_to(root / "voxceleb2").parts
        videos.setdefault((subset, spk), set()).add(ytid)
    assert sorted((subset, len(v)) for (subset, _), v in videos.items()) == \
        [("dev", 1), ("dev", 1), ("test", 2)]
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.make_synth_corpus", "--out-dir",
                           str(tmp_path / "x"), "--vox2-dev-videos", "-1"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "vox2_dev_videos >= 0" in proc.stderr
    assert not (tmp_path / "x").exists()
