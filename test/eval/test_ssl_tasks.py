"""Table 2 evaluation: known answers from an oracle model, and the CLI on a real experiment."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xmodal.config import save_config
from xmodal.data.datadir import read_table
from xmodal.eval.ssl_results import format_table
from xmodal.eval.ssl_tasks import ssl_task_accuracies, track_verification_eer
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import save_checkpoint
from xmodal.methods.cross_modal import CrossModalConfig

TINY_MODEL = ModelConfig(width=0.125, face_size=32, embed_dim=32, head_hidden=32, trunk_dim=32)


class Oracle(nn.Module):
    """Content = one-hot time step (same in both streams); identity = one-hot batch slot."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, feats, faces):
        batch, steps = faces.shape[0], faces.shape[1] - 4
        content = torch.eye(steps).expand(batch, steps, steps).clone()  # (B, D=S, S)
        identity = torch.eye(batch)[:, :, None].expand(batch, batch, steps).clone()
        stream = {"content": content, "identity": identity}
        return {"audio": stream, "visual": stream}


def test_oracle_gives_the_known_accuracies(tiny_dump: Path):
    r = ssl_task_accuracies(Oracle(), tiny_dump / "ssl_test", n_frames=12, batch_size=4,
                            n_batches=5, seed=1)
    # A batch holds one track of each of B different identities: the tiny ssl_test has two
    # (with two tracks each), so B = 2, whatever was asked.
    speakers = read_table(tiny_dump / "ssl_test" / "utt2spk")
    assert len(speakers) == 4 and r["batch_size"] == len(set(speakers.values())) == 2
    assert r["content_acc_content"] == 1.0 and r["identity_acc_identity"] == 1.0
    # Constant embeddings tie everywhere; argmax takes the first candidate: exactly 1/K right.
    assert r["content_acc_identity"] == pytest.approx(1 / 8)
    assert r["identity_acc_content"] == pytest.approx(1 / 2)
    assert r["chance_content"] == pytest.approx(1 / 8) and r["chance_identity"] == 0.5
    # Every decision right (or the same in every identity): the interval has no width.
    assert r["content_acc_content_ci"] == r["identity_acc_identity_ci"] == [1.0, 1.0]
    assert "| oracle | identity | 12.5 [" in format_table({"oracle": r})
    assert "| 100.0 [100.0, 100.0] |" in format_table({"oracle": r})
    assert r["n_identities"] == len(set(read_table(tiny_dump / "ssl_test" / "utt2spk").values()))


class IdentityBySpeaker(nn.Module):
    """Identity task right for the tracks of the speakers in ``good``, wrong for the others.

    The oracle recognises a window's track by the pixel sum of its first face frame.
    """

    def __init__(self, dump: Path, good: set[str]):
        super().__init__()
        import kaldiio

        self.dummy = nn.Parameter(torch.zeros(1))
        utt2spk = read_table(dump / "utt2spk")
        faces = kaldiio.load_scp(str(dump / "faces.scp"))
        self.good = {int(frame.astype(np.int64).sum()): utt2spk[key] in good
                     for key in utt2spk for frame in faces[key]}

    def forward(self, feats, faces):
        batch, steps = faces.shape[0], faces.shape[1] - 4
        voice = torch.eye(batch)[:, :, None].expand(batch, batch, steps)
        face = torch.zeros(batch, batch, steps)
        for i in range(batch):
            good = self.good[int(faces[i, 0].to(torch.int64).sum())]
            face[i, i if good else (i + 1) % batch] = 1.0  # a bad face points at the next voice
        content = torch.ones(batch, 4, steps)
        return {"audio": {"content": content, "identity": voice},
                "visual": {"content": content, "identity": face}}


def many_speaker_dump(root: Path, n_speakers: int = 10, tracks: int = 2, frames: int = 14) -> Path:
    """A dump dir of random features and faces: ``n_speakers`` x ``tracks`` face-tracks."""
    import kaldiio

    from xmodal.data.npy_ark import NumpyArkWriter

    rng = np.random.default_rng(0)
    keys = [f"id{s:05d}/v{t}/00001" for s in range(n_speakers) for t in range(tracks)]
    root.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{root}/feats.ark,{root}/feats.scp") as feats, \
            NumpyArkWriter(root / "faces.ark", root / "faces.scp") as faces:
        for key in keys:
            feats(key, rng.normal(size=(4 * frames, 40)).astype(np.float32))
            faces(key, rng.integers(0, 256, (frames, 32, 32, 3), dtype=np.uint8))
    (root / "utt2num_frames").write_text("".join(f"{k} {frames}\n" for k in keys))
    (root / "utt2spk").write_text("".join(f"{k} {k.split('/')[0]}\n" for k in keys))
    return root


class PersonOracle(nn.Module):
    """Identity embedding = one-hot of the track's speaker, in both streams (recognised by the
    pixel sums of its face frames): right exactly when a batch holds one track per person."""

    def __init__(self, dump: Path):
        super().__init__()
        import kaldiio

        self.dummy = nn.Parameter(torch.zeros(1))
        utt2spk = read_table(dump / "utt2spk")
        people = sorted(set(utt2spk.values()))
        faces = kaldiio.load_scp(str(dump / "faces.scp"))
        self.person = {int(frame.astype(np.int64).sum()): people.index(utt2spk[key])
                       for key in utt2spk for frame in faces[key]}
        self.n_people = len(people)

    def forward(self, feats, faces):
        batch, steps = faces.shape[0], faces.shape[1] - 4
        identity = torch.zeros(batch, self.n_people, steps)
        for i in range(batch):
            identity[i, self.person[int(faces[i, 0].to(torch.int64).sum())]] = 1.0
        stream = {"content": torch.ones(batch, 4, steps), "identity": identity}
        return {"audio": stream, "visual": stream}


def test_identity_batches_hold_distinct_people(tmp_path: Path):
    """A perfect person recogniser scores 100%: with two tracks of one person in a batch it
    would tie between them and score less."""
    dump = many_speaker_dump(tmp_path / "dump")
    r = ssl_task_accuracies(PersonOracle(dump), dump, n_frames=12, batch_size=8, n_batches=20,
                            seed=1)
    assert r["batch_size"] == 8 and r["chance_identity"] == 1 / 8
    assert r["identity_acc_identity"] == 1.0


def test_identity_intervals_come_from_resampling_identities(tmp_path: Path):
    """Half the identities always right, half always wrong: the decisions cluster by identity,
    so the interval spans what a draw of identities can give, far wider than a binomial one."""
    dump = many_speaker_dump(tmp_path / "dump")
    speakers = sorted(set(read_table(dump / "utt2spk").values()))
    model = IdentityBySpeaker(dump, set(speakers[: len(speakers) // 2]))
    r = ssl_task_accuracies(model, dump, n_frames=12, batch_size=4, n_batches=40, seed=1)
    low, high = r["identity_acc_identity_ci"]
    acc, n = r["identity_acc_identity"], 40 * 4
    assert r["n_identities"] == 10 and r["batch_size"] == 4 and 0.3 < acc < 0.7
    binomial = 1.96 * np.sqrt(acc * (1 - acc) / n)
    assert low < acc < high and high - low > 2 * 2 * binomial


def test_cli_writes_json_and_is_deterministic(tiny_dump: Path, tmp_path: Path):
    torch.manual_seed(0)
    exp = tmp_path / "exp"
    exp.mkdir()
    cfg = CrossModalConfig(model=TINY_MODEL)
    cfg.data.n_frames, cfg.data.batch_size = 12, 4
    save_config(cfg, exp / "config.yaml")
    save_checkpoint({"model": TwoStreamModel(TINY_MODEL).state_dict()}, exp / "model.pt")
    outputs = []
    for check in ([], ["--no-chance-check"]):
        proc = subprocess.run([sys.executable, "-m", "xmodal.bin.eval_ssl", "--exp-dir", str(exp),
                               "--data-dir", str(tiny_dump / "ssl_test"), "--batches", "4",
                               *check], capture_output=True, text=True)
        if check:
            assert proc.returncode == 0, proc.stderr
        else:
            # An untrained model has learnt neither loss of its config: stage 4 says so.
            assert proc.returncode == 2
            assert f"error: {exp / 'config.yaml'}: the content loss was trained" in proc.stderr
            assert "the identity loss was trained" in proc.stderr
        outputs.append(json.loads((exp / "ssl_eval.json").read_text()))
    assert outputs[0] == outputs[1]
    r = outputs[0]
    # The tiny ssl_test: 2 identities x 2 videos. B is capped at the 2 identities, and the
    # track-verification trials are the 2 same-identity pairs among the 6.
    assert (r["n_tracks"], r["n_identities"], r["batch_size"]) == (4, 2, 2)
    assert r["chance_content"] == 1 / 8 and r["chance_identity"] == 1 / 2
    assert r["track_target_pairs"] == 2
    assert "content (sync) acc" in proc.stdout


def test_cli_reports_a_missing_model(tiny_dump: Path, tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.eval_ssl", "--exp-dir",
                           str(tmp_path), "--data-dir", str(tiny_dump / "ssl_test")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "config.yaml" in proc.stderr


def test_track_eer_known_answers(tiny_dump: Path):
    import kaldiio
    from xmodal.data.datadir import read_table

    utt2spk = read_table(tiny_dump / "ssl_test" / "utt2spk")
    feats = kaldiio.load_scp(str(tiny_dump / "ssl_test" / "feats.scp"))
    speakers = sorted(set(utt2spk.values()))
    # Each utterance's features identify it (their exact bytes: a float32 sum's rounding
    # depends on the thread count); the oracle looks its speaker up.
    speaker_of = {np.asarray(feats[k], np.float32).tobytes(): speakers.index(s)
                  for k, s in utt2spk.items()}

    class SpeakerOracle(nn.Module):
        """Identity = one-hot of the true speaker; content = a constant."""

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward_audio(self, feats):
            spk = speaker_of[feats[0].numpy().astype(np.float32).tobytes()]
            identity = torch.zeros(1, len(speakers), 3)
            identity[0, spk] = 1.0
            return {"identity": identity, "content": torch.ones(1, len(speakers), 3)}

    r = track_verification_eer(SpeakerOracle(), tiny_dump / "ssl_test")
    assert r["track_pairs"] > r["track_target_pairs"] > 0
    assert r["track_eer_identity"] == 0.0
    assert r["track_eer_content"] == 50.0  # every pair scores the same
