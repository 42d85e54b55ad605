"""The self-supervised tasks on held-out face-tracks (paper Table 2) and a track-level EER.

Content task: within one track, find the audio step of each face step among the track's
N-4 steps. Identity task: find the voice (time-averaged audio) of each track's face (one
random step) among the B tracks of the batch. Each task is scored with the identity
embeddings and with the content embeddings: a good disentangled model solves each task with
its own embedding only. Batches are drawn with a fixed seed, so every model sees the same ones.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from xmodal.data.datadir import read_table
from xmodal.data.scp import ScpReader
from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset
from xmodal.eval.metrics import compute_eer
from xmodal.losses.identity import pick_random_step
from xmodal.models.two_stream import TwoStreamModel

EMBEDDINGS = ("identity", "content")


def _scores(x: torch.Tensor, y: torch.Tensor, similarity: str) -> torch.Tensor:
    """Similarity logits ``(..., M, K)``; the learnable scale/bias would not change argmax."""
    if similarity == "cosine":
        return F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(-1, -2)
    return -torch.cdist(x, y)


def _accuracy(logits: torch.Tensor) -> float:
    target = torch.arange(logits.shape[-1], device=logits.device)
    return float((logits.argmax(dim=-1) == target).float().mean())


@torch.no_grad()
def ssl_task_accuracies(model: TwoStreamModel, dump_dir: str | Path, n_frames: int,
                        batch_size: int, n_batches: int, seed: int = 0,
                        similarity: str = "cosine") -> dict:
    """Content N-way and identity B-way accuracies with each embedding, and chance levels."""
    dataset = TrackWindowDataset(dump_dir, n_frames)
    batch_size = min(batch_size, len(dataset))
    sampler = TrackBatchSampler(dataset.num_frames, n_frames, batch_size, n_batches, seed)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    sums = {f"{task}_acc_{emb}": 0.0 for task in ("content", "identity") for emb in EMBEDDINGS}
    model.eval()
    for index in range(n_batches):
        feats, faces = map(torch.stack, zip(*(dataset[item] for item in sampler.batch(index))))
        out = model(feats.to(device), faces.to(device))
        for emb in EMBEDDINGS:
            v, a = out["visual"][emb], out["audio"][emb]
            sums[f"content_acc_{emb}"] += _accuracy(
                _scores(v.transpose(1, 2), a.transpose(1, 2), similarity))
            face = pick_random_step(v, gen)
            sums[f"identity_acc_{emb}"] += _accuracy(_scores(face, a.mean(dim=-1), similarity))
    result = {k: v / n_batches for k, v in sums.items()}
    result.update(chance_content=1.0 / (n_frames - 4), chance_identity=1.0 / batch_size,
                  n_frames=n_frames, batch_size=batch_size, n_batches=n_batches,
                  n_tracks=len(dataset))
    return result


@torch.no_grad()
def track_verification_eer(model: TwoStreamModel, dump_dir: str | Path) -> dict:
    """EER of same-speaker vs different-speaker pairs of tracks from different videos.

    Whole-track audio embeddings (time average of each head), cosine scores; paper Table 2
    reports it for the identity and the content embeddings. Speaker labels are read here
    only, for evaluation. Same-video pairs are left out: they share a channel.
    """
    dump_dir = Path(dump_dir)
    utt2spk = read_table(dump_dir / "utt2spk")
    feats = ScpReader(dump_dir / "feats.scp")
    keys = sorted(utt2spk)
    device = next(model.parameters()).device
    model.eval()
    embs: dict[str, list[torch.Tensor]] = {emb: [] for emb in EMBEDDINGS}
    for key in keys:
        out = model.forward_audio(torch.from_numpy(np.array(feats[key]))[None].to(device))
        for emb in EMBEDDINGS:
            embs[emb].append(out[emb][0].mean(dim=-1))
    video = [k.rsplit("/", 1)[0] for k in keys]
    pairs = [(i, j) for i, j in combinations(range(len(keys)), 2) if video[i] != video[j]]
    i, j = np.array(pairs).T
    labels = np.array([utt2spk[keys[a]] == utt2spk[keys[b]] for a, b in pairs])
    result = {"track_pairs": len(pairs), "track_target_pairs": int(labels.sum())}
    for emb in EMBEDDINGS:
        x = F.normalize(torch.stack(embs[emb]), dim=-1).cpu().numpy()
        result[f"track_eer_{emb}"] = compute_eer((x[i] * x[j]).sum(axis=1), labels)
    return result


def format_table(results: dict[str, dict]) -> str:
    """Paper Table 2 layout: one row per (model, embedding), content and identity accuracy."""
    lines = ["| model | embedding | content (sync) acc % | identity acc % | track EER % |",
             "|---|---|---|---|---|"]
    for tag, r in results.items():
        for emb in EMBEDDINGS:
            eer = f"{r[f'track_eer_{emb}']:.1f}" if f"track_eer_{emb}" in r else ""
            lines.append(f"| {tag} | {emb} | {100 * r[f'content_acc_{emb}']:.1f} | "
                         f"{100 * r[f'identity_acc_{emb}']:.1f} | {eer} |")
    if results:
        r = next(iter(results.values()))
        lines.append(f"| chance | | {100 * r['chance_content']:.1f} | "
                     f"{100 * r['chance_identity']:.1f} | 50 |")
    return "\n".join(lines)
