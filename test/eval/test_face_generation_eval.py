"""The face generator's held-out tests (stage 4 for ``method: face_generation``): on a trained
demo model the generator beats both baselines and its sync curve is lowest at shift 0; a
generator that ignores its audio fails the check; the CLI writes the JSON and the PNG, and
exits 2 when the check fails."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from xmodal.eval.face_generation import evaluate_generation, failures, format_result
from xmodal.methods.face_generation import load_generation_network

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def evaluated(facegen_demo_run, learning_dump):
    network = load_generation_network(facegen_demo_run[0])
    return network, evaluate_generation(network, learning_dump / "ssl_test",
                                        windows_per_track=2, n_boot=300)


def test_a_trained_generator_uses_the_audio(evaluated):
    _, result = evaluated
    print(format_result(result))
    assert result["n_identities"] == 6 and result["n_windows"] == 24
    for baseline in ("copy_still", "shuffled_audio"):
        d = result["model_minus"][baseline]
        assert d["difference"] < 0 and d["significant"], baseline
        assert d["difference"] == pytest.approx(
            result["mouth_l1"]["model"]["mean"] - result["mouth_l1"][baseline]["mean"])
    curve = {p["shift"]: p["mean"] for p in result["sync_curve"]}
    assert sorted(curve) == list(range(-3, 4)) and min(curve, key=curve.get) == 0
    assert result["sync_argmin"] == 0 and result["uses_audio"] and failures(result) == []
    # The shift-0 point is the model's own score: the same windows, the same audio.
    assert curve[0] == pytest.approx(result["mouth_l1"]["model"]["mean"])


def test_the_sync_curve_rises_away_from_zero(evaluated):
    _, result = evaluated
    by_shift = {p["shift"]: p for p in result["sync_curve"]}
    # Three frames (120 ms) off, the mouth is clearly worse than in sync, both ways.
    for k in (-3, 3):
        d = by_shift[k]["minus_shift0"]
        assert d["difference"] > 0 and d["significant"], k


def test_a_generator_that_ignores_its_audio_fails_the_check(facegen_demo_run, learning_dump):
    """Constant audio features (the audio encoder's weights zeroed): the model then scores
    exactly what another identity's audio does, and the check must say so."""
    deaf = load_generation_network(facegen_demo_run[0])
    with torch.no_grad():
        for p in deaf.model.parameters():
            p.zero_()
    result = evaluate_generation(deaf, learning_dump / "ssl_test", windows_per_track=2,
                                 n_boot=300)
    d = result["model_minus"]["shuffled_audio"]
    assert d["difference"] == pytest.approx(0.0, abs=1e-6) and not d["significant"]
    assert not result["uses_audio"]
    assert any("shuffled_audio" in why for why in failures(result))


def test_cli_writes_results_and_strip_and_fails_a_deaf_generator(facegen_demo_run,
                                                                 learning_dump, tmp_path):
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(facegen_demo_run[0], exp)
    cmd = [sys.executable, "-m", "xmodal.bin.eval_generation", "--exp-dir", str(exp),
           "--data-dir", str(learning_dump / "ssl_test"), "--windows-per-track", "2", "--n-boot",
           "200", "--num-threads", "1"]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-2000:]
    result = json.loads((exp / "generation_eval.json").read_text())
    assert result["failures"] == [] and "examples" not in result
    assert "mouth L1 model" in ok.stdout and "sync curve" in ok.stdout
    png = (exp / "generation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list(exp.glob("*.tmp*"))
    # The last checkpoint's audio encoder zeroed: exit status 2, naming the experiment.
    last = sorted(exp.glob("epoch*.pt"), key=lambda p: int(p.stem[5:]))[-1]
    state = torch.load(last, weights_only=True)
    state["model"] = {k: torch.zeros_like(v) for k, v in state["model"].items()}
    torch.save(state, last)
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 2 and f"{exp}: the generator does not use the audio" in bad.stderr
    assert json.loads((exp / "generation_eval.json").read_text())["failures"]
