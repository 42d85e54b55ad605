"""How strongly a synthetic person's face and voice share identity traits: one knob, ``c``.

Every identity has one set of latents (gender, age, accent, four standard-normal traits) that
drives its voice. Its face is drawn from a second set, the *face latents*, made from the first
with coupling ``c`` in [0, 1]:

- each trait: ``c * t + sqrt(1 - c^2) * e`` with ``e`` face-only standard normal noise, so the
  face trait and the voice trait correlate with coefficient ``c``;
- age through the same Gaussian mixing of its normal score (ages stay uniform on 20-75);
- gender: the face's is the voice's with probability ``(1 + c) / 2``, otherwise the other one
  (a correlation of ``c`` between the two, genders being equally likely);
- accent (which sets the skin tone): the voice's with probability ``c``, otherwise drawn
  uniformly, so it may agree by chance.

At ``c = 1`` a face shows the same person the voice belongs to (each attribute keeps its own
small rendering noise); at ``c = 0`` a face tells nothing about its voice, and matching faces
to voices of unseen people cannot beat chance however well a model learns. In between, the
cross-modal identity task is as learnable as the corpus makes it: a controlled variable that
real data does not offer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

AGE_RANGE = (20.0, 75.0)


@dataclass(frozen=True)
class Latents:
    """The latent attributes that one modality of an identity is drawn from."""

    gender: str                 # 'm' or 'f'
    age: float                  # years
    accent: str                 # an espeak-ng English accent
    traits: tuple[float, ...]   # standard-normal traits paired across modalities


_NORMAL = NormalDist()


def couple(rng: np.random.Generator, voice: Latents, coupling: float,
           accents: tuple[str, ...]) -> Latents:
    """The face latents of a person whose voice latents are ``voice``, with ``coupling``.

    Draws the same number of random values whatever ``coupling`` is, so two corpora that
    differ only in coupling have the same voices, sentences and scenes.
    """
    if not 0.0 <= coupling <= 1.0:
        raise ValueError(f"coupling must be in [0, 1], got {coupling}")
    keep = math.sqrt(1.0 - coupling ** 2)
    noise = rng.standard_normal(len(voice.traits) + 1)
    same_gender, same_accent = rng.random(2)
    other_accent = accents[int(rng.integers(len(accents)))]
    traits = tuple(round(coupling * t + keep * float(e), 4)
                   for t, e in zip(voice.traits, noise[:-1]))
    lo, hi = AGE_RANGE
    z = _NORMAL.inv_cdf(min(max((voice.age - lo) / (hi - lo), 1e-9), 1 - 1e-9))
    age = lo + (hi - lo) * _NORMAL.cdf(coupling * z + keep * float(noise[-1]))
    gender = voice.gender if same_gender < (1.0 + coupling) / 2 else \
        {"m": "f", "f": "m"}[voice.gender]
    accent = voice.accent if same_accent < coupling else other_accent
    return Latents(gender, age, accent, traits)
