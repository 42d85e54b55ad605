"""Mouth shapes from phonemes: a viseme table over espeak-ng's English phoneme mnemonics.

Each phoneme maps to a target mouth pose (openness, width, rounding), all in [0, 1]. The
poses are laid out on a 1 ms grid at the phonemes' audio times, smoothed over ~40 ms (the jaw
and lips cannot jump between targets: co-articulation), and averaged over each video frame's
40 ms, so frame t shows what is heard during audio samples [640 t, 640 (t+1)).
"""
from __future__ import annotations

import numpy as np

CLOSED = (0.0, 0.5, 0.0)

# Consonants by place of articulation; vowels by height, frontness and rounding.
_POSES: dict[str, tuple[float, float, float]] = {
    "p": CLOSED, "b": CLOSED, "m": CLOSED,
    "f": (0.08, 0.55, 0.0), "v": (0.08, 0.55, 0.0),
    "T": (0.2, 0.55, 0.0), "D": (0.2, 0.55, 0.0),
    "t": (0.18, 0.55, 0.0), "d": (0.18, 0.55, 0.0), "n": (0.18, 0.55, 0.0),
    "l": (0.25, 0.55, 0.0), "s": (0.1, 0.62, 0.0), "z": (0.1, 0.62, 0.0),
    "r": (0.22, 0.42, 0.4), "S": (0.18, 0.38, 0.6), "Z": (0.18, 0.38, 0.6),
    "tS": (0.18, 0.38, 0.6), "dZ": (0.18, 0.38, 0.6),
    "k": (0.3, 0.5, 0.0), "g": (0.3, 0.5, 0.0), "N": (0.25, 0.5, 0.0), "h": (0.35, 0.5, 0.0),
    "w": (0.12, 0.2, 1.0), "j": (0.2, 0.65, 0.0),
    "a": (1.0, 0.62, 0.0), "A": (0.95, 0.55, 0.1), "aI": (0.9, 0.62, 0.0),
    "aU": (0.9, 0.5, 0.3), "e": (0.6, 0.68, 0.0), "E": (0.65, 0.66, 0.0),
    "@": (0.45, 0.5, 0.0), "3": (0.45, 0.45, 0.2), "V": (0.6, 0.52, 0.0),
    "i": (0.28, 0.78, 0.0), "I": (0.32, 0.72, 0.0), "0": (0.75, 0.38, 0.6),
    "O": (0.7, 0.35, 0.7), "o": (0.55, 0.3, 0.8), "u": (0.28, 0.2, 1.0), "U": (0.32, 0.25, 0.9),
}
_DEFAULT = (0.3, 0.5, 0.0)


def viseme(phone: str) -> tuple[float, float, float]:
    """(openness, width, rounding) for an espeak-ng phoneme mnemonic such as ``aI`` or ``@2``."""
    if not phone or phone.startswith("_"):  # pauses
        return CLOSED
    for length in range(min(len(phone), 2), 0, -1):  # longest known prefix: "aI@" -> "aI"
        if phone[:length] in _POSES:
            return _POSES[phone[:length]]
    return _DEFAULT


def mouth_track(phones: list[tuple[float, float, str]], n_frames: int, fps: float,
                offset_s: float = 0.0) -> np.ndarray:
    """(n_frames, 3) mouth poses; the mouth lags the audio by ``offset_s`` (may be < 0)."""
    grid_ms = int(np.ceil(n_frames / fps * 1000))
    poses = np.tile(np.array(CLOSED, dtype=np.float64), (grid_ms, 1))
    for start, end, name in phones:
        a, b = max(0, int(round(start * 1000))), min(grid_ms, int(round(end * 1000)))
        if b > a:
            poses[a:b] = viseme(name)
    kernel = np.hanning(41)
    kernel /= kernel.sum()
    pad = len(kernel) // 2
    padded = np.concatenate([np.repeat(poses[:1], pad, 0), poses, np.repeat(poses[-1:], pad, 0)])
    smooth = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(3)], axis=1)
    shift = int(round(offset_s * 1000))
    shifted = np.tile(np.array(CLOSED), (grid_ms, 1))
    if abs(shift) >= grid_ms:
        pass  # the whole utterance is shifted out of the video: the mouth stays closed
    elif shift >= 0:
        shifted[shift:] = smooth[:grid_ms - shift]
    else:
        shifted[:shift] = smooth[-shift:]
    frame_ms = 1000.0 / fps
    edges = np.round(np.arange(n_frames + 1) * frame_ms).astype(int)
    return np.stack([shifted[edges[t]:edges[t + 1]].mean(axis=0) for t in range(n_frames)])
