"""Speaking styles (emotions) of the synthetic corpus: one factor that moves voice and face."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    """How a style modifies a neutral rendition.

    Voice: ``pitch_shift`` adds to espeak's pitch (0-99 scale), ``range_scale`` multiplies the
    pitch range, ``rate_scale`` the speaking rate, ``gain_db`` the level. Face: ``brow`` raises
    (+) or lowers/knits (-) the eyebrows, ``mouth_corner`` turns the mouth corners up (+) or
    down (-), both in [-1, 1].
    """

    name: str
    pitch_shift: float
    range_scale: float
    rate_scale: float
    gain_db: float
    brow: float
    mouth_corner: float


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style("neutral", 0.0, 1.0, 1.0, 0.0, 0.0, 0.0),
        Style("happy", 8.0, 1.5, 1.08, 2.0, 0.5, 0.8),
        Style("sad", -8.0, 0.5, 0.85, -4.0, -0.3, -0.7),
        Style("angry", 4.0, 1.3, 1.12, 5.0, -0.9, -0.3),
    )
}
STYLE_NAMES: tuple[str, ...] = tuple(STYLES)
