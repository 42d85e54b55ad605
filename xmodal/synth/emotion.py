"""Emotions of the synthetic corpus: one factor that moves the voice and the face together.

The eight emotions are RAVDESS' (CREMA-D uses six of them: not calm, not surprised). Each is
a *change from the speaker's own neutral rendition*, never an absolute setting: pitch is
shifted from the speaker's pitch, range and rate scaled from theirs, the voice's spectral tilt
moved from their tilt, the brows and mouth corners from their resting face. Between-speaker
differences in each cue are as large as the emotions' changes, so a classifier has to hear
(or see) the change, not recognise the speaker. How strongly a speaker shows emotion
(``Identity.expressiveness``) and the intensity of an utterance (CREMA-D's LO/MD/HI, RAVDESS'
normal/strong) scale every change together.

Neighbouring emotions are made confusable on purpose, as they are for people: calm differs
from neutral only a little, fearful and surprised share raised brows and wide eyes (their
voices differ: fear is tense, breathy and fast, surprise loud with a wide pitch range), angry
and disgust share knit brows.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Emotion:
    """How an emotion at intensity 1 changes a speaker's neutral rendition.

    Voice: ``pitch_shift`` adds to espeak's pitch (0-99 scale), ``range_scale`` multiplies the
    pitch range, ``rate_scale`` the speaking rate, ``gain_db`` is added to the level;
    voice quality: ``tension_db`` is added to the speaker's treble tilt at 3 kHz (+ pressed,
    tense voice; - lax), ``breathiness`` mixes in aspiration noise that follows the speech
    envelope (its RMS relative to the speech's). Face: ``brow`` raises (+) or knits (-) the
    eyebrows, ``mouth_corner`` turns the mouth corners up (+) or down (-), ``eye_open`` widens
    (+) or narrows (-) the eyes, each in [-1, 1] at intensity 1.
    """

    name: str
    pitch_shift: float = 0.0
    range_scale: float = 1.0
    rate_scale: float = 1.0
    gain_db: float = 0.0
    tension_db: float = 0.0
    breathiness: float = 0.0
    brow: float = 0.0
    mouth_corner: float = 0.0
    eye_open: float = 0.0

    def at(self, intensity: float) -> Emotion:
        """This emotion's changes scaled by ``intensity`` (0: neutral; 1: as defined)."""
        if intensity < 0:
            raise ValueError(f"emotion intensity must be >= 0, got {intensity}")
        k = float(intensity)
        return Emotion(self.name, self.pitch_shift * k, 1.0 + (self.range_scale - 1.0) * k,
                       1.0 + (self.rate_scale - 1.0) * k, self.gain_db * k, self.tension_db * k,
                       self.breathiness * k, self.brow * k, self.mouth_corner * k,
                       self.eye_open * k)


EMOTIONS: dict[str, Emotion] = {
    e.name: e
    for e in (
        Emotion("neutral"),
        Emotion("calm", pitch_shift=-3.0, range_scale=0.8, rate_scale=0.92, gain_db=-2.0,
                tension_db=-1.5, breathiness=0.08, mouth_corner=0.25, eye_open=-0.3),
        Emotion("happy", pitch_shift=7.0, range_scale=1.45, rate_scale=1.08, gain_db=2.0,
                tension_db=1.0, brow=0.4, mouth_corner=0.8, eye_open=-0.15),
        Emotion("sad", pitch_shift=-6.0, range_scale=0.55, rate_scale=0.85, gain_db=-4.0,
                tension_db=-3.0, breathiness=0.2, brow=0.2, mouth_corner=-0.7, eye_open=-0.4),
        Emotion("angry", pitch_shift=3.0, range_scale=1.25, rate_scale=1.1, gain_db=5.0,
                tension_db=4.0, brow=-0.9, mouth_corner=-0.3, eye_open=0.2),
        Emotion("fearful", pitch_shift=9.0, range_scale=0.8, rate_scale=1.15, gain_db=-1.0,
                tension_db=2.0, breathiness=0.15, brow=0.7, mouth_corner=-0.3, eye_open=0.6),
        Emotion("disgust", pitch_shift=-3.0, range_scale=0.9, rate_scale=0.9, gain_db=1.0,
                tension_db=2.0, brow=-0.5, mouth_corner=-0.5, eye_open=-0.45),
        Emotion("surprised", pitch_shift=10.0, range_scale=1.6, rate_scale=1.0, gain_db=3.0,
                brow=1.0, eye_open=0.8),
    )
}
EMOTION_NAMES: tuple[str, ...] = tuple(EMOTIONS)
NEUTRAL = EMOTIONS["neutral"]
# Utterance intensities of the VoxCeleb-layout pools: CREMA-D's low, medium and high.
INTENSITIES: tuple[float, ...] = (0.5, 1.0, 1.5)
# How strongly people show emotion: each identity's factor on every change.
EXPRESSIVENESS_RANGE = (0.6, 1.4)
