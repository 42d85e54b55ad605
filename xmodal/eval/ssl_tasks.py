"""The self-supervised tasks on held-out face-tracks (paper Table 2) and a track-level EER.

Content task: within one track, find the audio step of each face step among the track's
N-4 steps. Identity task: find the voice (time-averaged audio) of each track's face (one
random step) among the B tracks of the batch. Each task is scored with the identity
embeddings and with the content embeddings: a good disentangled model solves each task with
its own embedding only. Batches are drawn with a fixed seed, so every model sees the same ones.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from xmodal.data.datadir import read_table
from xmodal.data.scp import ScpReader
from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset, window_batch
from xmodal.eval.bootstrap import cluster_bootstrap_accuracy
from xmodal.eval.metrics import eer_from_det_curve
from xmodal.eval.pair_det import all_pairs_det_curve
from xmodal.eval.ssl_results import EMBEDDINGS
from xmodal.losses.identity import pick_random_step
from xmodal.models.two_stream import TwoStreamModel


def _scores(x: torch.Tensor, y: torch.Tensor, similarity: str) -> torch.Tensor:
    """Similarity logits ``(..., M, K)``; the learnable scale/bias would not change argmax."""
    if similarity == "cosine":
        return F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(-1, -2)
    return -torch.cdist(x, y)


def matching_hits(logits: torch.Tensor) -> np.ndarray:
    """Right/wrong of every query row of square ``logits (..., K, K)`` (target = diagonal)."""
    target = torch.arange(logits.shape[-1], device=logits.device)
    return (logits.argmax(dim=-1) == target).cpu().numpy()


@torch.no_grad()
def ssl_task_accuracies(model: TwoStreamModel, dump_dir: str | Path, n_frames: int,
                        batch_size: int, n_batches: int, seed: int = 0,
                        similarity: str = "cosine", n_boot: int = 1000,
                        apply_av_offset: bool = False) -> dict:
    """Content N-way and identity B-way accuracies with each embedding, and chance levels.

    Windows are re-aligned by each track's utt2av_offset when ``apply_av_offset`` (as the
    model was trained: its ``data.apply_av_offset``).

    Each batch holds B tracks of B different identities (a speaker label is read here, for
    evaluation only), so the identity task has one right answer and chance is exactly 1/B.

    Each accuracy ``<task>_acc_<embedding>`` comes with a 95% interval ``..._ci`` from a
    bootstrap over identities (``cluster_bootstrap_accuracy``): the batches reuse the same
    tracks and each identity's decisions go together, so a binomial interval would be too
    narrow. A decision belongs to the identity of its query track (the face being matched).
    """
    dataset = TrackWindowDataset(dump_dir, n_frames, apply_av_offset)
    track_speakers = dataset.speakers()
    batch_size = min(batch_size, len(set(track_speakers)))
    sampler = TrackBatchSampler(dataset.num_frames, n_frames, batch_size, n_batches, seed,
                                groups=track_speakers)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    hits: dict[str, list[np.ndarray]] = {f"{task}_acc_{emb}": [] for task in ("content", "identity")
                                         for emb in EMBEDDINGS}
    owners: dict[str, list[np.ndarray]] = {"content": [], "identity": []}
    model.eval()
    for index in range(n_batches):
        items = sampler.batch(index)
        speakers = track_speakers[[track for track, _ in items]]
        feats, faces = window_batch(dataset, items)
        out = model(feats.to(device), faces.to(device))
        steps = out["visual"]["content"].shape[-1]
        owners["content"].append(np.repeat(speakers, steps))
        owners["identity"].append(speakers)
        for emb in EMBEDDINGS:
            v, a = out["visual"][emb], out["audio"][emb]
            hits[f"content_acc_{emb}"].append(
                matching_hits(_scores(v.transpose(1, 2), a.transpose(1, 2), similarity)).reshape(-1))
            face = pick_random_step(v, gen)
            hits[f"identity_acc_{emb}"].append(matching_hits(_scores(face, a.mean(dim=-1), similarity)))
    result: dict = {}
    for key, values in hits.items():
        task = key.split("_")[0]
        stats = cluster_bootstrap_accuracy(np.concatenate(values), np.concatenate(owners[task]),
                                           n_boot=n_boot, seed=seed)
        result[key] = stats["mean"]
        result[f"{key}_ci"] = [stats["low"], stats["high"]]
    result.update(chance_content=1.0 / (n_frames - 4), chance_identity=1.0 / batch_size,
                  n_frames=n_frames, batch_size=batch_size, n_batches=n_batches,
                  n_tracks=len(dataset), n_identities=len(set(track_speakers)),
                  ci_level=0.95, n_boot=n_boot)
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
    videos = [k.rsplit("/", 1)[0] for k in keys]
    speakers = [utt2spk[k] for k in keys]
    result = {}
    for emb in EMBEDDINGS:
        x = F.normalize(torch.stack(embs[emb]), dim=-1).cpu().numpy()
        p_miss, p_fa, n_target, n_nontarget = all_pairs_det_curve(x, speakers, videos)
        result[f"track_eer_{emb}"] = eer_from_det_curve(p_miss, p_fa)
    result.update(track_pairs=n_target + n_nontarget, track_target_pairs=n_target)
    return result
