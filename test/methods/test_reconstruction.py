"""The reconstruction method (Stafylakis et al. 2019) on the one trainer: segments, content
inputs, configs, paper-size training steps, and what the method learns on real dumped data."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from xmodal.bin import dump_content_embeddings, learn_units
from xmodal.config import save_config
from xmodal.data.content_embeddings import frame_steps
from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.frame_labels import (fit_to_frames, phone_error_rate, read_frame_labels,
                                      read_phone_table)
from xmodal.methods import load_pretrained, load_run_config
from xmodal.methods.cross_modal import CrossModalConfig
from xmodal.methods.reconstruction import (METHOD, ContentSource, ReconstructionConfig,
                                           ReconstructionData, SegmentBatchSampler,
                                           SegmentDataset, UtteranceSet, segment_pair)
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.models.xvector import RECEPTIVE_FIELD, XVectorConfig, XVectorExtractor
from xmodal.train.checkpoint import save_checkpoint
from xmodal.train.config import OptimConfig
from xmodal.train.method import TrainingData
from xmodal.train.trainer import train

REPO = Path(__file__).resolve().parents[2]
PAPER_CONFIGS = sorted(REPO.glob("egs/voxceleb/v1/conf/recon_*.yaml")) + \
    sorted(REPO.glob("egs/voxceleb/v1/conf/xvector_*.yaml"))
TINY_MODEL = XVectorConfig(n_mels=40, channels=32, pooled_dim=64, embed_dim=16)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**data) -> ReconstructionConfig:
    fields = dict(segment_a_frames=48, segment_b_frames=48, batch_size=4, batches_per_epoch=2,
                  valid_batches=2, num_workers=0)
    fields.update(data)
    return ReconstructionConfig(model=TINY_MODEL, data=ReconstructionData(**fields),
                                optim=OptimConfig(epochs=1, name="adam", lr=1e-3), seed=3)


@pytest.mark.parametrize("gap", [0, 5])
def test_segments_never_overlap_and_keep_the_gap(gap):
    rng = np.random.default_rng(0)
    orders = set()
    for _ in range(3000):
        a, b = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        n = a + b + gap + int(rng.integers(0, 30))
        a0, b0 = segment_pair(n, a, b, gap, rng)
        assert 0 <= a0 and a0 + a <= n and 0 <= b0 and b0 + b <= n
        # Disjoint, at least `gap` frames apart, whichever comes first.
        assert a0 + a + gap <= b0 or b0 + b + gap <= a0
        orders.add(a0 < b0)
    assert orders == {True, False}
    with pytest.raises(ValueError, match="cannot hold"):
        segment_pair(10, 5, 5, 1, rng)


def test_segments_cover_every_start_that_fits():
    """The pair is not confined to a corner of the utterance: A starts anywhere it can."""
    rng = np.random.default_rng(1)
    starts = {segment_pair(30, 10, 10, 0, rng)[0] for _ in range(3000)}
    assert starts == set(range(0, 11)) | set(range(10, 21))


def test_dataset_cuts_a_and_b_from_the_same_utterance_at_their_frames(tiny_dump):
    """A and B are the frames they claim to be, B's content input is B's phones."""
    train_dir = tiny_dump / "ssl_train"
    cfg = tiny(content="phones")
    pairs, _, _ = UtteranceSet.pairs(train_dir, cfg.data, with_labels=False)
    content = ContentSource(train_dir, cfg.data, cfg.seed, pairs.keys)
    dataset = SegmentDataset(cfg, pairs, content, None)
    labels = read_frame_labels(train_dir / "frame_phones",
                               len(read_phone_table(train_dir / "phones.txt")))
    key = pairs.keys[0]
    feats = np.asarray(pairs.feats[key])
    for seed in range(20):
        a, b_content, b, label, is_pair = dataset[(0, 0, seed)]
        a0, b0 = segment_pair(len(feats), 48, 48, 0, np.random.default_rng(seed))
        np.testing.assert_array_equal(a.numpy(), feats[a0:a0 + 48])
        np.testing.assert_array_equal(b.numpy(), feats[b0:b0 + 48])
        expected = np.zeros(len(feats), np.int64)
        n = min(len(feats), len(labels[key]))
        expected[:n] = labels[key][:n]
        np.testing.assert_array_equal(b_content.numpy(), expected[b0:b0 + 48])
        assert (label, is_pair) == (-1, 1)


def test_noisy_content_is_fixed_per_utterance_at_the_set_error_rate(tiny_dump):
    train_dir = tiny_dump / "ssl_train"
    keys = list(read_table(train_dir / "frame_phones"))
    exact = ContentSource(train_dir, ReconstructionData(content="phones"), seed=3, keys=keys)
    noisy = ContentSource(train_dir, ReconstructionData(content="noisy", phone_error_rate=0.3),
                          seed=3, keys=keys)
    rates = []
    for key in keys:
        n = len(exact.table[key]) + 5
        first, again = noisy(key, n), noisy(key, n)
        np.testing.assert_array_equal(first, again)  # the same errors every epoch
        rates.append(phone_error_rate(exact(key, n), first))
    assert 0.1 < float(np.mean(rates)) < 0.5


def test_missing_phone_labels_name_the_file_and_utterance(tiny_dump, tmp_path):
    train_dir = tiny_dump / "ssl_train"
    copy = tmp_path / "ssl_train"
    copy.mkdir()
    for f in train_dir.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    lines = (copy / "frame_phones").read_text().splitlines()
    (copy / "frame_phones").write_text("\n".join(lines[1:]) + "\n")
    cfg = tiny(content="phones")
    with pytest.raises(DataDirError, match=r"frame_phones: no entry for 1 utterance.*"
                       + lines[0].split()[0]):
        METHOD.train_batches(cfg, TrainingData(copy), 0, 1)


@pytest.mark.parametrize("fields, message", [
    (dict(content="words"), "data.content must be one of"),
    (dict(labels="labelled"), "labelled_batch_size >= 1"),
    (dict(labelled_batch_size=4), "for data.labels labelled only"),
])
def test_bad_data_sections_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        ReconstructionData(**fields)


def test_inconsistent_loss_and_batches_are_refused():
    with pytest.raises(ValueError, match="data.batch_size must be > 0 exactly"):
        dataclasses.replace(tiny(batch_size=0))
    with pytest.raises(ValueError, match="classify_weight > 0 needs data.labels"):
        ReconstructionConfig(model=TINY_MODEL, data=ReconstructionData(labels="none"),
                             loss=dataclasses.replace(ReconstructionConfig().loss,
                                                      classify_weight=1.0))


def test_sampler_replicas_share_each_global_batch():
    whole = SegmentBatchSampler(50, 20, 8, 4, steps=3, seed=1)
    parts = [SegmentBatchSampler(50, 20, 8, 4, steps=3, seed=1, rank=r, num_replicas=2)
             for r in range(2)]
    for index in range(3):
        union = sorted(parts[0].batch(index) + parts[1].batch(index))
        assert union == sorted(whole.batch(index))
        assert sum(item[0] == 1 for item in parts[0].batch(index)) == 2  # labelled share


def test_xvector_receptive_field_and_heads():
    model = XVectorExtractor(TINY_MODEL).eval()
    assert RECEPTIVE_FIELD == 15
    out = model.forward_audio(torch.randn(2, 40, 40))
    assert out["identity"].shape == (2, 16, 1) and out["content"].shape == (2, 32, 40 - 14)
    # Frame output t sees input frames t .. t+14 only: change frame 20, outputs 6..20 move.
    x = torch.randn(1, 40, 40)
    y = x.clone()
    y[0, 20] += 1.0
    # Mean normalisation spreads any change over every frame; compare without it.
    with torch.no_grad():
        fx, fy = (model.frames[4](model.frames[3](model.frames[2](model.frames[1](
            model.frames[0](v.transpose(1, 2))))))[0] for v in (x, y))
    moved = (fx - fy).abs().sum(dim=0) > 0
    assert moved.nonzero().flatten().tolist() == list(range(6, 21))
    with pytest.raises(ValueError, match="needs >= 15 frames"):
        model.embed(torch.randn(1, 14, 40))


def cross_modal_exp(root: Path, seed: int) -> Path:
    """An untrained tiny cross-modal model saved as an experiment (config.yaml, model.pt)."""
    torch.manual_seed(seed)
    cfg = ModelConfig(width=0.125, face_size=32, embed_dim=24, head_hidden=32, trunk_dim=32)
    save_config(CrossModalConfig(model=cfg), root / "config.yaml")
    save_checkpoint({"model": TwoStreamModel(cfg).state_dict()}, root / "model.pt")
    return root


@pytest.fixture(scope="module")
def unit_dump(tiny_dump, tmp_path_factory) -> Path:
    """A copy of the tiny dump's tables (the arks stay shared) with what stage 3 adds for the
    content inputs: 8 k-means units of log-mel, a cross-modal model's content embeddings and
    6 units of those. The shared fixture itself stays as stage 2 left it."""
    root = tmp_path_factory.mktemp("units")
    for name in ("ssl_train", "ssl_test"):
        (root / name).mkdir()
        for f in (tiny_dump / name).iterdir():
            if f.is_file():
                (root / name / f.name).write_bytes(f.read_bytes())
    dirs = f"{root / 'ssl_train'} {root / 'ssl_test'}"
    assert learn_units.main(["--train-dir", str(root / "ssl_train"), "--num-units", "8",
                             "--out", str(root / "units" / "kmeans.npy"), "--apply-to",
                             dirs]) == 0
    exp = cross_modal_exp(root / "ssl_content", seed=0)
    assert dump_content_embeddings.main(["--exp-dir", str(exp), "--dump-dirs", dirs,
                                         "--num-threads", "1"]) == 0
    assert learn_units.main(["--train-dir", str(root / "ssl_train"), "--num-units", "6",
                             "--features", "content_emb", "--out",
                             str(root / "content_units" / "kmeans.npy"), "--apply-to",
                             dirs]) == 0
    for name in ("ssl_train", "ssl_test"):  # posteriors as a recogniser would give them
        write_soft_posteriors(root / name)
    return root


def write_soft_posteriors(dump_dir: Path) -> None:
    """``phone_post.{scp,txt}`` of ``dump_dir``: its exact phones, 0.8 on the right one."""
    symbols = read_phone_table(dump_dir / "phones.txt")
    (dump_dir / "phone_post.txt").write_text((dump_dir / "phones.txt").read_text())
    labels = read_frame_labels(dump_dir / "frame_phones", len(symbols))
    feats = kaldiio.load_scp(str(dump_dir / "feats.scp"))
    labels = {k: fit_to_frames(ids, len(feats[k]), k) for k, ids in labels.items()}
    with kaldiio.WriteHelper(f"ark,scp:{dump_dir / 'post.ark'},"
                             f"{dump_dir / 'phone_post.scp'}") as out:
        for key, ids in labels.items():
            post = np.full((len(ids), len(symbols)), 0.2 / (len(symbols) - 1), np.float32)
            post[np.arange(len(ids)), ids] = 0.8
            out(key, post)


def test_content_embeddings_cover_every_utterance_and_are_redone_for_another_model(
        unit_dump, tmp_path, capsys):
    train_dir = unit_dump / "ssl_train"
    feats = kaldiio.load_scp(str(train_dir / "feats.scp"))
    emb = kaldiio.load_scp(str(train_dir / "content_emb.scp"))
    assert sorted(emb) == sorted(feats)
    for key in feats:
        assert emb[key].shape == (len(feats[key]) // 4 - 4, 24), key
    assert (train_dir / "content_emb.source").read_text().strip() == \
        str((unit_dump / "ssl_content").resolve())
    units = read_frame_labels(train_dir / "frame_content_units", 6)
    assert all(len(units[k]) == len(feats[k]) for k in feats)
    # Frames take their nearest step's unit: runs of 4 frames, one per step.
    key = next(iter(feats))
    assert np.all(units[key][10:-10].reshape(-1, 4) == units[key][10:-10:4, None])

    copy = tmp_path / "dump"
    copy.mkdir()
    for f in train_dir.iterdir():
        copy.joinpath(f.name).write_bytes(f.read_bytes())
    before = (copy / "content_emb.scp").stat().st_mtime_ns
    args = ["--dump-dirs", str(copy), "--num-threads", "1"]
    assert dump_content_embeddings.main(["--exp-dir", str(unit_dump / "ssl_content"),
                                         *args]) == 0
    assert (copy / "content_emb.scp").stat().st_mtime_ns == before  # the same model: skipped
    other = cross_modal_exp(tmp_path / "other", seed=1)
    assert dump_content_embeddings.main(["--exp-dir", str(other), *args]) == 0
    redone = kaldiio.load_scp(str(copy / "content_emb.scp"))
    assert not np.allclose(redone[key], emb[key])
    assert (copy / "content_emb.source").read_text().strip() == str(other.resolve())
    assert not list(copy.glob(".*tmp"))


def test_content_embeddings_need_a_cross_modal_model(unit_dump, tmp_path, capsys):
    cfg = tiny(content="phones")
    exp = tmp_path / "xvector"
    save_config(cfg, exp / "config.yaml")
    save_checkpoint({"model": XVectorExtractor(TINY_MODEL).state_dict()}, exp / "model.pt")
    assert dump_content_embeddings.main(["--exp-dir", str(exp), "--dump-dirs",
                                         str(tmp_path)]) == 1
    assert "method 'reconstruction' has no cross-modal content head" in capsys.readouterr().err
    assert not (tmp_path / "content_emb.scp").exists()


@pytest.mark.parametrize("content", ["content_embedding", "content_units"])
def test_cross_modal_content_inputs_feed_the_decoder(unit_dump, content):
    """B's content input is the frozen embedding (or unit) of each of its frames."""
    train_dir = unit_dump / "ssl_train"
    cfg = tiny(content=content)
    dataset, sampler = METHOD.train_batches(cfg, TrainingData(train_dir), 0, 1)
    pairs = dataset.pairs
    emb = kaldiio.load_scp(str(train_dir / "content_emb.scp"))
    units = read_frame_labels(train_dir / "frame_content_units", 6)
    for seed in range(5):
        _, b_content, b, _, _ = dataset[(0, 0, seed)]
        key = pairs.keys[0]
        n = len(pairs.feats[key])
        _, b0 = segment_pair(n, 48, 48, 0, np.random.default_rng(seed))
        steps = frame_steps(n, len(emb[key]))[b0:b0 + 48]
        expected = emb[key][steps] if content == "content_embedding" else units[key][b0:b0 + 48]
        np.testing.assert_array_equal(b_content.numpy(), expected)
    network = METHOD.network(cfg, TrainingData(train_dir))
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_sampler=sampler)))
    terms, _ = network(batch, torch.Generator())
    assert torch.isfinite(terms["loss"]) and terms["reconstruction"] > 0


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.name)
def test_paper_size_configs_train_a_few_steps(path, unit_dump, tmp_path):
    """Each paper-size config, model and decoder as shipped; the segments and batches cut to
    what the tiny corpus' 2-3 s tracks hold and to two steps."""
    tiny_dump = unit_dump
    method, cfg = load_run_config(path)
    assert method.name == "reconstruction" and cfg.model.channels == 512 \
        and cfg.model.pooled_dim == 1500 and cfg.model.embed_dim == 512
    data = dataclasses.replace(cfg.data, segment_a_frames=64, segment_b_frames=64,
                               batch_size=min(cfg.data.batch_size, 4),
                               labelled_batch_size=min(cfg.data.labelled_batch_size, 2),
                               batches_per_epoch=2, valid_batches=1, num_workers=0)
    cfg = dataclasses.replace(cfg, data=data, optim=dataclasses.replace(cfg.optim, epochs=1),
                              average_last=1)
    out = tmp_path / "exp"
    train(method, cfg, TrainingData(tiny_dump / "ssl_train", tiny_dump / "ssl_test",
                                    tiny_dump / "ssl_test" / "utt2spk", tiny_dump / "ssl_test"),
          out, device="cpu")
    log = json.loads((out / "train_log.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(log["train"]["loss"])
    model, _ = load_pretrained(out)
    assert isinstance(model, XVectorExtractor)


def write(cfg: ReconstructionConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    return path


@pytest.fixture(scope="module")
def trained_pair(learning_dump, tmp_path_factory):
    """The same small model trained with B's phones and without any content input, on the
    40 training tracks; the valid loss is on 6 held-out people."""
    root = tmp_path_factory.mktemp("recon")
    logs = {}
    for content in ("phones", "none"):
        cfg = ReconstructionConfig(
            model=TINY_MODEL, data=ReconstructionData(
                segment_a_frames=48, segment_b_frames=48, content=content, batch_size=16,
                batches_per_epoch=15, valid_batches=4, num_workers=0),
            optim=OptimConfig(epochs=4, name="adam", lr=3e-3, lr_decay=1.0), seed=0)
        train(load_run_config(write(cfg, root / f"{content}.yaml"))[0], cfg,
              TrainingData(learning_dump / "ssl_train", learning_dump / "ssl_test"),
              root / content, device="cpu")
        logs[content] = [json.loads(line) for line in
                         (root / content / "train_log.jsonl").read_text().splitlines()]
    return logs


def test_the_decoder_uses_the_phones(trained_pair):
    """Told what B says, the decoder reconstructs held-out speech far better than from the
    embedding alone: a decoder that ignored its content input would not."""
    phones = trained_pair["phones"][-1]["valid"]["reconstruction"]
    none = trained_pair["none"][-1]["valid"]["reconstruction"]
    assert phones < 0.8 * none


def test_reconstruction_beats_predicting_the_mean_frame(trained_pair, learning_dump):
    """On held-out people, predicting the training set's mean frame scores
    E[((x - mean) / std)^2] (about 1.3 here: they differ from the training people); the model
    told B's phones must do clearly better."""
    train_frames = np.concatenate([np.asarray(m) for m in kaldiio.load_scp(
        str(learning_dump / "ssl_train" / "feats.scp")).values()])
    test_frames = np.concatenate([np.asarray(m) for m in kaldiio.load_scp(
        str(learning_dump / "ssl_test" / "feats.scp")).values()])
    mean_loss = float((((test_frames - train_frames.mean(0)) / train_frames.std(0)) ** 2).mean())
    last = trained_pair["phones"][-1]["valid"]["reconstruction"]
    assert last < 0.85 * mean_loss
