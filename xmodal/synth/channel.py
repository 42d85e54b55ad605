"""Per-video recording channels: band limits, EQ, room reverberation and additive noise.

The filters and reverb run in one sox process; the noise is drawn with numpy from the seed
the caller passes, so a channel is a deterministic function of its parameters and seed.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np

from xmodal.synth.media import SAMPLE_RATE


@dataclass(frozen=True)
class ChannelParams:
    """One video's recording chain."""

    highpass_hz: float
    lowpass_hz: float
    eq_hz: float
    eq_gain_db: float
    reverberance: float  # sox reverb, 0 (dry) - 100
    room_scale: float    # sox reverb, 0 - 100
    wet_db: float        # level of the reverberant part
    snr_db: float        # speech-to-noise ratio of the additive noise
    noise_slope: float   # noise spectrum ~ f^(-slope): 0 white, 1 pink, 2 brown


def sample_channel(rng: np.random.Generator) -> ChannelParams:
    """A random channel: SNR 15-30 dB as in DESIGN.md §7, mild to strong colouring."""
    return ChannelParams(
        highpass_hz=float(rng.uniform(60, 300)),
        lowpass_hz=float(rng.uniform(3400, 7600)),
        eq_hz=float(np.exp(rng.uniform(np.log(300), np.log(4000)))),
        eq_gain_db=float(rng.uniform(-8, 8)),
        reverberance=float(rng.uniform(0, 60)),
        room_scale=float(rng.uniform(10, 90)),
        wet_db=float(rng.uniform(-10, -3)),  # sox accepts -10..10
        snr_db=float(rng.uniform(15, 30)),
        noise_slope=float(rng.uniform(0, 2)),
    )


def _coloured_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-slope / 2.0)  # power ~ f^-slope
    noise = np.fft.irfft(spectrum, n)
    return noise / (noise.std() + 1e-12)


def _speech_power(audio: np.ndarray) -> float:
    """Mean power of the active 20 ms frames (within 40 dB of the loudest)."""
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)
    power = (frames.astype(np.float64) ** 2).mean(axis=1)
    if power.size == 0 or power.max() == 0:
        return 0.0
    return float(power[power > power.max() * 1e-4].mean())


def apply_channel(audio: np.ndarray, params: ChannelParams, seed: int) -> np.ndarray:
    """Pass 16 kHz float ``audio`` through the channel; same length, float32 in [-1, 1)."""
    cmd = ["sox", "-R", "-D", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
           "-r", str(SAMPLE_RATE), "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-",
           "highpass", f"{params.highpass_hz:.1f}", "lowpass", f"{params.lowpass_hz:.1f}",
           "equalizer", f"{params.eq_hz:.1f}", "1.0q", f"{params.eq_gain_db:.2f}",
           "reverb", f"{params.reverberance:.1f}", "50", f"{params.room_scale:.1f}", "100", "0",
           f"{params.wet_db:.2f}"]
    proc = subprocess.run(cmd, input=audio.astype("<f4").tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sox channel failed: {proc.stderr.decode()[-500:]}")
    out = np.zeros(len(audio), dtype=np.float64)
    wet = np.frombuffer(proc.stdout, dtype="<f4")[: len(audio)]
    out[: len(wet)] = wet
    rng = np.random.default_rng(seed)
    power = _speech_power(out)
    if power > 0:
        out += _coloured_noise(rng, len(out), params.noise_slope) * np.sqrt(
            power / 10 ** (params.snr_db / 10))
    peak = np.abs(out).max()
    if peak > 0.99:  # a recorder's gain control: turn the take down rather than clip it
        out *= 0.99 / peak
    return out.astype(np.float32)
