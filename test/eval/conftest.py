"""Trial designs shared by the speaker-bootstrap tests of EER/minDCF (test_bootstrap) and of
the calibration metrics (test_calibration): a few speakers with many directed trials each,
and the resampled trial list built copy by copy, the reference the bootstrap is checked on."""
from __future__ import annotations

import numpy as np
import pytest


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
