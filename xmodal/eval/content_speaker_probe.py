"""Speaker probe of a content input: how well the decoder's per-frame input names the speaker.

The reconstruction decoder (``xmodal.methods.reconstruction``) gets, beside the speaker
embedding, a content input per frame: reference phone ids (``phones``), those of a simulated
recogniser (``noisy``), phone posteriors (``phone_posteriors``), k-means units (``units``,
``content_units``; the duration histogram skips their id 0 as it skips silence), or a
cross-modal model's frozen content embeddings (``content_embedding``; features: their mean
and standard deviation over time, ``embedding_features``). If that input carries the
speaker, the decoder can take the voice from it and the embedding need not learn it. This
probe measures it on a data dir whose speakers each have several videos (keys
``<spk>/<video>/<n>``): a multinomial logistic regression from per-utterance content
statistics to the speaker is trained on one video per speaker (a seeded choice) and tested on
the others, held-out recordings of the same speakers. Accuracy comes with a percentile
interval from resampling the speakers (``cluster_bootstrap_accuracy``: one speaker's
decisions share its voice, so they are not independent); chance is one over the speakers.

Features of an utterance:

- the phone histogram: the mean over frames of the one-hot ids, or of the posterior rows (the
  mean posterior). It shows accent, the phones a voice uses;
- the duration histogram: the share of the utterance's non-silence segments (runs of one id;
  of the argmax phone for posteriors) lasting 1, 2, ..., ``MAX_DURATION`` or more frames. It
  shows the speaking rate, a property of the voice that the phone histogram normalises away
  but the decoder's convolutions see. A linear probe needs the rate spread over directions:
  given a rate-like number instead (the frame self-transition rate, per phone or overall,
  i.e. the diagonal of the frame bigrams), one weight per speaker cannot carve out each
  speaker's narrow interval of pace, and speakers that differ only in pace stayed at chance
  (``test_speaking_rate_is_found``).

The rest of the frame bigrams (which phone follows which) are left out: they mostly spell the
words said, and at P^2 features with one training recording per speaker they would cost more
in variance than they bring.

The regression has a fixed L2 penalty: with one training recording per speaker there is no
held-out recording of a training speaker to choose it on.

Labels are first fitted to the utterance's feature frames (``utt2num_frames``, when the dir
has it), as the decoder gets them. ``noisy`` then corrupts each utterance once, as training does
(``frame_labels.recogniser_labels``: seeded by the utterance key, so the probe sees the very
errors the decoder saw).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from xmodal.data import content_inputs as inputs_module
from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.features import FEATS_PER_VIDEO_FRAME
from xmodal.data.frame_labels import recogniser_labels
from xmodal.eval.bootstrap import cluster_bootstrap_accuracy

CONTENTS = inputs_module.KINDS
# Weight decay of the regression, against the mean cross-entropy, on standardised features.
L2 = 1e-2
# Segments of this many frames (0.3 s, several times a phone's mean) or more share one bin.
MAX_DURATION = 30


class ContentProbeError(ValueError):
    """An unusable data dir or split; the message names the file, line or speaker."""


def utterance_videos(utt2spk: dict[str, str], where: str) -> dict[str, str]:
    """Utterance -> video, the middle part of a ``<spk>/<video>/<n>`` key (VoxCeleb's form);
    another key is a ContentProbeError naming ``where:line``."""
    videos = {}
    for line, utt in enumerate(utt2spk, 1):
        parts = utt.split("/")
        if len(parts) != 3 or not all(parts):
            raise ContentProbeError(f"{where}:{line}: utterance '{utt}' is not of the form "
                                    "<speaker>/<video>/<n>: its video is unknown")
        videos[utt] = parts[1]
    return videos


def content_inputs(data_dir: str | os.PathLike, keys: list[str], content: str,
                   phone_error_rate: float = 0.2, seed: int = 0
                   ) -> tuple[list[np.ndarray], int]:
    """The content input of each of ``keys`` (sorted utterances of ``data_dir``) as the
    decoder gets it: int64 ids ``(T,)`` or float rows ``(T, P)``; and P (``inventory``)."""
    if content not in CONTENTS:
        raise ValueError(f"content must be one of {CONTENTS}, got {content!r}")
    data_dir = Path(data_dir)
    try:
        n_phones = inputs_module.inventory(data_dir, content)
        table = inputs_module.read_content(data_dir, content, keys)
    except DataDirError as err:
        raise ContentProbeError(str(err)) from None
    num_frames = data_dir / "utt2num_frames"
    frames = ({k: int(v) * FEATS_PER_VIDEO_FRAME for k, v in read_table(num_frames).items()}
              if num_frames.is_file() else {})
    inputs = []
    for key in keys:
        raw = table[key]
        # Without utt2num_frames the input keeps its own length (steps, for embeddings).
        x = (inputs_module.frames_of(content, raw, frames[key],
                                     f"{data_dir}: utterance '{key}'")
             if key in frames else np.asarray(raw))
        if content == "noisy":
            x = recogniser_labels(x, n_phones, phone_error_rate, seed, key)
        inputs.append(x)
    return inputs, n_phones


def content_features(frames: np.ndarray, n_phones: int) -> np.ndarray:
    """Phone histogram and duration histogram of one utterance (module doc),
    ``(n_phones + MAX_DURATION,)``; ``frames`` are ids ``(T,)`` or posteriors
    ``(T, n_phones)``."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        raise ValueError("content features need at least one frame")
    if frames.ndim == 1:
        ids, phones = frames, np.bincount(frames, minlength=n_phones) / len(frames)
    else:
        ids, phones = np.argmax(frames, axis=1), frames.astype(np.float64).mean(axis=0)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
    lengths = np.diff(np.append(starts, len(ids)))[ids[starts] != 0]
    durations = np.bincount(np.minimum(lengths, MAX_DURATION) - 1, minlength=MAX_DURATION)
    return np.concatenate([phones, durations / max(1, len(lengths))])


def embedding_features(frames: np.ndarray) -> np.ndarray:
    """Mean and standard deviation over time of one utterance's embedding rows ``(T, D)``:
    the statistics pooling of an x-vector, the simplest speaker summary of a frame stream."""
    frames = np.asarray(frames, dtype=np.float64)
    if len(frames) == 0:
        raise ValueError("content features need at least one frame")
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def fit_logistic(x: np.ndarray, labels: np.ndarray, n_classes: int, l2: float = L2
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression: weights ``(d, n_classes)`` and biases minimising the
    mean cross-entropy plus ``l2 / 2`` times the squared weights (not biases).

    The loss is strictly convex, so L-BFGS from zeros reaches the one minimum whatever the
    seed; float64 keeps that deterministic.
    """
    features = torch.as_tensor(x, dtype=torch.float64)
    targets = torch.as_tensor(labels, dtype=torch.int64)
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=1000, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = (torch.nn.functional.cross_entropy(features @ weight + bias, targets)
                + 0.5 * l2 * (weight ** 2).sum())
        loss.backward()
        return loss

    optimiser.step(closure)
    return weight.detach().numpy(), bias.detach().numpy()


def speaker_probe(features: np.ndarray, speakers, videos, seed: int = 0, n_boot: int = 1000,
                  level: float = 0.95, l2: float = L2) -> dict:
    """Train on one video per speaker, test on its other videos; see the module doc.

    ``features[i]`` describes utterance i of speaker ``speakers[i]`` and video ``videos[i]``.
    Speakers with a single video are skipped (``n_skipped_speakers``); fewer than 2 left is a
    ContentProbeError. Returns ``accuracy``, ``ci``, ``chance``, ``n_speakers``, ``n_test``,
    ``n_train``, ``n_skipped_speakers``, ``ci_level``, ``n_boot``.
    """
    features = np.asarray(features, dtype=np.float64)
    speakers, videos = np.asarray(speakers), np.asarray(videos)
    if features.ndim != 2 or not speakers.shape == videos.shape == (len(features),):
        raise ValueError(f"need features (n, d) and n speakers and videos, got shapes "
                         f"{features.shape}, {speakers.shape} and {videos.shape}")
    rng = np.random.default_rng(seed)
    kept, train = [], np.zeros(len(features), dtype=bool)
    for speaker in np.unique(speakers):
        own = speakers == speaker
        speaker_videos = np.unique(videos[own])
        if len(speaker_videos) > 1:
            kept.append(speaker)
            train |= own & (videos == speaker_videos[rng.integers(len(speaker_videos))])
    if len(kept) < 2:
        raise ContentProbeError(f"{len(kept)} speaker(s) with 2 or more videos, the speaker "
                                "probe needs at least 2")
    use = np.isin(speakers, kept)
    test = use & ~train
    label = np.searchsorted(np.array(kept), speakers[use])
    x = features[use]
    # Standardised by the training recordings only.
    mean, std = x[train[use]].mean(axis=0), x[train[use]].std(axis=0)
    std[std == 0] = 1.0  # a feature constant in training carries nothing to learn
    x = (x - mean) / std
    weight, bias = fit_logistic(x[train[use]], label[train[use]], len(kept), l2)
    correct = np.argmax(x[test[use]] @ weight + bias, axis=1) == label[test[use]]
    boot = cluster_bootstrap_accuracy(correct, speakers[test], n_boot, seed, level)
    return {"accuracy": boot["mean"], "ci": [boot["low"], boot["high"]],
            "chance": 1.0 / len(kept), "n_speakers": len(kept), "n_test": int(test.sum()),
            "n_train": int(train.sum()),
            "n_skipped_speakers": len(np.unique(speakers)) - len(kept), "ci_level": level,
            "n_boot": int(n_boot)}


def probe_content_speaker_dir(data_dir: str | os.PathLike, content: str,
                              phone_error_rate: float = 0.2, seed: int = 0,
                              n_boot: int = 1000) -> dict:
    """``speaker_probe`` of the ``content`` input (``CONTENTS``) of the utterances of
    ``data_dir``'s utt2spk; the result also names ``content`` (and ``phone_error_rate``
    for noisy)."""
    data_dir = Path(data_dir)
    utt2spk_path = data_dir / "utt2spk"
    utt2spk = read_table(utt2spk_path)
    keys = list(utt2spk)  # read_table checked the C order the noisy indices count in
    videos = utterance_videos(utt2spk, str(utt2spk_path))
    inputs, n_phones = content_inputs(data_dir, keys, content, phone_error_rate, seed)
    features = []
    for key, frames in zip(keys, inputs):
        try:
            features.append(embedding_features(frames) if content == "content_embedding"
                            else content_features(frames, n_phones))
        except ValueError as err:
            raise ContentProbeError(f"{data_dir}: utterance '{key}': {err}") from None
    result = speaker_probe(np.stack(features), [utt2spk[k] for k in keys],
                           [videos[k] for k in keys], seed, n_boot)
    extra = {"phone_error_rate": phone_error_rate} if content == "noisy" else {}
    return {"content": content, **extra, **result}


def format_result(name: str, result: dict) -> str:
    """One line: accuracy, its interval and chance."""
    low, high = result["ci"]
    return (f"{name} ({result['content']}): speaker accuracy {result['accuracy']:.3f} "
            f"[{low:.3f}, {high:.3f}], chance {result['chance']:.3f}, "
            f"{result['n_speakers']} speakers, {result['n_test']} test utterances")
