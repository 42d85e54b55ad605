"""Does a trained face generator (``method: face_generation``) use the audio? Held-out tests.

On windows of held-out face-tracks (stage 4: ssl_test, identities never trained on), the
mouth-region L1 of the generated lower face against the real one, for:

- ``model``: the generator with the window's own audio;
- ``copy_still``: the still frame copied into every frame (what a generator that ignored the
  audio and copied its input would score);
- ``shuffled_audio``: the generator with the audio of a window of *another identity* (same
  still frame): what the generator draws from the still frame and speech in general;
- the sync curve: the generator with the window's audio shifted by ``k`` video frames (frame
  t drawn from the audio of frame t + k), k in ``[-max_shift, max_shift]``.

A generator that uses the audio has its mouth error significantly below both baselines and
lowest at shift 0. Differences are paired (the same windows) and resampled by identity
(``bootstrap.cluster_paired_difference``): windows of one person err together.

Every window is cut with ``max_shift`` frames of margin on both sides, so each shift reads
real audio of the same track; its still frame follows the model's ``data.still_frame``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from xmodal.data.still_frame_windows import still_frame_index
from xmodal.data.track_windows import AUDIO_PER_FRAME, TrackWindowDataset
from xmodal.eval.bootstrap import (cluster_bootstrap_ratio, cluster_paired_difference,
                                   significantly_below)
from xmodal.methods.face_generation import FaceGenerationNetwork

BASELINES = ("copy_still", "shuffled_audio")


def _windows(dataset: TrackWindowDataset, n_frames: int, margin: int, per_track: int,
             still_frame: str, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """``(track, first generated-window frame, still frame)``: ``per_track`` per track, each
    with ``margin`` frames of audio on either side inside the track (the dataset holds only
    tracks of at least ``n_frames + 2 margin`` frames, so an outside still frame exists)."""
    out = []
    for track, frames in enumerate(dataset.num_frames):
        for _ in range(per_track):
            start = margin + int(rng.integers(0, int(frames) - n_frames - 2 * margin + 1))
            out.append((track, start, still_frame_index(start, n_frames, int(frames),
                                                        still_frame, rng)))
    return out


def _other_identity(speakers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each window, a window of another identity (a random one; seeded)."""
    n = len(speakers)
    partner = np.empty(n, dtype=np.int64)
    for i in range(n):
        others = np.flatnonzero(speakers != speakers[i])
        if not len(others):
            raise ValueError("the shuffled-audio baseline needs windows of >= 2 identities")
        partner[i] = others[rng.integers(0, len(others))]
    return partner


@torch.inference_mode()
def _generate(network: FaceGenerationNetwork, audio: torch.Tensor, still: torch.Tensor,
              target: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """The frames generated from ``audio`` and ``still``, and their per-window L1 terms."""
    generated = network.generate(audio, still)
    terms = network.l1_terms(generated, target)
    return generated, {name: value.float().cpu().numpy() for name, value in terms.items()}


def evaluate_generation(network: FaceGenerationNetwork, dump_dir: str | os.PathLike,
                        windows_per_track: int = 1, max_shift: int = 3, seed: int = 0,
                        n_boot: int = 1000, batch_size: int = 32) -> dict:
    """Mouth-region L1 on held-out windows of ``dump_dir``: the model, both baselines (paired
    differences, model - baseline, by identity) and the sync curve (mean per shift with an
    interval; each shift's paired difference from shift 0). ``network`` in eval mode.

    Also returns ``examples``: the first windows' real and generated frames and still
    frames (numpy, for ``plot_examples``), one window per identity.
    """
    cfg = network.cfg
    n = cfg.data.n_frames
    audio_kind = "wave" if cfg.model.audio_encoder == "waveform" else "feats"
    per_frame = AUDIO_PER_FRAME[audio_kind]
    dataset = TrackWindowDataset(dump_dir, n + 2 * max_shift, cfg.data.apply_av_offset,
                                 audio=audio_kind)
    speakers_of_track = dataset.speakers()
    rng = np.random.default_rng(seed)
    windows = _windows(dataset, n, max_shift, windows_per_track, cfg.data.still_frame, rng)
    speakers = np.array([speakers_of_track[t] for t, _, _ in windows])
    partner = _other_identity(speakers, rng)
    shifts = list(range(-max_shift, max_shift + 1))
    baselines = {name: np.empty(len(windows)) for name in BASELINES}
    curve = {k: np.empty(len(windows)) for k in shifts}
    frame_l1 = np.empty(len(windows))
    generated_slice = network.generated_frames(n)
    examples: dict[str, list] = {"real": [], "generated": [], "still": [], "keys": []}
    shown: set[str] = set()
    device = next(network.parameters()).device

    def long_audio(window: tuple[int, int, int]) -> torch.Tensor:
        """The window's audio with ``max_shift`` frames of margin on both sides."""
        track, start, _ = window
        return dataset.audio_window(track, start - max_shift)

    def shifted(audio: list[torch.Tensor], k: int) -> torch.Tensor:
        """The batch's audio of the generated window, shifted by ``k`` frames."""
        first = per_frame * (max_shift + k)
        return torch.stack([a[first:first + per_frame * n] for a in audio]).to(device)

    for first in range(0, len(windows), batch_size):
        part = list(range(first, min(first + batch_size, len(windows))))
        audio = [long_audio(windows[i]) for i in part]
        still = torch.stack([torch.from_numpy(dataset.face_frames(windows[i][0], windows[i][2],
                                                                  1)[0]) for i in part])
        faces = torch.stack([torch.from_numpy(dataset.face_frames(
            windows[i][0], dataset.aligned_starts(windows[i][0], windows[i][1])[0], n))
            for i in part])
        still, faces = still.to(device), faces.to(device)
        target = network.target_region(faces[:, generated_slice]).float()
        for k in shifts:
            generated, terms = _generate(network, shifted(audio, k), still, target)
            curve[k][part] = terms["mouth_l1"]
            if k:
                continue
            frame_l1[part] = terms["frame_l1"]
            for j, i in enumerate(part):
                if speakers[i] not in shown and len(shown) < 4:
                    shown.add(speakers[i])
                    examples["real"].append(target[j].cpu().numpy())
                    examples["generated"].append(generated[j].float().cpu().numpy())
                    examples["still"].append(network.target_region(still[j]).cpu().numpy())
                    examples["keys"].append(dataset.keys[windows[i][0]])
        other = shifted([long_audio(windows[partner[i]]) for i in part], 0)
        baselines["shuffled_audio"][part] = _generate(network, other, still, target)[1]["mouth_l1"]
        copy = network.target_region(still).unsqueeze(1).expand_as(target)
        baselines["copy_still"][part] = \
            network.l1_terms(copy, target)["mouth_l1"].float().cpu().numpy()
    errors = {"model": curve[0], **baselines}

    def mean_ci(values: np.ndarray) -> dict:
        r = cluster_bootstrap_ratio(values, np.ones(len(values)), speakers, n_boot, seed)
        return {"mean": r["mean"], "ci": [r["low"], r["high"]]}

    result = {
        "n_windows": len(windows), "n_identities": int(len(np.unique(speakers))),
        "n_frames": n, "max_shift": max_shift, "still_frame": cfg.data.still_frame,
        "mouth_l1": {name: mean_ci(values) for name, values in errors.items()},
        "frame_l1": mean_ci(frame_l1),
        "model_minus": {name: cluster_paired_difference(errors["model"], errors[name],
                                                        speakers, n_boot, seed)
                        for name in BASELINES},
        "sync_curve": [{"shift": k, **mean_ci(curve[k]),
                        "minus_shift0": cluster_paired_difference(curve[k], curve[0], speakers,
                                                                  n_boot, seed)
                        if k else None} for k in shifts],
    }
    result["sync_argmin"] = shifts[int(np.argmin([curve[k].mean() for k in shifts]))]
    result["uses_audio"] = all(significantly_below(result["model_minus"][b]) for b in BASELINES)
    result["examples"] = examples
    return result


def failures(result: dict) -> list[str]:
    """Why the generator does not use the audio, by the held-out tests (empty: it does)."""
    out = []
    for name in BASELINES:
        d = result["model_minus"][name]
        if not significantly_below(d):
            out.append(f"mouth L1 not significantly below {name} (model - {name} "
                       f"{d['difference']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}])")
    if result["sync_argmin"] != 0:
        out.append(f"the sync curve's minimum is at shift {result['sync_argmin']}, not 0")
    return out


def format_result(result: dict) -> str:
    """The held-out tests as text: mouth L1 of the model and baselines, the sync curve."""
    m = result["mouth_l1"]
    lines = [f"held-out windows: {result['n_windows']} of {result['n_identities']} identities "
             f"({result['n_frames']} frames, still frame {result['still_frame']})"]
    for name in ("model", *BASELINES):
        lines.append(f"  mouth L1 {name:15s} {m[name]['mean']:.4f} "
                     f"[{m[name]['ci'][0]:.4f}, {m[name]['ci'][1]:.4f}]")
    for name in BASELINES:
        d = result["model_minus"][name]
        lines.append(f"  model - {name:15s} {d['difference']:+.4f} [{d['ci'][0]:+.4f}, "
                     f"{d['ci'][1]:+.4f}] p {d['p_value']:.3f}")
    lines.append("  sync curve (shift: mouth L1): " + ", ".join(
        f"{p['shift']:+d}: {p['mean']:.4f}" for p in result["sync_curve"]))
    return "\n".join(lines)


def plot_examples(result: dict, out: str | os.PathLike, frames: int = 8) -> None:
    """A PNG strip per example window: its still frame, then ``frames`` real frames (top)
    over the generated ones (bottom); and the sync curve. Written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = result["examples"]
    rows = 2 * len(ex["real"])
    fig = plt.figure(figsize=(1.1 * (frames + 1), 0.9 * rows + 2.2))
    grid = fig.add_gridspec(rows + 1, frames + 1, height_ratios=[1] * rows + [2.2])

    def show(cell, image: np.ndarray, title: str = "") -> None:
        ax = fig.add_subplot(cell)
        image = np.clip(np.moveaxis(image, 0, -1), 0, 1)
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        if title:
            ax.set_title(title, fontsize=6)

    for e, (real, gen, still, key) in enumerate(zip(ex["real"], ex["generated"], ex["still"],
                                                    ex["keys"])):
        show(grid[2 * e, 0], still, "still\n" + key.split("/")[0])  # the identity: fits
        picks = np.linspace(0, len(real) - 1, frames).round().astype(int)
        for j, t in enumerate(picks):
            show(grid[2 * e, j + 1], real[t], f"real {t}")
            show(grid[2 * e + 1, j + 1], gen[t], "generated")
    curve = fig.add_subplot(grid[rows, 1:])
    points = result["sync_curve"]
    means = np.array([p["mean"] for p in points])
    curve.errorbar([p["shift"] for p in points], means,
                   yerr=np.abs(np.array([p["ci"] for p in points]).T - means), marker="o")
    curve.set_xlabel("audio shift (video frames)", fontsize=7)
    curve.set_ylabel("held-out mouth L1", fontsize=7)
    curve.tick_params(labelsize=6)
    fig.tight_layout()
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)
