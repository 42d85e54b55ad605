"""The mini recipe's identity-cue diagnostic: B-way matching and attribute probes."""
from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "egs" / "mini_voxceleb" / "v1" / "local" / \
    "identity_cues.py"


def load_script():
    spec = importlib.util.spec_from_file_location("identity_cues", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_b_way_matching_same_track_and_across_videos():
    cues = load_script()
    keys = [f"id{s:05d}/video{s}{v}/00001" for s in range(20) for v in range(2)]
    rng = np.random.default_rng(0)
    person = rng.standard_normal((20, 8))
    # Embeddings that depend on the person only: perfect matching, within or across videos.
    same = np.repeat(person, 2, axis=0)[:, None, :].repeat(3, axis=1)
    for cross_video in (False, True):
        result = cues.b_way(keys, same, same, cross_video=cross_video, batch=8)
        assert (result["mean"], result["low"], result["high"]) == (1.0, 1.0, 1.0)
        assert result["n_clusters"] == 20  # each decision belongs to its face's identity
    # Embeddings that depend on the video only: a track matches itself, never another video.
    video = rng.standard_normal((40, 1, 8)).repeat(3, axis=1)
    assert cues.b_way(keys, video, video, cross_video=False, batch=8)["mean"] == 1.0
    assert cues.b_way(keys, video, video, cross_video=True, batch=8)["high"] < 0.3
    # Fewer identities than B: no answer rather than a wrong one.
    assert cues.b_way(keys, same, same, cross_video=False, batch=21) is None


def test_b_way_interval_covers_chance_for_unrelated_faces_and_voices():
    cues = load_script()
    keys = [f"id{s:05d}/video{s}{v}/00001" for s in range(40) for v in range(2)]
    rng = np.random.default_rng(2)
    voices, faces = rng.standard_normal((2, 80, 3, 8))
    result = cues.b_way(keys, voices, faces, cross_video=True, batch=8)
    # The interval is over 40 identities, so it is several points wide and holds 1/8.
    assert result["low"] < 1 / 8 < result["high"]
    assert result["high"] - result["low"] > 0.03


def test_probe_scores_a_linear_attribute_and_refuses_a_constant_one():
    cues = load_script()
    rng = np.random.default_rng(1)
    x_train, x_test = rng.standard_normal((200, 6)), rng.standard_normal((100, 6))
    w = rng.standard_normal(6)
    assert cues.probe_r2(x_train, x_train @ w, x_test, x_test @ w, ridge=1e-4) > 0.99
    assert cues.probe_r2(x_train, rng.standard_normal(200), x_test,
                         rng.standard_normal(100)) < 0.1
    assert np.isnan(cues.probe_r2(x_train, x_train @ w, x_test, np.ones(100)))


def test_runs_on_a_trained_model(tiny_corpus, tiny_dump, train_config, tmp_path):
    exp = tmp_path / "exp"
    subprocess.run([sys.executable, "-m", "xmodal.bin.train", "--config",
                    str(train_config(tmp_path / "c.yaml")), "--train-dir",
                    str(tiny_dump / "ssl_train"), "--valid-dir", str(tiny_dump / "ssl_test"),
                    "--output-dir", str(exp)], capture_output=True, check=True)
    # A training dump whose first track is shorter than a window: the track is left out.
    short = tmp_path / "short_first_track"
    shutil.copytree(tiny_dump / "ssl_train", short)
    lengths = (short / "utt2num_frames").read_text().splitlines()
    lengths[0] = f"{lengths[0].split()[0]} 5"
    (short / "utt2num_frames").write_text("\n".join(lengths) + "\n")
    for train_dump in (tiny_dump / "ssl_train", short):
        out = subprocess.run([sys.executable, str(SCRIPT), "--exp-dir", str(exp), "--corpus",
                              str(tiny_corpus), "--train-dump", str(train_dump),
                              "--test-dump", str(tiny_dump / "ssl_test"), "--batch", "2"],
                             capture_output=True, text=True, check=True).stdout
        for name in ("train", "held-out"):
            line = next(x for x in out.splitlines() if x.startswith(f"{name} identities"))
            # Same track and across videos, each "acc [low, high]%"; then chance.
            cells = [tuple(map(float, c)) for c in
                     re.findall(r"([\d.]+) \[([\d.]+), ([\d.]+)\]%", line)]
            assert len(cells) == 2, line
            assert all(0 <= low <= acc <= high <= 100 for acc, low, high in cells), line
            assert "(chance 50.0%)" in line, line
        rows = [x for x in out.splitlines() if x.startswith(("| voice", "| face"))]
        assert len(rows) == 2 and all(len(r.split("|")) == 2 + 1 + 12 for r in rows)
