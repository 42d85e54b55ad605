"""Identities: shared latents make a face predictive of its voice; hundreds stay distinct."""
from __future__ import annotations

import colorsys

import numpy as np

from xmodal.synth.corpus import CorpusSpec, sample_identity
from xmodal.synth.voice import FEMALE_VARIANTS, MALE_VARIANTS


def identities(n: int = 300):
    spec = CorpusSpec(seed=11, vox2_dev_speakers=n)
    return [sample_identity(spec, "vox2_dev", i) for i in range(n)]


def test_face_and_voice_share_latent_traits():
    people = [p for p in identities() if p.gender == "m"]
    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1])
    # Vocal-tract length <-> head width; pitch <-> hair lightness; rate <-> eye spacing.
    assert corr([p.voice.formant for p in people], [p.face.face_width for p in people]) > 0.6
    hair_v = [colorsys.rgb_to_hsv(*(c / 255 for c in p.face.hair))[2] for p in people if p.age < 40]
    pitch = [p.voice.pitch for p in people if p.age < 40]
    assert corr(pitch, hair_v) > 0.5
    assert corr([p.voice.rate for p in people], [p.face.eye_spacing for p in people]) > 0.5
    # ... but only partly: no face attribute is a copy of a voice attribute.
    assert corr([p.voice.formant for p in people], [p.face.face_width for p in people]) < 0.99


def test_hundreds_of_identities_have_distinct_voices():
    people = identities()
    voices = {(p.voice.accent, p.voice.variant, round(p.voice.pitch / 5), round(p.voice.formant, 2))
              for p in people}
    assert len(voices) >= 0.95 * len(people)
    assert len({p.voice.variant for p in people}) >= 30
    assert {p.gender for p in people} == {"m", "f"}


def test_a_face_shows_its_gender():
    """Gender is the cue a listener and a viewer share most: hair style and beards show it."""
    people = identities()
    plain = [p for p in people if p.face.hair_style != 3]  # curly hair: either gender
    guess = ["f" if p.face.hair_style == 1 else "m" for p in plain]
    assert np.mean([g == p.gender for g, p in zip(guess, plain)]) > 0.8
    assert not any(p.face.beard for p in people if p.gender == "f")
    assert np.mean([p.face.beard for p in people if p.gender == "m"]) > 0.3


def test_the_voice_variant_goes_with_the_glasses():
    """Within a gender, 25 ms log-mel frames hardly resolve pitch, but they do carry the espeak
    speaker variant: the trait that picks the variant also puts on the glasses."""
    people = identities()
    def variant_rank(p):
        variants = MALE_VARIANTS if p.gender == "m" else FEMALE_VARIANTS
        return variants.index(p.voice.variant) / (len(variants) - 1)
    glasses = [p.face.glasses for p in people]
    assert 0.1 < np.mean(glasses) < 0.4
    assert np.corrcoef([variant_rank(p) for p in people], glasses)[0, 1] > 0.45
    # ... and sets the shirt's hue, the face's most visible trait in a small crop.
    hue = [colorsys.rgb_to_hsv(*(c / 255 for c in p.face.shirt))[0] for p in people]
    assert np.corrcoef([variant_rank(p) for p in people], hue)[0, 1] > 0.7
