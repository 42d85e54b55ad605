"""Synthetic voices: an identity's espeak-ng voice, its timbre, and an emotion.

A voice is an espeak-ng accent (language variant) and speaker variant, pitch, pitch range and
rate, plus an identity-fixed timbre transform applied by sox: a vocal-tract-length change (a
resampling ``speed`` that moves the formants, with ``pitch`` undoing its effect on F0) and a
spectral tilt. The ~45 espeak speaker variants alone are too few for hundreds of identities;
the continuous pitch, rate, formant and tilt settings spread them apart.
"""
from __future__ import annotations

import bisect
import math
import subprocess
from dataclasses import dataclass

import numpy as np

from xmodal.synth import espeak
from xmodal.synth.media import SAMPLE_RATE
from xmodal.synth.emotion import Emotion

# espeak-ng English accents (voice names accepted by espeak_SetVoiceByName).
ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                            "en-gb-x-gbcwmd", "en-029")

# Human-sounding speaker variants shipped with espeak-ng 1.51 (voices/!v), by the gender their
# pitch ranges imply; robotic, whispering and child variants are left out.
MALE_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Denis", "Diogo", "Gene", "Henrique",
    "Hugo", "Jacky", "Lee", "Mario", "Michael", "Mike", "antonio", "david", "ed", "grandpa",
    "gustave", "iven", "iven2", "kaukovalta", "marcelo", "michel", "miguel", "paul", "pedro",
    "quincy", "rob", "robert", "travis", "victor")
FEMALE_VARIANTS: tuple[str, ...] = (
    "f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "anika", "aunty", "belinda",
    "grandma", "linda", "shelby", "steph", "steph2", "steph3")


SPEECH_DBFS = -26.0


@dataclass(frozen=True)
class VoiceParams:
    """An identity's voice. ``formant`` > 1 shortens the vocal tract (raises formants)."""

    accent: str
    variant: str
    pitch: float        # espeak 0-99
    pitch_range: float  # espeak 0-99
    rate: float         # words per minute
    formant: float      # formant scale factor, ~0.88-1.14
    tilt_db: float      # treble shelf gain at 3 kHz
    level_db: float = 0.0     # how loud this person speaks, from the corpus' -26 dBFS
    breathiness: float = 0.0  # aspiration noise of this person's neutral voice (RMS ratio)

    @property
    def espeak_name(self) -> str:
        """The name espeak-ng knows this voice by."""
        return f"{self.accent}+{self.variant}"


@dataclass
class Speech:
    """16 kHz float audio with phoneme and word intervals (seconds from its start)."""

    audio: np.ndarray
    phones: list[tuple[float, float, str]]
    words: list[tuple[float, float, str]]


def sample_voice(rng: np.random.Generator, gender: str, age: float, accent: str,
                 traits: np.ndarray) -> VoiceParams:
    """A voice for a person of ``gender`` ('m'/'f'), ``age`` (years), ``accent``.

    ``traits`` (4 standard-normal latents shared with the face, see ``sample_face``) set the
    voice's pitch, vocal-tract length, rate and timbre, each with voice-only noise: a face
    tells something, never everything, about its voice.
    """
    variants = MALE_VARIANTS if gender == "m" else FEMALE_VARIANTS
    old = max(0.0, (age - 45.0) / 30.0)  # 0 up to 45 years, 1 at 75
    formant_mu = 1.0 if gender == "m" else 1.06
    t0, t1, t2, t3 = (float(t) for t in traits)
    # The speaker variant is the voice's strongest cue that survives the model's per-bin
    # normalised 25 ms log-mel frames (pitch within a gender does not): tie it to a trait.
    pick = 0.5 * (1.0 + math.erf((0.9 * t3 + 0.4 * rng.standard_normal()) / math.sqrt(2)))
    return VoiceParams(
        accent=accent,
        variant=variants[min(len(variants) - 1, int(pick * len(variants)))],
        pitch=float(np.clip(50 - 10 * old + 10 * t0 + rng.normal(0, 5), 10, 90)),
        pitch_range=float(np.clip(rng.normal(55 - 10 * old, 14), 15, 95)),
        rate=float(np.clip(170 - 20 * old + 12 * t2 + rng.normal(0, 6), 125, 215)),
        formant=float(np.clip(formant_mu + 0.035 * t1 + rng.normal(0, 0.012), 0.88, 1.14)),
        tilt_db=float(np.clip(3.0 * t3 + rng.normal(0, 1.5), -6.0, 6.0)),
    )


def _word_starts(text: str) -> list[int]:
    """1-based character offset of each space-separated word (espeak's text_position)."""
    starts, pos = [], 1
    for word in text.split(" "):
        starts.append(pos)
        pos += len(word) + 1
    return starts


def _word_spans(words: list[str], events: list[tuple[float, float, int]]):
    """One (start, end, word) per word from espeak's word events.

    espeak reports a word group it speaks as one unit ("of the") as a single event: the
    group's span is shared among its words in proportion to their lengths.
    """
    starts = _word_starts(" ".join(words))
    firsts: list[tuple[float, float, int]] = []
    for s, e, pos in events:
        index = max(0, bisect.bisect_right(starts, pos) - 1)
        if firsts and firsts[-1][2] == index:  # one word reported twice: merge
            firsts[-1] = (firsts[-1][0], e, index)
        elif not firsts or index > firsts[-1][2]:
            firsts.append((s, e, index))
    if not firsts or firsts[0][2] != 0:
        raise espeak.EspeakError(f"espeak-ng reported no event for the first word of {words}")
    spans = []
    for k, (s, e, first) in enumerate(firsts):
        last = firsts[k + 1][2] if k + 1 < len(firsts) else len(words)
        lengths = np.array([len(w) for w in words[first:last]], dtype=float)
        edges = s + (e - s) * np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
        spans += [(float(edges[j]), float(edges[j + 1]), words[first + j])
                  for j in range(last - first)]
    return spans


def breath_noise(audio: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Aspiration noise for a breathy voice: white noise, tilted up (first difference), whose
    envelope follows the speech's (20 ms smoothing) at ``level`` times its RMS."""
    noise = np.diff(rng.standard_normal(len(audio) + 1))
    if level <= 0 or not len(audio):
        return np.zeros_like(audio)
    width = max(1, int(0.02 * SAMPLE_RATE))
    envelope = np.convolve(np.abs(audio), np.ones(width) / width, mode="same")
    shaped = noise * envelope
    gain = level * np.sqrt((audio ** 2).mean()) / (np.sqrt((shaped ** 2).mean()) + 1e-12)
    return gain * shaped


def speak(text: str, voice: VoiceParams, emotion: Emotion, rng: np.random.Generator) -> Speech:
    """Say ``text`` (words separated by single spaces) in ``voice`` with ``emotion`` (already
    scaled by intensity and expressiveness): prosody, level and voice quality change from the
    voice's own; ``rng`` draws the breath noise."""
    synth = espeak.synthesize(
        text, voice.espeak_name,
        pitch=int(np.clip(round(voice.pitch + emotion.pitch_shift), 0, 99)),
        pitch_range=int(np.clip(round(voice.pitch_range * emotion.range_scale), 0, 99)),
        rate=int(round(voice.rate * emotion.rate_scale)))
    # speed f scales formants and pitch by f and durations by 1/f; pitch then restores F0.
    # A tense voice has more energy high up, a lax one less: the tilt moves from the voice's.
    cmd = ["sox", "-R", "-D", "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
           "-r", str(synth.rate), "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-",
           "speed", f"{voice.formant:.5f}", "pitch", f"{-1200 * math.log2(voice.formant):.2f}",
           "treble", f"{voice.tilt_db + emotion.tension_db:.2f}", "3000",
           "rate", "-h", str(SAMPLE_RATE)]
    proc = subprocess.run(cmd, input=synth.audio.astype("<i2").tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sox failed on voice {voice.espeak_name}: {proc.stderr.decode()[-500:]}")
    audio = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float64)
    audio = audio + breath_noise(audio, voice.breathiness + emotion.breathiness, rng)
    # Speak at the person's level around -26 dBFS (as speech is usually recorded), moved by
    # the emotion.
    rms = np.sqrt((audio ** 2).mean()) + 1e-9
    level = SPEECH_DBFS + voice.level_db + emotion.gain_db
    audio = (audio * 10 ** (level / 20) / rms).astype(np.float32)
    scale = 1.0 / voice.formant

    words = text.split(" ")
    spans = _word_spans(words, synth.words)
    return Speech(audio,
                  [(s * scale, e * scale, p) for s, e, p in synth.phones],
                  [(s * scale, e * scale, w) for s, e, w in spans])
