"""Post-hoc leakage meter: what each frozen embedding still carries of the other factor.

The in-training adversaries measure leakage against a moving target (the model changes under
them, and is pushed to defeat them). Here, after training, two fresh probes of the
adversaries' capacity (``losses.confusion``: a linear projection per modality and the
model's similarity) are trained on the frozen embeddings of ssl_train windows and scored on
held-out ssl_test batches of B different identities:

- ``leak_sync_from_identity``: the N-way sync task from the identity embeddings;
- ``leak_identity_from_content``: the B-way voice-to-face task from the content embeddings.

Run on a randomly initialised model of the same architecture, the same probes give the floor:
how much an untrained network's features already carry. Accuracies come with 95% intervals
from a bootstrap over the held-out identities, as Table 2's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset, window_batch
from xmodal.eval.bootstrap import cluster_bootstrap_accuracy
from xmodal.eval.ssl_tasks import matching_hits
from xmodal.losses.confusion import IdentityAdversary, SyncAdversary
from xmodal.models.two_stream import TwoStreamModel

PROBES = {"leak_sync_from_identity": ("identity", SyncAdversary),
          "leak_identity_from_content": ("content", IdentityAdversary)}


@torch.no_grad()
def _embed(model: TwoStreamModel, dataset: TrackWindowDataset, items, device
           ) -> dict[str, dict[str, torch.Tensor]]:
    feats, faces = window_batch(dataset, items)
    return model(feats.to(device), faces.to(device))


def measure_leakage(model: TwoStreamModel, train_dump: str | Path, test_dump: str | Path,
                    embed_dim: int, n_frames: int, batch_size: int, train_steps: int,
                    test_batches: int,
                    similarity: str = "cosine", probe_dim: int = 64, lr: float = 1e-3,
                    seed: int = 0, n_boot: int = 1000, apply_av_offset: bool = False) -> dict:
    """Probe accuracies (and chance) of fresh probes trained on ``model``'s frozen
    ``embed_dim``-d embeddings.

    Training: ``train_steps`` Adam steps on B-track windows of ``train_dump``; scoring:
    ``test_batches`` batches of ``test_dump`` with B different identities each.
    """
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    model.eval()
    train_set = TrackWindowDataset(train_dump, n_frames, apply_av_offset)
    test_set = TrackWindowDataset(test_dump, n_frames, apply_av_offset)
    speakers = test_set.speakers()
    test_b = min(batch_size, len(set(speakers)))
    probes = {key: cls(embed_dim, probe_dim, similarity).to(device)
              for key, (_, cls) in PROBES.items()}
    optimiser = torch.optim.Adam([p for probe in probes.values() for p in probe.parameters()],
                                 lr=lr)
    gen = torch.Generator().manual_seed(seed)
    train_sampler = TrackBatchSampler(train_set.num_frames, n_frames, batch_size, train_steps,
                                      seed + 1)
    for items in train_sampler:
        out = _embed(model, train_set, items, device)
        loss = sum(probe.adversary_loss(out["visual"][emb], out["audio"][emb], gen)[0]
                   for (emb, _), probe in zip(PROBES.values(), probes.values()))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    test_sampler = TrackBatchSampler(test_set.num_frames, n_frames, test_b, test_batches,
                                     seed + 2, groups=speakers)
    hits: dict[str, list[np.ndarray]] = {key: [] for key in PROBES}
    owners: dict[str, list[np.ndarray]] = {key: [] for key in PROBES}
    steps = n_frames - 4
    with torch.no_grad():
        for items in test_sampler:
            out = _embed(model, test_set, items, device)
            who = speakers[[track for track, _ in items]]
            for key, (emb, _) in PROBES.items():
                logits = probes[key](out["visual"][emb], out["audio"][emb], gen)
                hits[key].append(matching_hits(logits).reshape(-1))
                # A sync decision belongs to its track's identity; an identity decision to
                # the identity of the face being matched.
                owners[key].append(np.repeat(who, steps) if key == "leak_sync_from_identity"
                                   else who)
    result = {"chance_sync": 1.0 / steps, "chance_identity": 1.0 / test_b,
              "probe_steps": train_steps, "probe_dim": probe_dim}
    for key in PROBES:
        h, o = np.concatenate(hits[key]), np.concatenate(owners[key])
        result[key] = float(h.mean())
        ci = cluster_bootstrap_accuracy(h, o, n_boot, seed)
        result[f"{key}_ci"] = [ci["low"], ci["high"]]
    return result
