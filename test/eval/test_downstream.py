"""Downstream stage on real dumped features: frozen frames per head, cached once; a label that
the features encode is found and a shuffled one is not; the CLI writes one result per task and
head, reruns as a no-op, and names what is missing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from xmodal.data.datadir import DataDirError, read_table, write_table
from xmodal.eval.downstream import SPLITS, encoder_frames, read_split, run_task, write_features
from xmodal.eval.downstream_classifier import ClassifierConfig
from xmodal.methods import load_pretrained
from xmodal.models.mean_logmel import MeanLogMel

pytestmark = pytest.mark.usefixtures("one_thread")
CONFIG = "kind: linear\nmax_epochs: 200\npatience: 30\nlr: 0.02\nbatch_size: 8\nseed: 0\n"


def run_module(module: str, *args: str, returncode: int = 0) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` for real; it must exit with ``returncode``."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True)
    assert proc.returncode == returncode, proc.stderr[-3000:]
    return proc


def loudness(feats_scp: Path) -> dict[str, float]:
    """Each utterance's mean log-mel value: a label the mean frame encodes linearly."""
    return {k: float(np.mean(m)) for k, m in kaldiio.load_scp(str(feats_scp)).items()}


@pytest.fixture(scope="module")
def task(learning_dump: Path, tmp_path_factory) -> Path:
    """A task of the 40 ssl_train and 12 ssl_test tracks, speaker-disjoint splits (train 24
    speakers, valid 8 and test 8 of ssl_train plus ssl_test's 6 in test); label ``loud`` or
    ``quiet`` by the utterance's mean log-mel against the median."""
    root = tmp_path_factory.mktemp("downstream") / "loudness"
    feats, utt2spk = {}, {}
    for part in ("ssl_train", "ssl_test"):
        feats |= read_table(learning_dump / part / "feats.scp")
        utt2spk |= read_table(learning_dump / part / "utt2spk")
    level = {k: v for part in ("ssl_train", "ssl_test")
             for k, v in loudness(learning_dump / part / "feats.scp").items()}
    median = float(np.median(list(level.values())))
    train_speakers = sorted(set(read_table(learning_dump / "ssl_train" / "utt2spk").values()))
    split_of = {s: "train" for s in train_speakers[:24]}
    split_of |= {s: "valid" for s in train_speakers[24:32]}
    split_of |= {s: "test" for s in set(utt2spk.values()) - set(split_of)}
    for split in SPLITS:
        keys = [k for k in feats if split_of[utt2spk[k]] == split]
        (root / split).mkdir(parents=True)
        write_table(root / split / "feats.scp", {k: feats[k] for k in keys})
        write_table(root / split / "utt2spk", {k: utt2spk[k] for k in keys})
        write_table(root / split / "utt2label",
                    {k: "loud" if level[k] > median else "quiet" for k in keys})
    return root


def test_frames_are_the_heads_steps(learning_dump: Path, tmp_path: Path):
    feats = np.asarray(next(iter(kaldiio.load_scp(
        str(learning_dump / "ssl_test" / "feats.scp")).values())), dtype=np.float32)
    assert np.array_equal(encoder_frames(MeanLogMel(40), feats, ["content"])["content"], feats)
    # An x-vector pools its identity into one step; its content head keeps T - 14 frames.
    (tmp_path / "x.yaml").write_text(
        "method: reconstruction\nmodel: {n_mels: 40, channels: 32, pooled_dim: 64, "
        "embed_dim: 16}\ndata: {batch_size: 4}\n")
    run_module("xmodal.bin.init_model", "--config", str(tmp_path / "x.yaml"), "--output-dir",
               str(tmp_path / "xvector"))
    xvector = load_pretrained(tmp_path / "xvector")[0]
    frames = encoder_frames(xvector, feats, ["identity", "content"])
    assert frames["identity"].shape == (1, 16)
    assert frames["content"].shape == (len(feats) - 14, 32)
    # One head alone is what it is beside the other.
    assert np.array_equal(encoder_frames(xvector, feats, ["content"])["content"],
                          frames["content"])
    # Shorter than the receptive field: tiled, as stage 5 does.
    assert encoder_frames(xvector, feats[:5], ["content"])["content"].shape == (1, 32)
    with pytest.raises(ValueError, match="heads must be some of"):
        encoder_frames(xvector, feats, ["lips"])


def test_features_are_written_once(task: Path, tmp_path: Path):
    scp = write_features(MeanLogMel(40), task / "test", ["identity"], tmp_path / "f")["identity"]
    written = kaldiio.load_scp(str(scp))
    source = kaldiio.load_scp(str(task / "test" / "feats.scp"))
    assert sorted(written) == sorted(source)
    for key in source:
        assert np.array_equal(written[key], source[key])
    before = scp.stat().st_mtime_ns
    # Asked again with a second head: the first is kept, the second written beside it.
    both = write_features(MeanLogMel(40), task / "test", ["identity", "content"], tmp_path / "f")
    assert both["identity"] == scp and scp.stat().st_mtime_ns == before
    assert kaldiio.load_scp(str(both["content"])).keys() == written.keys()
    assert not [p for p in (tmp_path / "f").iterdir() if p.name.startswith(".")]


def test_an_encoded_label_is_found_and_a_shuffled_one_is_not(task: Path, tmp_path: Path):
    scps = {s: task / s / "feats.scp" for s in SPLITS}  # the log-mel frames themselves
    cfg = ClassifierConfig(kind="linear", max_epochs=200, patience=30, lr=0.02, batch_size=8)
    result = run_task({s: task / s for s in SPLITS}, scps, cfg, n_boot=200)
    # Measured 0.95 on 20 test utterances of 14 speakers; with each utterance's features
    # paired with another's label (keys misaligned) it fell to chance.
    assert result["labels"] == ["loud", "quiet"] and result["n_test"] == 20
    assert result["accuracy"] >= 0.85 and result["ci"][0] > result["chance"]
    assert set(result["outcomes"]) == set(read_table(task / "test" / "utt2label"))
    # The same features with labels drawn at random: nothing to find.
    shuffled = tmp_path / "shuffled"
    rng = np.random.default_rng(0)
    for split in SPLITS:
        (shuffled / split).mkdir(parents=True)
        for name in ("feats.scp", "utt2spk"):
            (shuffled / split / name).write_text((task / split / name).read_text())
        labels = read_table(task / split / "utt2label")
        write_table(shuffled / split / "utt2label",
                    {k: str(rng.choice(["loud", "quiet"])) for k in labels})
    noise = run_task({s: shuffled / s for s in SPLITS}, scps, cfg, n_boot=200)
    assert noise["ci"][0] <= 0.5 <= noise["ci"][1]


def test_a_label_unseen_in_training_is_an_error_naming_it(task: Path, tmp_path: Path):
    train, labels = read_split(task / "train", task / "train" / "feats.scp", None)
    assert labels == ["loud", "quiet"] and len(train.keys) == 24
    odd = tmp_path / "test"
    odd.mkdir()
    for name in ("feats.scp", "utt2spk"):
        (odd / name).write_text((task / "test" / name).read_text())
    table = read_table(task / "test" / "utt2label")
    first = sorted(table)[0]
    write_table(odd / "utt2label", table | {first: "whisper"})
    with pytest.raises(ValueError, match=f"utt2label: utterance '{first}' has label "
                       "'whisper', which the training split does not have"):
        read_split(odd, odd / "feats.scp", labels)


def test_the_command_writes_each_result_once_and_names_what_is_missing(task: Path,
                                                                      tmp_path: Path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    args = ["--mean-logmel", "--task-root", str(task.parent), "--tasks", task.name,
            "--config", str(tmp_path / "c.yaml"), "--out-dir", str(tmp_path / "out"),
            "--n-boot", "100"]
    proc = run_module("xmodal.bin.downstream", *args)
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        f"{tmp_path / 'out' / task.name}_identity", f"{tmp_path / 'out' / task.name}_content"]
    result = json.loads((tmp_path / "out" / f"{task.name}_content.json").read_text())
    assert result["encoder"] == "mean_logmel" and result["head"] == "content"
    assert f"accuracy {result['accuracy']:.3f}" in lines[1]
    again = run_module("xmodal.bin.downstream", *args)
    assert again.stdout == "" and "nothing to do" in again.stderr

    (tmp_path / "bad.yaml").write_text("kind: svm\n")
    stderr = run_module("xmodal.bin.downstream", *args[:-5], str(tmp_path / "bad.yaml"),
                        "--out-dir", str(tmp_path / "o2"), returncode=1).stderr
    assert "kind" in stderr.splitlines()[-1] and str(tmp_path / "bad.yaml") in stderr
    stderr = run_module("xmodal.bin.downstream", "--mean-logmel", "--task-root",
                        str(tmp_path), "--tasks", "nowhere", "--config",
                        str(tmp_path / "c.yaml"), "--out-dir", str(tmp_path / "o3"),
                        returncode=1).stderr
    assert stderr.splitlines()[-1] == (f"error: {tmp_path / 'nowhere' / 'train'}/feats.scp: "
                                       "file not found (task 'nowhere' needs dumped train, "
                                       "valid and test)")


def relative_cue_task(root: Path, relative_cue_set) -> Path:
    """Task dirs (real ark/scp) of ``relative_cue_set`` (conftest): 12 training, 6 validation
    and 6 test speakers of 8 utterances, labels ``lo``/``hi``, balanced within each speaker."""
    for split, seed, n_speakers in (("train", 1, 12), ("valid", 2, 6), ("test", 3, 6)):
        data = relative_cue_set(split, seed, n_speakers=n_speakers, per_speaker=8)
        (root / split).mkdir(parents=True)
        with kaldiio.WriteHelper(f"ark,scp:{root / split}/feats.ark,{root / split}/feats.scp"
                                 ) as writer:
            for key, x in zip(data.keys, data.feats):
                writer(key, x)
        write_table(root / split / "utt2spk", dict(zip(data.keys, data.speakers)))
        write_table(root / split / "utt2label",
                    {k: ("lo", "hi")[label] for k, label in zip(data.keys, data.labels)})
    return root


def test_speaker_normalised_task_reads_the_cue_relative_to_each_speaker(
        tmp_path: Path, relative_cue_set):
    task = relative_cue_task(tmp_path / "task", relative_cue_set)
    scps = {s: task / s / "feats.scp" for s in SPLITS}
    cfg = ClassifierConfig(kind="linear", max_epochs=200, patience=30, lr=0.02, batch_size=8)
    normed = run_task({s: task / s for s in SPLITS}, scps, cfg, n_boot=200, speaker_norm=True)
    plain = run_task({s: task / s for s in SPLITS}, scps, cfg, n_boot=200)
    # Measured 0.98 [0.94, 1.00] with and 0.50 [0.50, 0.50] without, on 48 test utterances of
    # 6 speakers.
    assert normed["speaker_normalised"] and not plain["speaker_normalised"]
    assert normed["accuracy"] >= 0.9 and normed["ci"][0] > plain["accuracy"]
    assert plain["ci"][0] <= 0.5
    # Training labels tie: chance is the tied labels' mean test share, whatever the test mix.
    assert normed["chance"] == 0.5


def test_chance_with_tied_training_labels_is_their_mean_test_share(
        tmp_path: Path, relative_cue_set):
    task = relative_cue_task(tmp_path / "task", relative_cue_set)
    table = read_table(task / "test" / "utt2label")
    kept = {k: v for k, v in table.items() if v == "hi" or k.endswith("-0")}  # 24 hi, 6 lo
    write_table(task / "test" / "utt2label", kept)
    cfg = ClassifierConfig(kind="linear", max_epochs=5, patience=5, batch_size=8)
    result = run_task({s: task / s for s in SPLITS},
                      {s: task / s / "feats.scp" for s in SPLITS}, cfg, n_boot=50)
    # Either tied label is as good a guess: (24/30 + 6/30) / 2, not "hi"'s 0.8.
    assert result["n_test"] == 30 and result["chance"] == pytest.approx(0.5)


def test_speaker_normalisation_of_a_one_utterance_speaker_names_it(
        tmp_path: Path, relative_cue_set):
    task = relative_cue_task(tmp_path / "task", relative_cue_set)
    table = read_table(task / "test" / "utt2label")
    lone = "test05-0"
    write_table(task / "test" / "utt2label",
                {k: v for k, v in table.items() if not k.startswith("test05") or k == lone})
    cfg = ClassifierConfig(kind="linear", max_epochs=5, patience=5, batch_size=8)
    with pytest.raises(DataDirError, match=f"test/utt2spk: speaker 'test05' has one "
                       f"utterance \\('{lone}'\\)"):
        run_task({s: task / s for s in SPLITS}, {s: task / s / "feats.scp" for s in SPLITS},
                 cfg, n_boot=50, speaker_norm=True)


def test_cli_normalises_the_tasks_it_is_told_to(tmp_path: Path, relative_cue_set):
    relative_cue_task(tmp_path / "emotion", relative_cue_set)
    relative_cue_task(tmp_path / "words", relative_cue_set)
    (tmp_path / "c.yaml").write_text(CONFIG)
    run_module("xmodal.bin.downstream", "--mean-logmel", "--heads", "content", "--task-root",
               str(tmp_path), "--tasks", "emotion words", "--speaker-norm-tasks", "emotion",
               "--config", str(tmp_path / "c.yaml"), "--out-dir", str(tmp_path / "out"),
               "--n-boot", "50")
    emotion, words = (json.loads((tmp_path / "out" / f"{t}_content.json").read_text())
                      for t in ("emotion", "words"))
    assert emotion["speaker_normalised"] and not words["speaker_normalised"]
    assert emotion["accuracy"] > words["accuracy"]  # the same data: only the protocol differs
