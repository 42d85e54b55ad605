"""The face-generation method (Shukla et al. 2020) on the one trainer: configs, still frames,
the waveform encoder and dump, paper-size steps, what the demo config learns, the whole
network's loader, and stage 5 on its audio encoder."""
from __future__ import annotations

import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from xmodal.bin import extract as extract_cli
from xmodal.config import ConfigError
from xmodal.data.audio_io import read_audio
from xmodal.data.datadir import DataDir, read_table, split_data_dir
from xmodal.data.dump import DumpConfig, dump_data_dir, fit_length
from xmodal.data.dump_merge import DumpError, merge_dump
from xmodal.data.features import logmel_for_video
from xmodal.data.still_frame_windows import StillFrameSampler
from xmodal.data.voxceleb_prep import prepare_vox2
from xmodal.eval.embedding_sets import ExtractError
from xmodal.eval.extract import extract_embeddings
from xmodal.methods import load_pretrained, load_run_config
from xmodal.methods.face_generation import (METHOD, FaceGenerationConfig,
                                            load_generation_network)
from xmodal.models.audio_encoders import AudioEncoderConfig, FrameAudioEncoder
from xmodal.train.checkpoint import CheckpointError
from xmodal.train.method import TrainingData
from xmodal.train.trainer import train

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "egs/voxceleb/v1/conf/facegen_shukla.yaml"
DEMO = REPO / "egs/mini_voxceleb/v1/conf/demo/facegen.yaml"

pytestmark = pytest.mark.usefixtures("one_thread")


def write_config(path: Path, base: Path, **sections) -> Path:
    """``base`` with ``sections`` (``{"data": {"key": value}}``) merged in, as yaml."""
    cfg = yaml.safe_load(base.read_text())
    for section, values in sections.items():
        cfg[section] = {**cfg[section], **values} if isinstance(values, dict) else values
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_unknown_and_bad_keys_are_errors_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'model.mouth_size'"):
        load_run_config(write_config(tmp_path / "a.yaml", DEMO, model={"mouth_size": 3}))
    with pytest.raises(ConfigError, match="data.still_frame must be one of"):
        load_run_config(write_config(tmp_path / "b.yaml", DEMO, data={"still_frame": "any"}))
    with pytest.raises(ConfigError, match="loss.mouth_box .* inside model.region"):
        load_run_config(write_config(tmp_path / "c.yaml", DEMO,
                                     loss={"mouth_box": [0.3, 0.6, 0.3, 0.7]}))
    with pytest.raises(ConfigError, match="multiples of 2\\^gen_levels"):
        load_run_config(write_config(tmp_path / "d.yaml", DEMO, model={"gen_levels": 5}))


@pytest.mark.parametrize("still_frame", ["same_window", "outside_window"])
def test_still_frames_follow_the_config(still_frame):
    """Over many draws: inside the window, or never inside it (and on both sides); a track
    with no frame outside a window is never drawn for outside_window."""
    n = 10
    num_frames = np.array([10, 11, 25, 40, 12, 10])
    sampler = StillFrameSampler(num_frames, n, still_frame, batch_size=3, batches_per_epoch=200,
                                seed=5)
    sides, tracks = set(), set()
    for epoch in (1, 2):
        sampler.set_epoch(epoch)
        for batch in sampler:
            for track, start, still in batch:
                tracks.add(track)
                assert 0 <= start and start + n <= num_frames[track]
                assert 0 <= still < num_frames[track]
                inside = start <= still < start + n
                assert inside == (still_frame == "same_window")
                sides.add(still < start)
    if still_frame == "outside_window":
        assert sides == {True, False} and tracks == {1, 2, 3, 4}
    else:
        assert tracks == set(range(6))
    again = StillFrameSampler(num_frames, n, still_frame, 3, 200, seed=5)
    again.set_epoch(2)
    assert again.batch(7) == sampler.batch(7)  # a pure function of (seed, epoch, index)
    with pytest.raises(ValueError, match="no face-track is long enough"):
        StillFrameSampler(np.array([10, 10]), n, "outside_window", 1, 1, seed=0)


@pytest.mark.parametrize("samples", [640, 641, 1279, 1280, 640 * 7 + 639])
def test_the_waveform_encoder_gives_one_vector_per_640_samples(samples):
    encoder = FrameAudioEncoder(AudioEncoderConfig("waveform", width=0.125, dim=16)).eval()
    out = encoder.forward_audio(torch.randn(2, samples))
    assert out["content"].shape == (2, 16, samples // 640) == out["identity"].shape
    assert encoder.frame_steps(samples // 640) == samples // 640


def test_paper_size_network_trains_on_tiny_inputs():
    """The paper yaml's network as shipped (224 px crops, waveform encoder); a batch of 2
    windows of 6 frames: a finite loss whose gradient reaches the audio encoder."""
    method, cfg = load_run_config(PAPER)
    assert method.name == "face_generation" and cfg.model.audio_dim == 512
    torch.manual_seed(0)
    network = method.network(cfg, TrainingData(Path(".")))
    n = 6
    batch = (torch.randn(2, 640 * n), torch.randint(0, 256, (2, n, 224, 224, 3), dtype=torch.uint8),
             torch.randint(0, 256, (2, 224, 224, 3), dtype=torch.uint8))
    optimizer = cfg.optim.make(network.parameters(), cfg.optim.lr)
    for _ in range(2):
        terms, out = network(batch, torch.Generator())
        assert torch.isfinite(terms["loss"])
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    assert out["generated"].shape == (2, n, 3, 64, 128)
    first = network.model.encoder.layers[0].weight.grad
    assert first is not None and first.abs().sum() > 0


@pytest.fixture
def demo_run(facegen_demo_run):
    return facegen_demo_run


def test_demo_training_lowers_held_out_mouth_l1_below_copying_the_still(demo_run):
    _, log, seconds = demo_run
    first, last = log[0]["valid"], log[-1]["valid"]
    print(f"demo: {len(log)} epochs in {seconds:.1f} s; valid mouth_l1 "
          f"{[round(e['valid']['mouth_l1'], 4) for e in log]}, copy "
          f"{last['copy_still_mouth_l1']:.4f}")
    assert last["mouth_l1"] < first["mouth_l1"]
    assert last["mouth_l1"] < 0.9 * last["copy_still_mouth_l1"]


def held_out_mouth_l1(network, dump_dir: Path, shift_audio: bool) -> float:
    """Mouth L1 of the network on fixed held-out windows, with each window's own audio or
    the audio of the next window in the batch (another person)."""
    cfg = network.cfg
    dataset, sampler = METHOD.valid_batches(cfg, TrainingData(dump_dir, dump_dir), seed=1)
    losses = []
    with torch.no_grad():
        for items in sampler:
            audio, faces, still = (torch.stack(x) for x in zip(*(dataset[i] for i in items)))
            if shift_audio:
                audio = audio.roll(1, dims=0)
            generated = network.generate(audio, still)
            target = network.target_region(faces[:, network.generated_frames(faces.shape[1])])
            losses.append(network.l1_terms(generated, target)["mouth_l1"])
    return float(torch.cat(losses).mean())


def test_the_generator_draws_the_mouth_from_the_audio(demo_run, learning_dump):
    """Through the evaluation interface: the whole network reloaded, each held-out window's
    own audio gives a clearly better mouth than another person's audio (a generator that
    ignored its audio, e.g. audio zeroed, would score both alike)."""
    network = load_generation_network(demo_run[0])
    assert not network.training and network.mouth_mask().shape == network.cfg.model.frame_shape
    own = held_out_mouth_l1(network, learning_dump / "ssl_test", shift_audio=False)
    other = held_out_mouth_l1(network, learning_dump / "ssl_test", shift_audio=True)
    print(f"held-out mouth L1: own audio {own:.4f}, another track's audio {other:.4f}")
    assert own < 0.9 * other


def test_load_pretrained_and_stage_5_extract_the_audio_encoder(demo_run, learning_dump,
                                                              tmp_path):
    exp = demo_run[0]
    model, cfg = load_pretrained(exp)
    assert isinstance(model, FrameAudioEncoder) and isinstance(cfg, FaceGenerationConfig)
    out = tmp_path / "emb"
    assert extract_cli.main(["--exp-dir", str(exp), "--feats-dir",
                             str(learning_dump / "ssl_test"), "--out-dir", str(out)]) == 0
    identity = kaldiio.load_scp(str(out / "identity.scp"))
    feats = kaldiio.load_scp(str(learning_dump / "ssl_test" / "feats.scp"))
    assert sorted(identity) == sorted(feats)
    key = sorted(feats)[0]
    with torch.no_grad():
        expected = model.forward_audio(torch.from_numpy(np.array(feats[key]))[None])["identity"][0]
    np.testing.assert_allclose(identity[key], expected.mean(dim=-1).numpy(), rtol=1e-4,
                               atol=1e-5)


@pytest.fixture(scope="module")
def wave_dump(tiny_corpus, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny corpus' VoxCeleb2 dev tracks dumped with waveforms in 2 jobs and merged;
    returns (data dir, dump dir)."""
    root = tmp_path_factory.mktemp("wave")
    data = root / "data"
    prepare_vox2(tiny_corpus / "voxceleb2", "dev", data)
    split = split_data_dir(data, 2)
    config = DumpConfig(face_size=32, waveform=True)
    for job in (1, 2):
        dump_data_dir(split / str(job), root / "dump", job, config)
    merge_dump(data, root / "dump", 2)
    return data, root / "dump"


def test_waveform_dump_holds_the_audio_of_every_frame(wave_dump):
    data, dump = wave_dump
    waves = kaldiio.load_scp(str(dump / "wave.scp"))
    feats = kaldiio.load_scp(str(dump / "feats.scp"))
    num_frames = read_table(dump / "utt2num_frames")
    source = DataDir(data).load()
    assert sorted(waves) == sorted(feats) and not list(dump.glob(".*.tmp"))
    for key, wave in waves.items():
        n = int(num_frames[key])
        audio, _ = read_audio(source.wav[key])
        assert wave.dtype == np.float32 and wave.shape == (640 * n,)
        np.testing.assert_array_equal(wave, fit_length(audio, 640 * n).astype(np.float32))
        np.testing.assert_array_equal(feats[key], logmel_for_video(np.array(wave), n))


def test_waveform_encoders_train_and_extract_from_wave_scp(wave_dump, tmp_path):
    """A waveform run: one short epoch on the waveform dump; stage 5 reads wave.scp, and a
    dump without one is an error naming the dump dir and the fix."""
    _, dump = wave_dump
    method, cfg = load_run_config(write_config(
        tmp_path / "wave.yaml", DEMO, model={"audio_encoder": "waveform"},
        data={"n_frames": 8, "batch_size": 2, "batches_per_epoch": 2, "valid_batches": 1},
        optim={**yaml.safe_load(DEMO.read_text())["optim"], "epochs": 1}, average_last=1))
    exp = tmp_path / "exp"
    train(method, cfg, TrainingData(dump, dump), exp, device="cpu")
    model, _ = load_pretrained(exp)
    assert model.input_kind == "waveform"
    stats = extract_embeddings(model, dump, tmp_path / "emb")
    content = kaldiio.load_scp(str(tmp_path / "emb" / "content.scp"))
    assert stats.n_utts == len(content) == len(read_table(dump / "wave.scp"))
    assert next(iter(content.values())).shape == (cfg.model.audio_dim,)
    no_wave = tmp_path / "no_wave"
    shutil.copytree(dump, no_wave)
    (no_wave / "wave.scp").unlink()
    with pytest.raises(ExtractError, match=f"{no_wave}: no wave.scp.*waveform: true"):
        extract_embeddings(model, no_wave, tmp_path / "emb2")


def test_whole_network_loader_refuses_other_methods(tmp_path):
    from xmodal.config import save_config
    from xmodal.methods.cross_modal import CrossModalConfig

    save_config(CrossModalConfig(), tmp_path / "config.yaml")
    with pytest.raises(ConfigError, match="method 'cross_modal' is not face_generation"):
        load_generation_network(tmp_path)
    save_config(FaceGenerationConfig(), tmp_path / "config.yaml")
    with pytest.raises(CheckpointError, match="no epoch checkpoint"):
        load_generation_network(tmp_path)


def test_bad_waveform_input_is_named_and_mixed_dump_jobs_are_refused(wave_dump, tmp_path):
    """A waveform that is not 1-D or holds NaN names the scp line and the utterance; jobs of
    one set dumped with and without waveforms are refused, and no .done is written."""
    from xmodal.eval.extract import checked_input

    model = FrameAudioEncoder(AudioEncoderConfig(kind="waveform", width=0.0625, dim=8))
    with pytest.raises(ExtractError, match=r"wave\.scp:3: utterance 'u' is not a non-empty 1-D"):
        checked_input(model, "u", np.zeros((2, 640)), "wave.scp:3")
    bad = np.zeros(1280, np.float32)
    bad[700] = np.nan
    with pytest.raises(ExtractError, match=r"wave\.scp:4: utterance 'u' has NaN .* sample 700"):
        checked_input(model, "u", bad, "wave.scp:4")
    data, _ = wave_dump
    split = split_data_dir(data, 2)
    out = tmp_path / "dump"
    dump_data_dir(split / "1", out, 1, DumpConfig(face_size=32, waveform=True))
    dump_data_dir(split / "2", out, 2, DumpConfig(face_size=32))
    with pytest.raises(DumpError, match=r"some dump jobs wrote waveforms .* job 2"):
        merge_dump(data, out, 2)
    assert not (out / ".done").exists() and not (out / "feats.scp").exists()
