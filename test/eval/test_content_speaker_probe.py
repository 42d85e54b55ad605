"""Speaker probe of content inputs: planted speaker phones found, independent labels at chance,
deterministic noisy corruption, features by hand, and the data dir errors."""
from __future__ import annotations

import json
import shutil

import kaldiio
import numpy as np
import pytest

from xmodal.bin import probe_content_speaker
from xmodal.data.datadir import DataDirError, write_table
from xmodal.data.frame_labels import write_frame_labels, write_phone_table
from xmodal.eval.content_speaker_probe import (MAX_DURATION, ContentProbeError,
                                               content_features, content_inputs,
                                               probe_content_speaker_dir, speaker_probe)
from xmodal.methods.reconstruction import ContentSource, ReconstructionData

N_SPEAKERS = 20
N_GENERIC = 6
SYMBOLS = ["sil"] + [f"p{i}" for i in range(N_SPEAKERS + N_GENERIC)]


def utterance(rng: np.random.Generator, own_phone: int | None, n_frames: int = 300,
              run: tuple[int, int] = (3, 10)):
    """Frame ids: runs of ``run[0]..run[1]-1`` frames of phones drawn uniformly, or (with
    probability 0.25, when ``own_phone`` is given) the speaker's own phone, between 10
    silent frames at each end."""
    ids = [0] * 10
    while len(ids) < n_frames - 10:
        use_own = own_phone is not None and rng.random() < 0.25
        ids += [own_phone if use_own else int(rng.integers(1, len(SYMBOLS)))] * int(
            rng.integers(*run))
    return np.array(ids[:n_frames - 10] + [0] * 10, dtype=np.int64)


def make_dir(path, seed: int, planted: bool, videos: int = 3, utts: int = 2,
             n_speakers: int = N_SPEAKERS, single_video: int = 0, rate: bool = False):
    """A data dir of ``n_speakers`` speakers with ``videos`` videos of ``utts`` utterances
    (the last ``single_video`` speakers with one video): utt2spk, phones.txt, frame_phones.
    Planted: speaker s says phone s+1 (its own) a quarter of the time. Rate: speaker s's
    phones last s+2 to s+4 frames (the same phones for all, at a speaker's own pace)."""
    rng = np.random.default_rng(seed)
    labels, utt2spk = {}, {}
    for s in range(n_speakers):
        spk = f"id{s:03d}"
        for v in range(1 if s >= n_speakers - single_video else videos):
            for u in range(utts):
                key = f"{spk}/v{s:03d}x{v}/{u:05d}"
                labels[key] = utterance(rng, s + 1 if planted else None,
                                        run=(s + 2, s + 5) if rate else (3, 10))
                utt2spk[key] = spk
    path.mkdir(parents=True, exist_ok=True)
    write_table(path / "utt2spk", utt2spk)
    write_phone_table(path / "phones.txt", SYMBOLS)
    write_frame_labels(path / "frame_phones", labels)
    return path


def test_planted_speaker_phones_are_found(tmp_path):
    result = probe_content_speaker_dir(make_dir(tmp_path, 0, planted=True), "phones",
                                       n_boot=300)
    assert result["chance"] == 1 / N_SPEAKERS
    assert result["accuracy"] > 0.8
    assert result["ci"][0] > 5 * result["chance"]
    assert (result["n_speakers"], result["n_test"], result["n_train"]) == (20, 80, 40)


def test_labels_independent_of_speaker_stay_at_chance(tmp_path):
    """The test recordings are new utterances: memorising the training ones gains nothing.

    10 speakers and 120 test utterances, so about 12 hits: over 12 data seeds tried the mean
    accuracy was 0.099 and the interval covered chance 10 times (a percentile interval of
    so few hits is a little narrow)."""
    data = make_dir(tmp_path, 1, planted=False, n_speakers=10, utts=6)
    result = probe_content_speaker_dir(data, "phones", n_boot=300)
    assert result["chance"] == 0.1 and result["n_test"] == 120
    assert result["ci"][0] <= result["chance"] <= result["ci"][1]
    assert result["accuracy"] < 0.2


def test_speaking_rate_is_found(tmp_path):
    """Speakers differing only in phone durations (2-4 frames for the first, 11-13 for the
    last): the phone histogram is the same for all, the duration histogram tells them
    apart."""
    data = make_dir(tmp_path, 10, planted=False, n_speakers=10, utts=4, rate=True)
    result = probe_content_speaker_dir(data, "phones", n_boot=300)
    assert result["accuracy"] > 0.5 and result["ci"][0] > 3 * result["chance"]


def test_noisy_planted_still_found_and_deterministic(tmp_path):
    data = make_dir(tmp_path, 2, planted=True)
    first = probe_content_speaker_dir(data, "noisy", phone_error_rate=0.3, seed=5, n_boot=100)
    assert first == probe_content_speaker_dir(data, "noisy", phone_error_rate=0.3, seed=5,
                                              n_boot=100)
    assert first["phone_error_rate"] == 0.3 and first["accuracy"] > 0.5


def test_noisy_inputs_are_the_ones_the_decoder_was_trained_on(tmp_path):
    """The probe measures the very labels a noisy reconstruction run feeds its decoder
    (``ContentSource``): the same errors per utterance, whatever else the set holds."""
    data = make_dir(tmp_path, 3, planted=False, n_speakers=3)
    keys = sorted((data / "utt2spk").read_text().split()[::2])
    clean, n_phones = content_inputs(data, keys, "phones")
    noisy, _ = content_inputs(data, keys, "noisy", phone_error_rate=0.4, seed=9)
    alone, _ = content_inputs(data, keys[1:], "noisy", phone_error_rate=0.4, seed=9)
    other, _ = content_inputs(data, keys, "noisy", phone_error_rate=0.4, seed=10)
    source = ContentSource(data, ReconstructionData(content="noisy", phone_error_rate=0.4),
                           seed=9, keys=keys)
    for key, ref, hyp in zip(keys, clean, noisy):
        assert np.array_equal(hyp, source(key, len(ref)))
    assert all(np.array_equal(a, b) for a, b in zip(noisy[1:], alone))
    assert not all(np.array_equal(a, b) for a, b in zip(noisy, other))
    assert not all(np.array_equal(a, b) for a, b in zip(noisy, clean))


def test_labels_fit_to_feature_frames(tmp_path):
    """With utt2num_frames, labels are padded with silence to 4 features per video frame."""
    data = make_dir(tmp_path, 4, planted=False, n_speakers=2, videos=2, utts=1)
    keys = sorted((data / "utt2spk").read_text().split()[::2])
    write_table(data / "utt2num_frames", {k: "80" for k in keys})
    inputs, _ = content_inputs(data, keys, "phones")
    assert all(len(ids) == 320 and not ids[300:].any() for ids in inputs)


def test_features_by_hand():
    """ids 0 1 1 2 2 0 3 (4 phones): phone histogram 2/7 2/7 2/7 1/7; non-silence segments
    of 2, 2 and 1 frames: a third last 1 frame, two thirds 2. Posteriors: the mean row, and
    segments of the argmax (0 0 1: one segment of 1 frame)."""
    features = content_features(np.array([0, 1, 1, 2, 2, 0, 3]), 4)
    assert features.shape == (4 + MAX_DURATION,)
    assert features[:4] == pytest.approx([2 / 7, 2 / 7, 2 / 7, 1 / 7])
    assert features[4:] == pytest.approx([1 / 3, 2 / 3] + [0] * (MAX_DURATION - 2))
    posteriors = np.array([[0.6, 0.4], [0.6, 0.4], [0.0, 1.0]])
    features = content_features(posteriors, 2)
    assert features[:2] == pytest.approx([0.4, 0.6])
    assert features[2:] == pytest.approx([1.0] + [0] * (MAX_DURATION - 1))
    long_run = content_features(np.array([1] * (MAX_DURATION + 5)), 2)
    assert long_run[-1] == 1.0


def test_phone_posteriors(tmp_path):
    """Soft one-hot posteriors of the planted labels carry the speaker as the ids do."""
    data = make_dir(tmp_path, 5, planted=True)
    keys = sorted((data / "utt2spk").read_text().split()[::2])
    ids, n_phones = content_inputs(data, keys, "phones")
    with kaldiio.WriteHelper(f"ark,scp:{data / 'post.ark'},{data / 'phone_post.scp'}") as out:
        for key, frames in zip(keys, ids):
            post = np.full((len(frames), n_phones), 0.2 / (n_phones - 1), dtype=np.float32)
            post[np.arange(len(frames)), frames] = 0.8
            out(key, post)
    shutil.copy(data / "phones.txt", data / "phone_post.txt")
    result = probe_content_speaker_dir(data, "phone_posteriors", n_boot=100)
    assert result["content"] == "phone_posteriors" and result["accuracy"] > 0.8


@pytest.mark.parametrize("planted", [True, False])
def test_content_embeddings(tmp_path, planted):
    """Step embeddings whose mean carries a small per-speaker offset name the speaker;
    without it they do not."""
    data = make_dir(tmp_path, 5, planted=False)
    keys = sorted((data / "utt2spk").read_text().split()[::2])
    rng = np.random.default_rng(0)
    offsets = rng.normal(size=(N_SPEAKERS, 16))
    with kaldiio.WriteHelper(f"ark,scp:{data / 'e.ark'},{data / 'content_emb.scp'}") as out:
        for key in keys:
            steps = rng.normal(size=(60, 16))
            if planted:
                steps += 0.5 * offsets[int(key[2:5])]
            out(key, steps.astype(np.float32))
    result = probe_content_speaker_dir(data, "content_embedding", n_boot=100)
    assert result["content"] == "content_embedding"
    if planted:
        assert result["accuracy"] > 0.8
    else:
        assert result["accuracy"] < 0.2


def test_single_video_speakers_are_skipped(tmp_path):
    data = make_dir(tmp_path, 6, planted=True, single_video=5)
    result = probe_content_speaker_dir(data, "phones", n_boot=100)
    assert (result["n_speakers"], result["n_skipped_speakers"]) == (15, 5)
    assert result["chance"] == 1 / 15
    data = make_dir(tmp_path / "few", 6, planted=True, n_speakers=3, single_video=2)
    with pytest.raises(ContentProbeError, match=r"1 speaker\(s\) with 2 or more videos"):
        probe_content_speaker_dir(data, "phones", n_boot=100)


@pytest.mark.parametrize("content, remove, message", [
    ("phones", "frame_phones", r"frame_phones: file not found \(content 'phones' needs"),
    ("noisy", "phones.txt", r"phones.txt: file not found \(content 'noisy' needs"),
    ("phone_posteriors", None, r"phone_post.txt: file not found \(content "
                               r"'phone_posteriors' needs"),
    ("content_embedding", None, r"content_emb.scp: file not found"),
])
def test_missing_content_files(tmp_path, capsys, content, remove, message):
    data = make_dir(tmp_path, 7, planted=False, n_speakers=3)
    if remove:
        (data / remove).unlink()
    with pytest.raises(ContentProbeError, match=message):
        probe_content_speaker_dir(data, content, n_boot=10)
    assert probe_content_speaker.main(["--data-dir", str(data), "--content", content,
                                       "--out", str(tmp_path / "o.json")]) == 1
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_utterance_without_content_or_video(tmp_path):
    data = make_dir(tmp_path, 8, planted=False, n_speakers=3)
    lines = (data / "frame_phones").read_text().splitlines()
    (data / "frame_phones").write_text("\n".join(lines[1:]) + "\n")
    first = lines[0].split()[0]
    with pytest.raises(ContentProbeError, match=rf"frame_phones: no entry for 1 "
                                                rf"utterance\(s\), e.g. '{first}'"):
        probe_content_speaker_dir(data, "phones", n_boot=10)
    write_table(data / "utt2spk", {"a-b-c": "a"})
    with pytest.raises(ContentProbeError, match=r"utt2spk:1: utterance 'a-b-c' is not of the "
                                                r"form <speaker>/<video>/<n>"):
        probe_content_speaker_dir(data, "phones", n_boot=10)
    (data / "utt2spk").unlink()
    with pytest.raises(DataDirError, match="utt2spk: file not found"):
        probe_content_speaker_dir(data, "phones", n_boot=10)


def test_cli_writes_json(tmp_path, capsys):
    data = make_dir(tmp_path / "d", 9, planted=True, n_speakers=6)
    out = tmp_path / "probe" / "speaker_probe.json"
    assert probe_content_speaker.main(["--data-dir", str(data), "--content", "noisy",
                                       "--phone-error-rate", "0.1", "--out", str(out),
                                       "--n-boot", "50", "--seed", "3"]) == 0
    result = json.loads(out.read_text())
    assert result == probe_content_speaker_dir(data, "noisy", 0.1, seed=3, n_boot=50)
    assert {"accuracy", "ci", "chance", "n_speakers", "n_test"} <= set(result)
    assert "speaker accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        probe_content_speaker.main(["--data-dir", str(data), "--content", "phones",
                                    "--phone-error-rate", "0.1", "--out", str(out)])


def test_speaker_probe_checks_shapes():
    with pytest.raises(ValueError, match="need features"):
        speaker_probe(np.zeros((4, 2)), ["a"] * 4, ["v"] * 3)


def test_units_are_read_from_their_own_files(tmp_path):
    """Units (``frame_units`` + ``units.txt``, no silence symbol) are probed like phones: the
    planted speaker units are found, and the phone files are not what was read."""
    data = make_dir(tmp_path, 0, planted=True)
    (data / "frame_units").write_bytes((data / "frame_phones").read_bytes())
    write_phone_table(data / "units.txt", [f"u{k}" for k in range(len(SYMBOLS))], first=None)
    (data / "frame_phones").unlink()
    result = probe_content_speaker_dir(data, "units", n_boot=300)
    assert result["accuracy"] > 0.8
