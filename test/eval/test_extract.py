"""Stage 5 extraction: real CLIs in 2 jobs + merge against a direct computation, a second Kaldi
reader, speaker means, completeness check, short-utterance padding, crops and reruns."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kaldi_io
import kaldiio
import numpy as np
import pytest
import torch

from xmodal.config import save_config
from xmodal.data.datadir import read_table, split_data_dir
from xmodal.eval.embedding_sets import ExtractError, merge_embeddings
from xmodal.eval.extract import (MIN_FRAMES, ExtractConfig, crop_starts, embed_inputs,
                                 extract_embeddings, repeat_pad)
from xmodal.models.audio_trunk import audio_output_steps
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.models.xvector import XVectorConfig, XVectorExtractor
from xmodal.train.checkpoint import save_checkpoint
from xmodal.methods.cross_modal import CrossModalConfig
from xmodal.methods import load_pretrained

REPO = Path(__file__).resolve().parents[2]
TINY = ModelConfig(width=0.125, face_size=32, embed_dim=32, head_hidden=32, trunk_dim=32)
NUM_JOBS = 2


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory) -> Path:
    """An untrained tiny model saved as a trained experiment; BatchNorm stats made non-trivial."""
    root = tmp_path_factory.mktemp("exp")
    torch.manual_seed(0)
    model = TwoStreamModel(TINY)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    save_config(CrossModalConfig(model=TINY), root / "config.yaml")
    save_checkpoint({"model": model.state_dict()}, root / "model.pt")
    return root


@pytest.fixture(scope="module")
def model(exp_dir):
    return load_pretrained(exp_dir)[0]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command from the repo root with the venv's python first on PATH (as recipes run)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def extract_cmd(exp_dir: Path, dump: Path, out: Path, *extra: str) -> list[str]:
    return ["python", "-m", "xmodal.bin.extract", "--exp-dir", str(exp_dir), "--feats-dir",
            str(dump), "--out-dir", str(out), *extra]


def merge_cmd(out: Path, dump: Path) -> list[str]:
    return ["python", "-m", "xmodal.bin.merge_embeddings", "--out-dir", str(out), "--num-jobs",
            str(NUM_JOBS), "--data-dir", str(dump)]


@pytest.fixture(scope="module")
def extracted(tiny_dump, exp_dir, tmp_path_factory) -> tuple[Path, Path]:
    """ssl_test extracted as the recipe does: split the dump dir, 2 jobs via utils/run.sh, merge.

    Returns (dump dir copy, embedding dir). The session's dump is copied: tests must not
    modify it.
    """
    root = tmp_path_factory.mktemp("extract")
    dump = root / "dump" / "ssl_test"
    shutil.copytree(tiny_dump / "ssl_test", dump)
    split_data_dir(dump, NUM_JOBS)
    out = root / "emb" / "ssl_test"
    run("utils/run.sh", f"JOB=1:{NUM_JOBS}", str(out / "log" / "extract.JOB.log"),
        *extract_cmd(exp_dir, dump, out, "--data-dir", str(dump / f"split{NUM_JOBS}" / "JOB"),
                     "--job", "JOB"))
    run(*merge_cmd(out, dump))
    return dump, out


def direct_embedding(model, feats: np.ndarray) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        steps = model.forward_audio(torch.from_numpy(np.array(feats))[None])
    return {head: steps[head][0].mean(dim=-1).numpy() for head in ("identity", "content")}


def test_vectors_equal_direct_computation(extracted, model):
    dump, out = extracted
    feats = kaldiio.load_scp(str(dump / "feats.scp"))
    for head in ("identity", "content"):
        vectors = kaldiio.load_scp(str(out / f"{head}.scp"))
        assert list(read_table(out / f"{head}.scp")) == list(read_table(dump / "feats.scp"))
        for key in feats:
            assert vectors[key].dtype == np.float32 and vectors[key].shape == (TINY.embed_dim,)
            np.testing.assert_allclose(vectors[key], direct_embedding(model, feats[key])[head],
                                       atol=1e-5, rtol=0)
    # Each job embedded exactly its split part.
    for job in range(1, NUM_JOBS + 1):
        assert list(read_table(out / f"identity.{job}.scp")) == \
            list(read_table(dump / f"split{NUM_JOBS}" / str(job) / "utt2spk"))
    assert (out / ".done").is_file() and (out / "padded").read_text() == ""


def test_kaldi_io_reads_the_same_vectors(extracted):
    _, out = extracted
    for name in ("identity", "content", "spk_xvector"):
        ours = dict(kaldiio.load_scp_sequential(str(out / f"{name}.scp")))
        from_scp = dict(kaldi_io.read_vec_flt_scp(str(out / f"{name}.scp")))
        from_ark = dict(kaldi_io.read_vec_flt_ark(str(out / f"{name}.ark")))
        assert list(from_ark) == list(ours) and set(from_scp) == set(ours)
        for key, vector in ours.items():
            np.testing.assert_array_equal(from_scp[key], vector)
            np.testing.assert_array_equal(from_ark[key], vector)


def test_speaker_means(extracted):
    dump, out = extracted
    identity = kaldiio.load_scp(str(out / "identity.scp"))
    means = kaldiio.load_scp(str(out / "spk_xvector.scp"))
    spk2utt = read_table(dump / "spk2utt")
    assert list(read_table(out / "spk_xvector.scp")) == list(spk2utt)
    for spk, utts in spk2utt.items():
        expected = np.mean([identity[u] for u in utts.split()], axis=0)
        np.testing.assert_allclose(means[spk], expected, atol=1e-6)


def test_merge_fails_clearly_when_a_job_is_missing(extracted, tmp_path):
    dump, out = extracted
    partial = tmp_path / "emb"
    partial.mkdir()
    for path in out.glob("*.1.*"):
        shutil.copy(path, partial)
    shutil.copy(out / "padded.1", partial)
    proc = run(*merge_cmd(partial, dump), check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: extract job 2 did not complete")
    assert str(partial / "padded.2") in proc.stderr and not (partial / ".done").exists()
    # Job 2's files present but one utterance short: the count check names it.
    for path in out.glob("*.2.*"):
        shutil.copy(path, partial)
    shutil.copy(out / "padded.2", partial)
    lost = list(read_table(partial / "identity.2.scp"))[-1]
    for head in ("identity", "content"):
        scp = partial / f"{head}.2.scp"
        scp.write_text("".join(line + "\n" for line in scp.read_text().splitlines()
                               if not line.startswith(lost + " ")))
    n_utts = len(read_table(dump / "utt2spk"))
    with pytest.raises(ExtractError, match=rf"{n_utts - 1} utterances embedded, {n_utts} expected"
                       rf".*1 missing, e\.g\. {lost}"):
        merge_embeddings(partial, NUM_JOBS, dump)
    assert not (partial / ".done").exists() and not (partial / "identity.scp").exists()


def test_rerun_of_a_finished_set_is_a_noop(extracted, exp_dir):
    dump, out = extracted
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()}
    extract = run(*extract_cmd(exp_dir, dump, out, "--data-dir",
                               str(dump / f"split{NUM_JOBS}" / "1"), "--job", "1"))
    merge = run(*merge_cmd(out, dump))
    assert "complete (.done); skipping" in extract.stderr and "skipping" in merge.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file()} == before


def write_feats(root: Path, utts: dict[str, np.ndarray]) -> Path:
    """A minimal dump dir: feats.scp + utt2spk (speaker = key prefix before '-')."""
    root.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{root}/feats.ark,{root}/feats.scp") as writer:
        for key in sorted(utts):
            writer(key, utts[key].astype(np.float32))
    (root / "utt2spk").write_text("".join(f"{k} {k.split('-')[0]}\n" for k in sorted(utts)))
    return root


def test_short_utterances_are_repeat_padded(model, tmp_path):
    assert MIN_FRAMES == 17 and audio_output_steps(16) == 0 and audio_output_steps(17) == 1
    rng = np.random.default_rng(0)
    utts = {"a-short": rng.normal(size=(6, 40)), "a-long": rng.normal(size=(60, 40)),
            "b-edge": rng.normal(size=(17, 40))}
    dump = write_feats(tmp_path / "dump", utts)
    stats = extract_embeddings(model, dump, tmp_path / "emb")
    assert stats.n_utts == 3 and stats.padded == {"a-short": "6"} and stats.n_speakers == 2
    assert read_table(tmp_path / "emb" / "padded") == {"a-short": "6"}
    short = utts["a-short"].astype(np.float32)
    tiled = np.concatenate([short, short, short])[:17]
    np.testing.assert_array_equal(repeat_pad(short), tiled)
    vectors = kaldiio.load_scp(str(tmp_path / "emb" / "identity.scp"))
    np.testing.assert_allclose(vectors["a-short"], direct_embedding(model, tiled)["identity"],
                               atol=1e-5, rtol=0)
    assert (tmp_path / "emb" / ".done").is_file()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 40)), "empty feature matrix"),
    (np.where(np.arange(40) == 3, np.nan, np.ones((30, 40))), "NaN or inf features"),
    (np.ones((30, 20)), "20 feature bins; the model expects 40"),
])
def test_unusable_features_name_utterance_and_scp(model, tmp_path, bad, message):
    dump = write_feats(tmp_path / "dump", {"a-good": np.ones((30, 40)), "a-bad": bad})
    where = re.escape(f"{dump}/feats.scp:1")
    with pytest.raises(ExtractError, match=rf"{where}: utterance 'a-bad' .*{message}"):
        extract_embeddings(model, dump, tmp_path / "emb")
    assert not list((tmp_path / "emb").glob("*.scp")) and not list((tmp_path / "emb").glob(".*"))


def test_crops_average_crop_embeddings(model, tmp_path):
    assert crop_starts(100, 40, 40) == [0, 40, 60]
    assert crop_starts(100, 40, 30) == [0, 30, 60]
    assert crop_starts(30, 40, 40) == [0]
    feats = np.random.default_rng(1).normal(size=(100, 40)).astype(np.float32)
    dump = write_feats(tmp_path / "dump", {"a-x": feats})
    with pytest.raises(ExtractError, match="shorter than the model's 17-frame minimum"):
        extract_embeddings(model, dump, tmp_path / "short", config=ExtractConfig(crop_frames=10))
    extract_embeddings(model, dump, tmp_path / "emb", config=ExtractConfig(crop_frames=40))
    crops = [direct_embedding(model, feats[s:s + 40])["content"] for s in (0, 40, 60)]
    vectors = kaldiio.load_scp(str(tmp_path / "emb" / "content.scp"))
    np.testing.assert_allclose(vectors["a-x"], np.mean(crops, axis=0), atol=1e-5, rtol=0)


def test_batching_equal_lengths_does_not_change_results(model):
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(n, 40)).astype(np.float32) for n in (40, 40, 52, 40, 52, 17)]
    batched = embed_inputs(model, inputs, max_batch_frames=10_000)
    one_by_one = embed_inputs(model, inputs, max_batch_frames=1)
    for head in ("identity", "content"):
        np.testing.assert_allclose(batched[head], one_by_one[head], atol=1e-5, rtol=0)
        np.testing.assert_allclose(batched[head][2], direct_embedding(model, inputs[2])[head],
                                   atol=1e-5, rtol=0)


def test_mean_logmel_floor_is_the_mean_feature_vector(tiny_dump, tmp_path):
    """--mean-logmel: no model, each utterance's mean log-mel vector, read back by Kaldi I/O."""
    out = tmp_path / "mean_logmel"
    run("python", "-m", "xmodal.bin.extract", "--mean-logmel", "--feats-dir",
        str(tiny_dump / "ssl_test"), "--out-dir", str(out))
    feats = kaldiio.load_scp(str(tiny_dump / "ssl_test" / "feats.scp"))
    vectors = {k: v for k, v in kaldi_io.read_vec_flt_scp(str(out / "identity.scp"))}
    assert vectors.keys() == set(feats)
    for key, matrix in feats.items():
        np.testing.assert_allclose(vectors[key], np.asarray(matrix).mean(axis=0), rtol=1e-5,
                                   atol=1e-5)
    # Beside a model the floor needs a dir of its own, and every --out-dir must say where.
    both = run("python", "-m", "xmodal.bin.extract", "--mean-logmel", "--exp-dir", "x",
               "--feats-dir", str(tiny_dump / "ssl_test"), "--out-dir", str(out), check=False)
    assert both.returncode == 2 and "--mean-logmel beside --exp-dir needs its own dir" in \
        both.stderr
    fixed = run("python", "-m", "xmodal.bin.extract", "--mean-logmel", str(tmp_path / "m"),
                "--exp-dir", "x", "--feats-dir", str(tiny_dump / "ssl_test"), "--out-dir",
                str(out), check=False)
    assert fixed.returncode == 2 and "every --out-dir must hold {exp}" in fixed.stderr


def test_several_models_in_one_process_equal_one_model_each(extracted, exp_dir, tmp_path):
    """Stage 5's jobs: two experiments and the mean log-mel floor embed two sets in one
    process per job (each model into its own dir), merged in one process: the vectors are
    those each model gives alone."""
    dump, single = extracted
    second = tmp_path / "second"
    shutil.copytree(exp_dir, second, ignore=shutil.ignore_patterns("emb"))
    other = tmp_path / "dump_copy"
    shutil.copytree(dump, other)
    floor = tmp_path / "mean_logmel"
    sets = []
    for d in (dump, other):
        sets += ["--feats-dir", str(d), "--data-dir", str(d / f"split{NUM_JOBS}" / "JOB"),
                 "--out-dir", f"{{exp}}/emb/{d.name}"]
    run("utils/run.sh", f"JOB=1:{NUM_JOBS}", str(tmp_path / "log" / "extract.JOB.log"),
        "python", "-m", "xmodal.bin.extract", "--exp-dir", str(exp_dir), "--exp-dir",
        str(second), "--mean-logmel", str(floor), *sets, "--job", "JOB")
    merges = []
    for model in (exp_dir, second, floor):
        for d in (dump, other):
            merges += ["--out-dir", str(model / "emb" / d.name), "--data-dir", str(d)]
    run("python", "-m", "xmodal.bin.merge_embeddings", "--num-jobs", str(NUM_JOBS), *merges)
    feats = kaldiio.load_scp(str(dump / "feats.scp"))
    expected = {key: np.asarray(m).mean(axis=0) for key, m in feats.items()}
    alone = dict(kaldiio.load_scp_sequential(str(single / "identity.scp")))
    for model, reference in ((exp_dir, alone), (second, alone), (floor, expected)):
        for d in (dump, other):
            got = dict(kaldiio.load_scp_sequential(str(model / "emb" / d.name / "identity.scp")))
            assert list(got) == list(alone) and (model / "emb" / d.name / ".done").is_file()
            for key, vector in got.items():
                np.testing.assert_allclose(vector, reference[key], atol=1e-5, rtol=0)


def test_init_model_is_the_untrained_start_of_training(tmp_path, train_config):
    """The random-init floor holds exactly the weights training starts from (same seed)."""
    from xmodal.train.checkpoint import load_checkpoint
    from xmodal.methods.cross_modal import METHOD
    from xmodal.train.method import TrainingData

    config = train_config(tmp_path / "c.yaml")
    for seed in ("3", "4"):
        run("python", "-m", "xmodal.bin.init_model", "--config", str(config), "--output-dir",
            str(tmp_path / seed), "--seed", seed)
    cfg = load_pretrained(tmp_path / "3")[1]
    assert cfg.seed == 3
    torch.manual_seed(3)
    start = METHOD.network(cfg, TrainingData(tmp_path)).model.state_dict()
    saved = load_checkpoint(tmp_path / "3" / "model.pt")["model"]
    assert all(torch.equal(start[k], saved[k]) for k in start)
    other = load_checkpoint(tmp_path / "4" / "model.pt")["model"]
    assert not torch.equal(saved["audio_trunk.layers.0.weight"], other["audio_trunk.layers.0.weight"])
    again = run("python", "-m", "xmodal.bin.init_model", "--config", str(config),
                "--output-dir", str(tmp_path / "3"))
    assert "exists; skipping" in again.stderr


def test_xvectors_are_extracted_with_their_own_widths_and_receptive_field(tmp_path):
    """The x-vector extractor goes through the same stage: the identity file holds its
    pooled x-vectors, the content file its time-averaged frame layer, and an utterance
    shorter than its 15-frame receptive field is tiled to exactly 15 frames."""
    xvector = XVectorExtractor(XVectorConfig(n_mels=40, channels=24, pooled_dim=20,
                                             embed_dim=12)).eval()
    rng = np.random.default_rng(4)
    feats = {"a-long": rng.normal(size=(60, 40)).astype(np.float32),
             "b-short": rng.normal(size=(10, 40)).astype(np.float32)}
    extract_embeddings(xvector, write_feats(tmp_path / "dump", feats), tmp_path / "emb")
    identity = kaldiio.load_scp(str(tmp_path / "emb" / "identity.scp"))
    content = kaldiio.load_scp(str(tmp_path / "emb" / "content.scp"))
    with torch.no_grad():
        expected = xvector.embed(torch.from_numpy(feats["a-long"])[None])[0].numpy()
        tiled = np.tile(feats["b-short"], (2, 1))[:15]
        expected_short = xvector.embed(torch.from_numpy(tiled)[None])[0].numpy()
    np.testing.assert_allclose(identity["a-long"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(identity["b-short"], expected_short, atol=1e-5, rtol=0)
    assert content["a-long"].shape == (24,)
    assert (tmp_path / "emb" / "padded").read_text() == "b-short 10\n"
