"""The face-voice coupling knob: the face latents agree with the voice's as much as it says."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from xmodal.synth.corpus import CorpusSpec, sample_identity
from xmodal.synth.coupling import AGE_RANGE, Latents, couple
from xmodal.synth.voice import ACCENTS

N = 4000


def coupled(coupling: float, seed: int = 0) -> tuple[list[Latents], list[Latents]]:
    rng = np.random.default_rng(seed)
    voices, faces = [], []
    for _ in range(N):
        voice = Latents("m" if rng.random() < 0.5 else "f", float(rng.uniform(*AGE_RANGE)),
                        ACCENTS[rng.integers(len(ACCENTS))], tuple(rng.standard_normal(4)))
        voices.append(voice)
        faces.append(couple(rng, voice, coupling, ACCENTS))
    return voices, faces


@pytest.mark.parametrize("coupling", [0.0, 0.3, 0.7, 1.0])
def test_face_latents_agree_with_the_voice_as_much_as_the_coupling_says(coupling: float):
    voices, faces = coupled(coupling)
    se = 3.0 / np.sqrt(N)  # three standard errors of a correlation near 0
    for k in range(4):
        r = np.corrcoef([v.traits[k] for v in voices], [f.traits[k] for f in faces])[0, 1]
        assert abs(r - coupling) < se + 0.02, (k, r)
    # Genders equally likely: agreement (1 + c) / 2 is a correlation of c.
    same_gender = np.mean([v.gender == f.gender for v, f in zip(voices, faces)])
    assert abs(same_gender - (1 + coupling) / 2) < se
    # Accent kept with probability c, else uniform (which may agree by chance).
    same_accent = np.mean([v.accent == f.accent for v, f in zip(voices, faces)])
    assert abs(same_accent - (coupling + (1 - coupling) / len(ACCENTS))) < se
    ages = np.array([f.age for f in faces])
    r_age = np.corrcoef([v.age for v in voices], ages)[0, 1]
    assert abs(r_age - coupling) < se + 0.03
    # Ages keep their uniform distribution on the range, whatever the coupling.
    assert AGE_RANGE[0] <= ages.min() and ages.max() <= AGE_RANGE[1]
    quartiles = (np.quantile(ages, [0.25, 0.5, 0.75]) - AGE_RANGE[0]) / np.ptp(AGE_RANGE)
    assert np.allclose(quartiles, [0.25, 0.5, 0.75], atol=0.03)


def test_full_coupling_copies_the_latents():
    voices, faces = coupled(1.0)
    assert all(v.gender == f.gender and v.accent == f.accent for v, f in zip(voices, faces))
    assert all(np.allclose(v.traits, f.traits, atol=1e-4) for v, f in zip(voices, faces))
    assert all(abs(v.age - f.age) < 1e-6 for v, f in zip(voices, faces))


def test_coupling_changes_faces_only():
    """Corpora that differ only in coupling have the same people speaking the same way."""
    loose, tight = (CorpusSpec(seed=3, coupling=c) for c in (0.2, 1.0))
    for i in range(50):
        a, b = sample_identity(loose, "vox2_dev", i), sample_identity(tight, "vox2_dev", i)
        assert (a.voice, a.gender, a.accent, a.traits) == (b.voice, b.gender, b.accent, b.traits)
    assert sum(sample_identity(loose, "vox2_dev", i).face != sample_identity(tight, "vox2_dev", i).face
               for i in range(50)) == 50


def test_zero_coupling_leaves_no_face_cue_of_the_voice():
    people = [sample_identity(CorpusSpec(seed=5, coupling=0.0), "vox2_dev", i) for i in range(600)]
    men = [p for p in people if p.gender == "m"]
    r = np.corrcoef([p.voice.formant for p in men], [p.face.face_width for p in men])[0, 1]
    assert abs(r) < 0.15
    # Long hair is mostly women's faces; at zero coupling, not women's voices.
    long_hair = np.array([p.face.hair_style == 1 for p in people])
    female = np.array([p.gender == "f" for p in people])
    assert abs(long_hair[female].mean() - long_hair[~female].mean()) < 0.12


def test_coupling_out_of_range_is_refused_by_name():
    with pytest.raises(ValueError, match="coupling"):
        CorpusSpec(coupling=1.5)
    proc = subprocess.run([sys.executable, "-m", "xmodal.bin.make_synth_corpus", "--out-dir",
                           "unused", "--coupling", "-0.1"], capture_output=True, text=True)
    assert proc.returncode == 1 and "coupling must be in [0, 1], got -0.1" in proc.stderr
