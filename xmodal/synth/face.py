"""Procedural talking faces: per-identity appearance, per-video scene, per-frame mouth and blinks.

Faces are drawn with OpenCV on a supersampled canvas (anti-aliasing by area downsampling) in
a fixed head frame: the mouth centre sits near (0.5, 0.74) of the crop, as in a face-track
crop centred on the face. The parts that never change within a video (background, head, hair,
nose, ears, glasses) are drawn once; each frame adds eyes (with blinks), brows and the mouth,
then moves the whole crop by a small smooth random motion, as a face tracker's crop wobbles.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np

from xmodal.synth.emotion import Emotion

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class FaceParams:
    """An identity's appearance; lengths are fractions of the crop size."""

    skin: RGB
    hair: RGB
    hair_style: int      # 0 short, 1 long, 2 bald/receding, 3 curly
    face_width: float    # head half-width
    face_height: float   # head half-height
    eye_spacing: float
    eye_size: float
    iris: RGB
    brow_thickness: float
    brow_tilt: float     # resting brow angle, + = outer ends up
    nose_length: float
    lip: RGB
    lip_thickness: float
    mouth_width: float   # half-width of the mouth at rest
    mouth_y: float
    glasses: bool
    beard: bool
    wrinkles: bool
    shirt: RGB
    brow_rest: float = 0.0   # the resting face: brows up (+) or down (-), as emotions move them
    mouth_rest: float = 0.0  # mouth corners at rest, up (+) or down (-)


@dataclass(frozen=True)
class SceneParams:
    """One video's camera and room: background, lighting, framing and motion."""

    background: RGB
    background2: RGB
    stripes: int           # 0 = plain gradient, else number of wall panels
    light_gain: float
    light_slope: float     # left-right brightness gradient
    shift_x: float
    shift_y: float
    scale: float
    motion: float          # per-frame jitter amplitude (fraction of the crop)
    blink_interval: float  # mean seconds between blinks


def _rgb(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return int(r * 255), int(g * 255), int(b * 255)


# Mean skin tone (HSV value) by accent: appearance and accent correlate, as in real people.
_ACCENT_SKIN = {"en-us": 0.78, "en": 0.86, "en-gb-x-rp": 0.9, "en-gb-scotland": 0.92,
                "en-gb-x-gbclan": 0.84, "en-gb-x-gbcwmd": 0.8, "en-029": 0.6}


def sample_face(rng: np.random.Generator, gender: str, age: float, accent: str,
                traits: np.ndarray) -> FaceParams:
    """A face for a person of ``gender`` ('m'/'f'), ``age`` and ``accent``.

    These are the face latents (``xmodal.synth.coupling``): how much they agree with the
    voice's is the corpus' coupling. Older faces grey and wrinkle. Gender shows as it does in
    people: long hair is mostly women's, short hair and baldness men's, and half the men have
    beards; the 48-pixel mini model did not pick gender up from the subtler cues alone (face
    width, brows, lips). The 4 ``traits`` paired with the voice's set hair lightness (voice
    pitch), head size (vocal-tract length), eye spacing (speaking rate), and shirt colour,
    brows and glasses (the speaker variant, the voice trait that the model's log-mel front
    end hears best, so it gets the face's most visible partner), each with face-only noise.
    The effects are sized to be visible in a 32-pixel crop. The resting brows and mouth
    corners differ between people as much as a mild emotion moves them.
    """
    t0, t1, t2, t3 = (float(t) for t in traits)
    old = float(np.clip((age - 40.0) / 35.0, 0.0, 1.0))
    # Skin tones from light to dark, kept above the mouth-interior darkness.
    tone = np.clip(_ACCENT_SKIN.get(accent, 0.8) + rng.normal(0, 0.06), 0.55, 0.97)
    skin = _rgb(rng.uniform(0.03, 0.09), rng.uniform(0.25, 0.55), tone)
    hair_v = float(np.clip(0.45 + 0.25 * t0 + rng.normal(0, 0.07), 0.1, 0.9))
    hair = _rgb(rng.uniform(0.02, 0.1), rng.uniform(0.3, 0.8) * (1 - old), hair_v)
    grey = int(200 * old * rng.uniform(0.5, 1.0))
    hair = tuple(int(c + (grey - c) * old) if grey else c for c in hair)
    if gender == "f":
        style = int(rng.choice([1] * 7 + [3] * 2 + [0]))
    else:
        style = int(rng.choice([0] * 4 + [2] * 4 + [3] * 2 if old > 0.4 else [0] * 7 + [3] * 2 + [1]))
    width = float(np.clip(0.27 + 0.03 * t1 + rng.normal(0, 0.008), 0.2, 0.34)
                  * (0.95 if gender == "f" else 1.0))
    return FaceParams(
        skin=skin, hair=hair, hair_style=style,
        face_width=width,
        face_height=float(np.clip(0.36 + 0.012 * t1 + rng.normal(0, 0.006), 0.33, 0.39)),
        eye_spacing=float(np.clip(0.21 + 0.02 * t2 + rng.normal(0, 0.006), 0.16, 0.8 * width)),
        eye_size=float(rng.uniform(0.038, 0.055)),
        iris=_rgb(rng.uniform(0.05, 0.65), rng.uniform(0.4, 0.9), rng.uniform(0.25, 0.6)),
        brow_thickness=float(np.clip(0.015 + 0.006 * t3 + rng.normal(0, 0.0015), 0.006, 0.03)
                             * (1.3 if gender == "m" else 0.8)),
        brow_tilt=float(rng.uniform(-0.2, 0.2)),
        nose_length=float(rng.uniform(0.08, 0.13)),
        lip=_rgb(rng.uniform(-0.03, 0.02), rng.uniform(0.35, 0.6), rng.uniform(0.6, 0.85)),
        lip_thickness=float(rng.uniform(0.012, 0.024) * (1.2 if gender == "f" else 1.0)),
        mouth_width=float(rng.uniform(0.075, 0.1)),
        mouth_y=float(rng.uniform(0.725, 0.75)),
        glasses=bool(t3 + rng.normal(0, 0.3) > 0.6),
        beard=bool(gender == "m" and rng.random() < 0.5),
        wrinkles=bool(age > 55),
        shirt=_rgb(0.85 * 0.5 * (1.0 + math.erf((t3 + rng.normal(0, 0.3)) / math.sqrt(2))),
                   0.65, 0.6),
        # Drawn last, so the rest of the face is what it was before resting faces existed.
        # As wide as an emotion's change at low intensity: a face at rest can look a little
        # happy or sad, so the emotion is the change, not the pose.
        brow_rest=float(rng.uniform(-0.35, 0.35)),
        mouth_rest=float(rng.uniform(-0.35, 0.35)),
    )


def sample_scene(rng: np.random.Generator) -> SceneParams:
    """A random scene: bright-enough background, lighting, framing jitter and motion."""
    hue = rng.uniform(0, 1)
    return SceneParams(
        background=_rgb(hue, rng.uniform(0.1, 0.6), rng.uniform(0.45, 0.95)),
        background2=_rgb(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.6), rng.uniform(0.45, 0.95)),
        stripes=int(rng.choice([0, 0, 3, 5])),
        light_gain=float(rng.uniform(0.85, 1.12)),
        light_slope=float(rng.uniform(-0.12, 0.12)),
        shift_x=float(rng.uniform(-0.02, 0.02)),
        shift_y=float(rng.uniform(-0.015, 0.015)),
        scale=float(rng.uniform(0.96, 1.04)),
        motion=float(rng.uniform(0.002, 0.008)),
        blink_interval=float(rng.uniform(2.5, 5.0)),
    )


class _Canvas:
    """Drawing in crop-fraction coordinates on a supersampled image."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.px = image.shape[0]

    def p(self, x: float, y: float) -> tuple[int, int]:
        return int(round(x * self.px * 16)), int(round(y * self.px * 16))  # 4 fractional bits

    def ellipse(self, cx, cy, ax, ay, color, angle=0.0, thickness=-1.0, start=0, end=360):
        t = -1 if thickness < 0 else max(1, int(round(thickness * self.px)))
        cv2.ellipse(self.image, self.p(cx, cy), self.p(ax, ay), angle, start, end, color, t,
                    cv2.LINE_AA, 4)

    def poly(self, points, color, closed=True, thickness=-1.0):
        # np.rint rounds half to even like round() in p(): the same pixels, one call.
        pts = np.rint(np.asarray(points, dtype=np.float64) * (self.px * 16)).astype(np.int32)
        if thickness < 0:
            cv2.fillPoly(self.image, [pts], color, cv2.LINE_AA, 4)
        else:
            cv2.polylines(self.image, [pts], closed, color,
                          max(1, int(round(thickness * self.px))), cv2.LINE_AA, 4)


def _shade(color: RGB, factor: float) -> RGB:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)


def _draw_static(face: FaceParams, scene: SceneParams, px: int) -> np.ndarray:
    ys = np.linspace(0, 1, px)[:, None, None]
    bg = (np.array(scene.background) * (1 - ys) + np.array(scene.background2) * ys)
    image = np.ascontiguousarray(np.broadcast_to(bg, (px, px, 3)).astype(np.uint8))
    c = _Canvas(image)
    if scene.stripes:
        for i in range(scene.stripes):
            x = (i + 0.5) / scene.stripes
            c.poly([(x, 0), (x, 1)], _shade(scene.background, 0.85), closed=False, thickness=0.01)
    fw, fh = face.face_width, face.face_height
    if face.hair_style == 1:  # long hair falls behind the head and shoulders
        c.poly([(0.5 - fw * 1.25, 0.3), (0.5 + fw * 1.25, 0.3), (0.5 + fw * 1.35, 0.95),
                (0.5 - fw * 1.35, 0.95)], face.hair)
        c.ellipse(0.5, 0.32, fw * 1.25, fh * 0.6, face.hair)
    c.poly([(0.1, 1.0), (0.25, 0.9), (0.75, 0.9), (0.9, 1.0)], face.shirt)
    c.poly([(0.5 - 0.11, 0.75), (0.5 + 0.11, 0.75), (0.5 + 0.13, 0.97), (0.5 - 0.13, 0.97)],
           _shade(face.skin, 0.85))
    for side in (-1, 1):
        c.ellipse(0.5 + side * fw * 0.98, 0.47, fw * 0.16, fh * 0.16, _shade(face.skin, 0.92))
    c.ellipse(0.5, 0.52, fw, fh, face.skin)
    if face.beard:
        c.ellipse(0.5, 0.52, fw, fh, _shade(face.skin, 0.82), start=25, end=155)
        c.ellipse(0.5, 0.62, fw * 0.82, fh * 0.3, face.skin)
    if face.hair_style == 0:
        c.ellipse(0.5, 0.34, fw * 1.04, fh * 0.58, face.hair, start=180, end=360)
    elif face.hair_style == 1:
        c.ellipse(0.5, 0.34, fw * 1.06, fh * 0.6, face.hair, start=180, end=360)
        c.ellipse(0.5 - fw * 0.3, 0.3, fw * 0.7, fh * 0.2, face.hair, angle=-12)
    elif face.hair_style == 2:
        for side in (-1, 1):
            c.ellipse(0.5 + side * fw * 0.85, 0.38, fw * 0.2, fh * 0.25, face.hair)
    else:
        for k in range(9):
            a = np.pi * (k / 8.0)
            c.ellipse(0.5 - np.cos(a) * fw * 0.95, 0.34 - np.sin(a) * fh * 0.5, fw * 0.28,
                      fh * 0.2, face.hair)
    nose_top, nose_len = 0.47, face.nose_length
    c.poly([(0.5, nose_top), (0.5 - 0.025, nose_top + nose_len), (0.5 + 0.025, nose_top + nose_len)],
           _shade(face.skin, 0.9))
    for side in (-1, 1):
        c.ellipse(0.5 + side * 0.017, nose_top + nose_len, 0.008, 0.005, _shade(face.skin, 0.6))
    if face.wrinkles:
        for k in range(3):
            y = 0.3 + 0.025 * k
            c.ellipse(0.5, y + 0.05, fw * 0.5, 0.05, _shade(face.skin, 0.85), start=200, end=340,
                      thickness=0.004)
    return image


def _draw_dynamic(c: _Canvas, face: FaceParams, mouth: np.ndarray, closure: float, brow: float,
                  corner: float, eye_open: float) -> None:
    """Eyes, brows, glasses and mouth of one frame; ``brow`` and ``corner`` include the
    resting face, ``eye_open`` widens (+) or narrows (-) the eyelids' opening."""
    eye_y = 0.45
    # Wide eyes show more white: up to +50%; narrowed ones close to half.
    opening = float(np.clip(1.0 + 0.5 * eye_open, 0.4, 1.6))
    for side in (-1, 1):
        ex = 0.5 + side * face.eye_spacing
        ew, eh = face.eye_size, face.eye_size * 0.5 * opening * (1.0 - closure)
        if eh > 0.004:
            c.ellipse(ex, eye_y, ew, eh, (240, 240, 235))
            if closure < 0.6:
                c.ellipse(ex, eye_y, face.eye_size * 0.42, face.eye_size * 0.42 * (1 - closure),
                          face.iris)
                c.ellipse(ex, eye_y, face.eye_size * 0.18, face.eye_size * 0.18 * (1 - closure),
                          (20, 20, 20))
        c.poly([(ex - ew, eye_y), (ex + ew, eye_y)], _shade(face.skin, 0.55), closed=False,
               thickness=0.006) if eh <= 0.004 else None
        # Brows: emotions raise (+) or knits (-) them; knitting lowers the inner ends.
        # Sized to move about a pixel of a 32-pixel crop per unit, 1.7 of a 48-pixel one.
        by = eye_y - 0.065 - 0.035 * brow
        inner = 0.02 * min(brow, 0.0) * -1
        outer_rise = 0.015 * face.brow_tilt
        c.poly([(ex - side * face.eye_size * 1.1, by + inner),
                (ex + side * face.eye_size * 1.2, by - outer_rise)],
               _shade(face.hair, 0.8), closed=False, thickness=face.brow_thickness)
    if face.glasses:
        for side in (-1, 1):
            ex = 0.5 + side * face.eye_spacing
            c.ellipse(ex, eye_y, face.eye_size * 1.6, face.eye_size * 1.25, (40, 40, 45),
                      thickness=0.008)
        c.poly([(0.5 - face.eye_spacing + face.eye_size * 1.6, eye_y),
                (0.5 + face.eye_spacing - face.eye_size * 1.6, eye_y)], (40, 40, 45),
               closed=False, thickness=0.008)

    openness, width, rounding = (float(v) for v in mouth)
    hw = face.mouth_width * (0.8 + 0.45 * width) * (1.0 - 0.3 * rounding)
    ih = 0.065 * openness  # inner half-height at the centre
    lt = face.lip_thickness * (1.0 + 0.4 * rounding)
    cy = face.mouth_y
    us = np.linspace(-1.0, 1.0, 21)
    bend = -0.035 * corner * us ** 2  # corners up for a smile (+), down (-)
    arc = np.sqrt(np.clip(1.0 - us ** 2, 0.0, 1.0))
    xs = 0.5 + hw * us
    upper_out = cy + bend - ih * arc - lt * (0.4 + 0.6 * arc)
    lower_out = cy + bend + ih * arc + lt * (0.5 + 0.7 * arc)
    c.poly(list(zip(xs, upper_out)) + list(zip(xs[::-1], lower_out[::-1])), face.lip)
    if ih > 0.002:
        inner_x = 0.5 + hw * 0.92 * us
        c.poly(list(zip(inner_x, cy + bend - ih * arc)) +
               list(zip(inner_x[::-1], (cy + bend + ih * arc)[::-1])), (45, 18, 22))
    else:
        c.poly(list(zip(xs, cy + bend)), _shade(face.lip, 0.6), closed=False, thickness=0.004)


def _smooth_walk(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """A slowly wandering 1-D offset with the given standard deviation."""
    steps = rng.standard_normal(n + 25)
    kernel = np.hanning(25)
    walk = np.convolve(steps, kernel / np.sqrt((kernel ** 2).sum()), mode="valid")[:n]
    return amplitude * walk


def blink_closure(rng: np.random.Generator, n_frames: int, fps: float, interval_s: float) -> np.ndarray:
    """Per-frame eyelid closure in [0, 1]: blinks of ~160 ms at random intervals."""
    closure = np.zeros(n_frames)
    shape = np.array([0.5, 1.0, 1.0, 0.5])
    t = rng.exponential(interval_s) * fps
    while t < n_frames:
        start = int(t)
        end = min(n_frames, start + len(shape))
        closure[start:end] = shape[:end - start]
        t += len(shape) + rng.exponential(interval_s) * fps
    return closure


def render_frames(face: FaceParams, scene: SceneParams, mouth: np.ndarray, emotion: Emotion,
                  rng: np.random.Generator, size: int) -> np.ndarray:
    """(T, size, size, 3) uint8 RGB frames with the mouth poses ``mouth`` (T, 3) and the
    face's ``emotion`` (already scaled by intensity and expressiveness) over its resting face."""
    brow = face.brow_rest + emotion.brow
    corner = face.mouth_rest + emotion.mouth_corner
    n = len(mouth)
    # Supersampling for anti-aliased features; the primitives are anti-aliased themselves,
    # so a 128-pixel canvas is enough and costs a quarter of a 256-pixel one.
    factor = max(1, int(np.ceil(128 / size)))
    px = size * factor
    static = _draw_static(face, scene, px)
    closure = blink_closure(rng, n, 25.0, scene.blink_interval)
    dx = _smooth_walk(rng, n, scene.motion) + scene.shift_x
    dy = _smooth_walk(rng, n, scene.motion) + scene.shift_y
    angle = _smooth_walk(rng, n, 1.5)  # degrees of head roll
    xs = np.linspace(-1, 1, size)[None, :, None]
    light = scene.light_gain * (1.0 + scene.light_slope * xs)
    frames = np.empty((n, size, size, 3), dtype=np.uint8)
    for t in range(n):
        canvas = _Canvas(static.copy())
        _draw_dynamic(canvas, face, mouth[t], closure[t], brow, corner, emotion.eye_open)
        small = cv2.resize(canvas.image, (size, size), interpolation=cv2.INTER_AREA)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), float(angle[t]), scene.scale)
        matrix[:, 2] += (dx[t] * size, dy[t] * size)
        moved = cv2.warpAffine(small, matrix, (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        frames[t] = np.clip(moved * light, 0, 255).astype(np.uint8)
    return frames
