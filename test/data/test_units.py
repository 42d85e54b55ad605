"""k-means frame units: clustering, assignment, the files a dump dir gets, the CLI."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest

from xmodal.bin import learn_units
from xmodal.data.datadir import write_table
from xmodal.data.frame_labels import read_frame_labels, read_phone_table
from xmodal.data.units import (UNIT_TABLE_FILE, UNITS_FILE, assign, kmeans, normalised,
                               write_units)


def test_kmeans_recovers_well_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10.0, size=(5, 3))
    truth = rng.integers(0, 5, size=2000)
    x = centres[truth] + rng.normal(scale=0.1, size=(2000, 3))
    found = kmeans(x, 5, seed=1)
    ids = assign(x, found)
    # Each true cluster maps to exactly one unit and back (a permutation).
    pairs = set(zip(truth.tolist(), ids.tolist()))
    assert len(pairs) == 5 and len({t for t, _ in pairs}) == 5 and len({u for _, u in pairs}) == 5
    np.testing.assert_allclose(np.sort(found, axis=0), np.sort(centres, axis=0), atol=0.05)


def test_assign_is_the_nearest_centroid_by_brute_force():
    rng = np.random.default_rng(2)
    x, c = rng.normal(size=(300, 4)), rng.normal(size=(7, 4))
    brute = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(assign(x, c, block=64), brute)


def test_kmeans_is_seeded_and_refuses_too_few_frames():
    x = np.random.default_rng(3).normal(size=(200, 2))
    np.testing.assert_array_equal(kmeans(x, 4, seed=5), kmeans(x, 4, seed=5))
    with pytest.raises(ValueError, match="4 units need between 1 and 3 frames"):
        kmeans(x[:3], 4)


def write_dump(root: Path, feats: dict[str, np.ndarray]) -> Path:
    root.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{root}/feats.ark,{root}/feats.scp") as writer:
        for key in sorted(feats):
            writer(key, feats[key].astype(np.float32))
    write_table(root / "utt2spk", {k: k.split("/")[0] for k in sorted(feats)})
    return root


def test_units_ignore_a_recordings_fixed_gain(tmp_path):
    """The same utterance 6 dB louder (a constant in log-mel) gets the same units: frames are
    mean-normalised per utterance before they are clustered and assigned."""
    rng = np.random.default_rng(4)
    speech = rng.normal(size=(120, 6))
    dump = write_dump(tmp_path / "dump", {"a/v/1": speech, "a/v/2": speech + 1.4})
    centroids = kmeans(normalised(speech), 5, seed=0)
    assert write_units(dump, centroids) == 2
    symbols = read_phone_table(dump / UNIT_TABLE_FILE, first=None)
    units = read_frame_labels(dump / UNITS_FILE, len(symbols))
    assert symbols == [f"u{k}" for k in range(5)]
    assert len(units["a/v/1"]) == 120
    np.testing.assert_array_equal(units["a/v/1"], units["a/v/2"])


def test_cli_learns_once_and_fills_only_missing_dirs(tmp_path, capsys):
    rng = np.random.default_rng(5)
    train = write_dump(tmp_path / "train", {f"s{i}/v/1": rng.normal(size=(50, 4)) for i in range(6)})
    test = write_dump(tmp_path / "test", {"t/v/1": rng.normal(size=(30, 4))})
    out = tmp_path / "units" / "kmeans.npy"
    args = ["--train-dir", str(train), "--num-units", "3", "--out", str(out),
            "--apply-to", f"{train} {test}"]
    assert learn_units.main(args) == 0
    first = out.read_bytes(), (test / UNITS_FILE).read_text()
    written = (train / UNITS_FILE).stat().st_mtime_ns
    (test / UNITS_FILE).unlink()
    assert learn_units.main(args[:2] + ["--num-units", "9"] + args[4:]) == 0  # reuses out
    assert (out.read_bytes(), (test / UNITS_FILE).read_text()) == first
    assert (train / UNITS_FILE).stat().st_mtime_ns == written  # finished dirs left alone
    wrong = write_dump(tmp_path / "wrong", {"w/v/1": rng.normal(size=(30, 5))})
    assert learn_units.main(args[:6] + ["--apply-to", str(wrong)]) == 1
    assert "5 feature bins, the centroids have 4" in capsys.readouterr().err
    assert not (wrong / UNITS_FILE).exists()
