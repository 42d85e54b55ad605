"""Designs shared by tests of this directory: the speaker-bootstrap trials of EER/minDCF
(test_bootstrap) and of the calibration metrics (test_calibration), a few speakers with many
directed trials each, with the resampled trial list built copy by copy, the reference the
bootstrap is checked on; and features whose label is a cue relative to the speaker
(test_downstream_classifier, test_downstream), what speaker normalisation is for."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal.eval.downstream_classifier import FeatureSet


def _small_design(seed: int, n: int = 300, n_speakers: int = 8, scale: float = 1.0,
                  shift: float = 1.5, offset: float = 0.0):
    """Random directed trials among few speakers, several per pair; scores (or LLRs)
    ``scale * N(0, 1) + shift * target + offset``, rounded to 0.1 so that many tie.
    Returns scores, labels, enrolment and test speaker names."""
    rng = np.random.default_rng(seed)
    enroll = rng.integers(0, n_speakers, n)
    labels = rng.random(n) < 0.3
    test = np.where(labels, enroll, (enroll + rng.integers(1, n_speakers, n)) % n_speakers)
    scores = np.round(rng.normal(size=n) * scale + shift * labels + offset, 1)
    names = np.array([f"id{i:02d}" for i in range(n_speakers)])
    return scores, labels, names[enroll], names[test]


def _explicit_replicate(scores, labels, enroll, test, speakers, counts):
    """The trial list of a resampled speaker set, built copy by copy (no weights): each
    drawn copy brings its speaker's target trials, each ordered pair of copies of two
    different speakers the nontarget trials from the first to the second."""
    copies = np.repeat(speakers, counts)
    picked = [np.flatnonzero(labels & (enroll == s)) for s in copies]
    picked += [np.flatnonzero(~labels & (enroll == a) & (test == b))
               for a in copies for b in copies if a != b]
    index = np.concatenate(picked)
    return scores[index], labels[index]


@pytest.fixture
def small_design():
    """``_small_design``: call it with a seed (and the score scale)."""
    return _small_design


@pytest.fixture
def explicit_replicate():
    """``_explicit_replicate``: the reference trial list of one bootstrap replicate."""
    return _explicit_replicate


def _relative_cue_set(split: str, seed: int, n_speakers: int = 12, per_speaker: int = 12,
                      dim: int = 8) -> FeatureSet:
    """Label 0/1 shown as a +-0.5 shift of dim 0 from the speaker's own level, the levels of
    speakers spread with a deviation of 3 (an emotion against a voice), each speaker's
    dimensions scaled by 0.5-2: one utterance alone says little of its label, the speaker's
    other utterances say where its neutral is. Labels alternate within each speaker; keys
    ``<split><NN>-<u>``, speakers ``<split><NN>``."""
    rng = np.random.default_rng(seed)
    keys, feats, labels, speakers = [], [], [], []
    for s in range(n_speakers):
        level, scale = rng.normal(scale=3.0, size=dim), rng.uniform(0.5, 2.0, size=dim)
        for u in range(per_speaker):
            label = u % 2
            x = rng.normal(scale=0.3, size=(int(rng.integers(10, 21)), dim))
            x[:, 0] += label - 0.5
            keys.append(f"{split}{s:02d}-{u}")
            feats.append((level + scale * x).astype(np.float32))
            labels.append(label)
            speakers.append(f"{split}{s:02d}")
    return FeatureSet(keys, feats, np.array(labels), speakers)


@pytest.fixture
def relative_cue_set():
    """``_relative_cue_set``: call it with a split name and a seed."""
    return _relative_cue_set
