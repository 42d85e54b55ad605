#!/usr/bin/env python3
"""What a trained model's identity embeddings know about the synthetic people behind them.

Usage (from the recipe dir, after stage 3):
  python local/identity_cues.py --exp-dir exp/ssl_identity

1. B-way matching of a face to its voice among B tracks of B different identities, on
   training and on held-out identities, with the face and the voice from different windows of
   the same track and from different videos (Table 2, stage 4, takes both from one window, so
   content shared by the window's lips and voice counts there). 95% intervals from a bootstrap
   over identities. Same-track accuracy well above cross-video accuracy means the model
   matches video cues; training accuracy well above held-out means it memorised identities.
2. Ridge probes, fitted on training identities and scored (R^2) on held-out ones, of the
   synthetic corpus' latent attributes from each stream's identity embedding: which traits
   the face stream and the voice stream each encode, and so which ones they can share.
"""
from __future__ import annotations

import argparse
import colorsys
import json
from pathlib import Path

import numpy as np
import torch

from xmodal.data.track_windows import TrackWindowDataset
from xmodal.eval.bootstrap import cluster_bootstrap_accuracy
from xmodal.synth import layout
from xmodal.synth.corpus import CorpusSpec, sample_identity
from xmodal.methods import load_pretrained

WINDOWS = 3  # windows per track, evenly spaced
ATTRIBUTES = ("gender", "age", "pitch", "rate", "formant", "hair_lightness", "skin_tone",
              "glasses", "trait0", "trait1", "trait2", "trait3")


@torch.no_grad()
def embed(model, dump_dir: Path, n_frames: int):
    """Track keys, audio identity (track, window, D) and face identity at mid-window."""
    dataset = TrackWindowDataset(dump_dir, n_frames)  # its keys leave out too-short tracks
    audio, face = [], []
    for index, length in enumerate(dataset.num_frames):
        starts = np.linspace(0, length - n_frames, WINDOWS).astype(int)
        feats, faces = map(torch.stack, zip(*(dataset[(index, int(s))] for s in starts)))
        out = model(feats, faces)
        audio.append(out["audio"]["identity"].mean(-1).numpy())
        face.append(out["visual"]["identity"][:, :, (n_frames - 4) // 2].numpy())
    return dataset.keys, np.array(audio), np.array(face)


def b_way(keys, audio, face, cross_video: bool, batch: int, draws: int = 500) -> dict | None:
    """Face -> voice matching accuracy among ``batch`` tracks of distinct identities, with a
    95% interval from a bootstrap over identities (the draws reuse each identity's tracks);
    None if fewer than ``batch`` identities qualify."""
    spk, video = zip(*(key.split("/")[:2] for key in keys))
    by_spk: dict[str, list[tuple[int, int]]] = {}
    for i in range(len(keys)):
        partners = ([j for j in range(len(keys)) if spk[j] == spk[i] and video[j] != video[i]]
                    if cross_video else [i])
        by_spk.setdefault(spk[i], []).extend((i, j) for j in partners)
    speakers = sorted(s for s, pairs in by_spk.items() if pairs)
    if len(speakers) < batch:
        return None
    rng = np.random.default_rng(0)
    hits, owners = [], []
    for _ in range(draws):
        chosen = rng.choice(len(speakers), batch, replace=False)
        pairs = [by_spk[speakers[s]][rng.integers(len(by_spk[speakers[s]]))] for s in chosen]
        a = np.stack([audio[i, 0] for i, _ in pairs])
        v = np.stack([face[j, 1] for _, j in pairs])
        a /= np.linalg.norm(a, axis=1, keepdims=True)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        hits.append((v @ a.T).argmax(1) == np.arange(batch))
        owners.append([speakers[s] for s in chosen])  # a decision belongs to its face's identity
    return cluster_bootstrap_accuracy(np.concatenate(hits), np.concatenate(owners))


def percent(result: dict | None) -> str:
    """``acc [low, high]`` in percent, or why there is none."""
    if result is None:
        return "n/a (fewer than B identities with 2 videos)"
    return f"{100 * result['mean']:.1f} [{100 * result['low']:.1f}, {100 * result['high']:.1f}]%"


def attributes(keys, spec: CorpusSpec, pool: str) -> dict[str, np.ndarray]:
    """The latent and rendered attributes of each track's identity."""
    rows = []
    for key in keys:
        index = int(key.split("/")[0][2:]) - layout.POOL_ID_BASE[pool]
        person = sample_identity(spec, pool, index)
        value = lambda rgb: colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[2]  # noqa: E731
        rows.append((person.gender == "m", person.age, person.voice.pitch, person.voice.rate,
                     person.voice.formant, value(person.face.hair), value(person.face.skin),
                     person.face.glasses, *person.traits))
    return dict(zip(ATTRIBUTES, np.array(rows, dtype=float).T))


def probe_r2(x_train, y_train, x_test, y_test, ridge: float = 1.0) -> float:
    """R^2 on held-out identities of a ridge regression on standardised embeddings (NaN if
    the attribute does not vary among the held-out identities)."""
    if y_test.var() == 0:
        return float("nan")
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    w = np.linalg.solve(x_train.T @ x_train + ridge * len(x_train) * np.eye(x_train.shape[1]),
                        x_train.T @ (y_train - y_train.mean()))
    return float(1 - np.mean((x_test @ w + y_train.mean() - y_test) ** 2) / y_test.var())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp-dir", required=True)
    parser.add_argument("--corpus", default="corpus")
    parser.add_argument("--train-dump", default="dump/ssl_train")
    parser.add_argument("--test-dump", default="dump/ssl_test")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    spec = CorpusSpec(**json.loads((Path(args.corpus) / "corpus.json").read_text())["spec"])
    model, cfg = load_pretrained(args.exp_dir)
    sets = {}
    for name, dump, pool in (("train", args.train_dump, "vox2_dev"),
                             ("held-out", args.test_dump, "vox2_test")):
        keys, audio, face = embed(model, Path(dump), cfg.data.n_frames)
        sets[name] = (audio.mean(1), face.mean(1), attributes(keys, spec, pool))
        print(f"{name} identities, {args.batch}-way [95% CI over identities]: same track "
              f"{percent(b_way(keys, audio, face, False, args.batch))}, across videos "
              f"{percent(b_way(keys, audio, face, True, args.batch))} "
              f"(chance {100 / args.batch:.1f}%)")
    print("R^2 on held-out identities of a ridge probe fitted on training identities:")
    print("| stream | " + " | ".join(ATTRIBUTES) + " |")
    print("|---" * (len(ATTRIBUTES) + 1) + "|")
    for index, stream in enumerate(("voice", "face")):
        train, test = sets["train"], sets["held-out"]
        print(f"| {stream} | " + " | ".join(
            f"{probe_r2(train[index], train[2][a], test[index], test[2][a]):+.2f}"
            for a in ATTRIBUTES) + " |")


if __name__ == "__main__":
    main()
