"""Channel probe on generated embeddings: planted channel found, identity alone not, oracles."""
from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest

from xmodal.bin import probe_channel
from xmodal.data.datadir import DataDirError
from xmodal.eval.bootstrap import draw_multiplicities
from xmodal.eval.channel_probe import (ChannelProbeError, _r2_replicates, channel_probe,
                                       probe_channel_files, r2_scores, ridge_path)

NAMES = ["channel_a", "channel_b", "channel_c"]


def corpus(seed: int, n_speakers: int = 40, videos: int = 2, utts: int = 3):
    """Keys ``spk/video/n``, speakers, video index and per-video channel parameters (drawn
    independently of the speaker) repeated for each utterance of the video."""
    rng = np.random.default_rng(seed)
    keys, speakers, video_of = [], [], []
    for s in range(n_speakers):
        for v in range(videos):
            for u in range(utts):
                keys.append(f"id{s:03d}/vid{s:03d}x{v}/{u:05d}")
                speakers.append(f"id{s:03d}")
                video_of.append(s * videos + v)
    video_of = np.array(video_of)
    params = rng.uniform(-1, 1, (n_speakers * videos, len(NAMES)))
    return keys, np.array(speakers), video_of, params[video_of]


def test_planted_channel_is_found():
    """Two parameters written (mixed) into the embedding: R² near 1 (the noise leaves ~0.97);
    the third, absent: near 0."""
    _, speakers, _, y = corpus(0)
    rng = np.random.default_rng(1)
    x = 0.1 * rng.normal(size=(len(y), 24))
    x[:, :2] += y[:, :2] @ np.array([[1.0, 0.5], [-0.5, 1.0]])
    result = channel_probe(x, y, speakers, NAMES, seed=0, n_boot=300)
    for name in NAMES[:2]:
        assert result["params"][name]["r2"] > 0.9
        assert result["params"][name]["ci"][0] > 0.8
    assert -0.2 < result["params"]["channel_c"]["r2"] < 0.05
    assert result["mean_r2"] == pytest.approx(np.mean([p["r2"] for p in
                                                       result["params"].values()]))
    assert (result["n_train_speakers"], result["n_test_speakers"], result["n_utts"]) == \
        (20, 20, 240)


@pytest.mark.parametrize("unit", ["speaker", "video"])
def test_identity_alone_predicts_no_channel(unit):
    """Random per-speaker (or per-video) vectors identify the recording but hold nothing of
    its channel: with unseen test speakers, R² stays near 0. An utterance split would let
    them look the channel up (the video's other utterances are in training).

    Near 0 from below: even a constant prediction, the training mean, misses the test mean
    (by about -1/20 in expectation with 80 videos; the interval, over test speakers only,
    does not cover that error of the fit)."""
    _, speakers, video_of, y = corpus(2, n_speakers=80, utts=2)
    rng = np.random.default_rng(3)
    unit_of = np.unique(speakers, return_inverse=True)[1] if unit == "speaker" else video_of
    x = rng.normal(size=(unit_of.max() + 1, 200))[unit_of] + 0.1 * rng.normal(size=(len(y), 200))
    result = channel_probe(x, y, speakers, NAMES, seed=0, n_boot=300)
    assert -0.2 < result["mean_r2"] < 0.05
    assert result["mean_r2_ci"][1] < 0.1
    for param in result["params"].values():
        assert param["r2"] < 0.1


def test_r2_known_answer():
    """y = 1..4, prediction off by 1 on the last: SS_res 1, SS_tot 5, R² 0.8; the mean: 0."""
    y = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    pred = np.array([[1.0, 2.5], [2.0, 2.5], [3.0, 2.5], [5.0, 2.5]])
    assert r2_scores(y, pred) == pytest.approx([0.8, 0.0])
    with pytest.raises(ValueError, match="undefined"):
        r2_scores(np.ones((3, 1)), np.zeros((3, 1)))


def test_ridge_matches_normal_equations():
    """Against (Z'Z + alpha I)^-1 Z'(y - mean y) on the standardised fit rows, plus the mean."""
    rng = np.random.default_rng(4)
    x, y, x_new = rng.normal(2, 3, (30, 5)), rng.normal(size=(30, 2)), rng.normal(size=(7, 5))
    mean, std = x.mean(0), x.std(0)
    z = (x - mean) / std
    for k, alpha in enumerate([1e-3, 1.0, 100.0]):
        coef = np.linalg.solve(z.T @ z + alpha * np.eye(5), z.T @ (y - y.mean(0)))
        expected = ((x_new - mean) / std) @ coef + y.mean(0)
        assert ridge_path(x, y, x_new, [1e-3, 1.0, 100.0])[k] == pytest.approx(expected)


def test_bootstrap_replicates_match_materialised_resamples():
    """Each replicate's R² equals r2_scores on the drawn speakers' rows, copies repeated."""
    rng = np.random.default_rng(5)
    speakers = np.repeat(np.array(["a", "b", "c", "d", "e"]), [2, 3, 1, 4, 2])
    y, pred = rng.normal(size=(12, 2)), rng.normal(size=(12, 2))
    replicates, redrawn = _r2_replicates(y, pred, speakers, 20, np.random.default_rng(9))
    m = draw_multiplicities(np.random.default_rng(9), 20, 5)
    assert redrawn == 0
    for r in range(20):
        rows = np.concatenate([np.repeat(np.flatnonzero(speakers == s), m[r, i])
                               for i, s in enumerate("abcde")])
        assert replicates[r] == pytest.approx(r2_scores(y[rows], pred[rows]))


def test_too_few_speakers():
    _, speakers, _, y = corpus(6, n_speakers=3)
    with pytest.raises(ChannelProbeError, match="3 speakers.*at least 4"):
        channel_probe(np.ones((len(y), 2)), y, speakers, NAMES, n_boot=10)


def write_files(tmp_path, keys, x, y, speakers, header=None, drop=()):
    """An embedding scp of ``x`` and a factors.tsv (with a non-channel column) of ``y``."""
    scp = tmp_path / "identity.scp"
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'identity.ark'},{scp}") as writer:
        for key, vector in zip(keys, x):
            writer(key, vector.astype(np.float32))
    header = header or ["utt", "spk", "ytid", *NAMES]
    rows = ["\t".join(header)] + [
        "\t".join([key, spk, key.split("/")[1], *map(str, values)])
        for key, spk, values in zip(keys, speakers, y) if key not in drop]
    factors = tmp_path / "factors.tsv"
    factors.write_text("\n".join(rows) + "\n")
    return scp, factors


def test_cli_writes_json(tmp_path, capsys):
    keys, speakers, _, y = corpus(7, n_speakers=8, utts=2)
    x = np.concatenate([y, np.random.default_rng(8).normal(size=(len(y), 4))], axis=1)
    scp, factors = write_files(tmp_path, keys, x, y, speakers)
    out = tmp_path / "probe" / "channel_probe.json"
    assert probe_channel.main(["--emb-scp", str(scp), "--factors", str(factors), "--out",
                               str(out), "--n-boot", "50"]) == 0
    result = json.loads(out.read_text())
    assert set(result["params"]) == set(NAMES)
    assert set(result["params"]["channel_a"]) == {"r2", "ci", "alpha"}
    assert result["n_train_speakers"] + result["n_test_speakers"] == 8
    assert result == probe_channel_files(scp, factors, seed=0, n_boot=50)
    assert "channel mean R2" in capsys.readouterr().out


def test_embedding_key_missing_from_factors(tmp_path, capsys):
    keys, speakers, _, y = corpus(7, n_speakers=4, utts=1)
    scp, factors = write_files(tmp_path, keys, y, y, speakers, drop={keys[2]})
    with pytest.raises(ChannelProbeError, match=rf"identity.scp:3: utterance '{keys[2]}' "
                                                rf"is not in .*factors.tsv"):
        probe_channel_files(scp, factors, n_boot=10)
    assert probe_channel.main(["--emb-scp", str(scp), "--factors", str(factors), "--out",
                               str(tmp_path / "o.json")]) == 1
    assert keys[2] in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("header, message", [
    (["key", "spk", "ytid", *NAMES], r"factors.tsv:1: header lacks the column\(s\) utt$"),
    (["utt", "spk", "ytid", "snr", "b", "c"],
     r"factors.tsv:1: header lacks the column\(s\) channel_\*$"),
])
def test_factors_without_columns(tmp_path, header, message):
    keys, speakers, _, y = corpus(7, n_speakers=4, utts=1)
    scp, factors = write_files(tmp_path, keys, y, y, speakers, header=header)
    with pytest.raises(ChannelProbeError, match=message):
        probe_channel_files(scp, factors, n_boot=10)


def test_factors_bad_rows(tmp_path):
    keys, speakers, _, y = corpus(7, n_speakers=4, utts=1)
    scp, factors = write_files(tmp_path, keys, y, y, speakers)
    lines = factors.read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\tn/a"
    factors.write_text("\n".join(lines) + "\n")
    with pytest.raises(ChannelProbeError, match=rf"factors.tsv:4: utterance '{keys[2]}': "
                                                r"channel_c 'n/a' is not a finite number"):
        probe_channel_files(scp, factors, n_boot=10)
    factors.write_text("\n".join(lines[:2] + [lines[1]]) + "\n")
    with pytest.raises(ChannelProbeError, match=r"factors.tsv:3: .* duplicate \(also on line 2"):
        probe_channel_files(scp, factors, n_boot=10)
    with pytest.raises(DataDirError, match="file not found"):
        probe_channel_files(scp, tmp_path / "nope.tsv", n_boot=10)


def test_interval_resamples_speakers_not_utterances():
    """Ten copies of every utterance add no information: resampling speakers gives about
    the same interval as one copy; resampling utterances would narrow it about 3-fold."""
    _, speakers, _, y = corpus(10, utts=1)
    x = y @ np.random.default_rng(11).normal(size=(3, 8))
    x += 0.5 * np.random.default_rng(12).normal(size=x.shape)
    widths = []
    for copies in (1, 10):
        result = channel_probe(np.repeat(x, copies, axis=0), np.repeat(y, copies, axis=0),
                               np.repeat(speakers, copies), NAMES, seed=0, n_boot=500)
        widths.append(np.diff(result["mean_r2_ci"])[0])
    assert widths[1] == pytest.approx(widths[0], rel=0.25)
