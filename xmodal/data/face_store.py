"""How a dump stores the face frames of a face-track, and reading a window of them back.

Each face-track is one entry of the dump's ``faces.J.ark`` (kaldiio numpy format,
``xmodal.data.npy_ark``), in one of two formats, chosen by ``face_format`` in the dump config
and recorded in the dump dir's ``face_format`` file (a dump dir without one is ``raw``: dumps
made before JPEG existed):

    raw    uint8 ``(V, S, S, C)``, C = 3 (RGB) or 1 (grey). 3.8 MB per second of video at
           224 px: 6.4 TB for a 20% subset of VoxCeleb2 dev (``bench.data_pipeline``).
    jpeg   uint8 ``(L,)``: a header, then each frame as a baseline JPEG (OpenCV's libjpeg,
           4:2:0 for colour) at ``jpeg_quality``; 8-23x smaller at q90, decoded per window.

The jpeg entry's header (little-endian) is ``MAGIC``, the frame count V, height, width and
channels, then V + 1 byte offsets into the entry: frame i is bytes ``[off[i], off[i+1])``.
A window of n frames then costs three small reads (header, its n + 1 offsets, its frames'
bytes) wherever it lies in the track, as a raw window does (``read_npy_window``).
Encoding and decoding are deterministic: the same frames give the same bytes and pixels.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from xmodal.atomic import write_text_atomic
from xmodal.data.npy_ark import NpyBytes, read_npy_window

FACE_FORMATS = ("raw", "jpeg")
FORMAT_FILE = "face_format"
MAGIC = b"XMJPEG01"
# MAGIC, frames (uint32), height, width, channels (uint16 each); then uint64 offsets.
HEADER = struct.Struct("<8sIHHH")
OFFSET = np.dtype("<u8")
# Every JPEG stream starts with SOI and ends with EOI; libjpeg decodes a truncated stream
# with a warning (grey rows at the bottom), so a cut is only caught by checking the markers.
SOI, EOI = b"\xff\xd8", b"\xff\xd9"


def check_face_format(face_format: str, where: str) -> str:
    """``face_format`` if it is a known format; otherwise a ``ValueError`` naming ``where``."""
    if face_format not in FACE_FORMATS:
        raise ValueError(f"{where}: unknown face format '{face_format}' (known: "
                         f"{', '.join(FACE_FORMATS)})")
    return face_format


def read_face_format(dump_dir: str | os.PathLike) -> str:
    """The face format of a dump dir: its ``face_format`` file, ``raw`` if it has none."""
    path = Path(dump_dir) / FORMAT_FILE
    return read_format_file(path) if path.is_file() else "raw"


def read_format_file(path: str | os.PathLike) -> str:
    """The face format recorded in the file ``path`` (a ``ValueError`` naming it if unknown)."""
    return check_face_format(Path(path).read_text(encoding="utf-8").strip(), str(path))


def write_face_format(path: str | os.PathLike, face_format: str) -> None:
    """Record ``face_format`` in the file ``path`` (atomically)."""
    write_text_atomic(path, f"{check_face_format(face_format, str(path))}\n")


def encode_track(faces: np.ndarray, face_format: str, jpeg_quality: int = 90) -> np.ndarray:
    """The faces-ark entry of a track of frames ``faces`` (uint8 ``(V, S, S, C)``)."""
    check_face_format(face_format, "encode_track")
    if faces.dtype != np.uint8 or faces.ndim != 4 or faces.shape[3] not in (1, 3):
        raise ValueError(f"face frames must be uint8 (V, H, W, 1|3), got {faces.dtype} "
                         f"{faces.shape}")
    if face_format == "raw":
        return faces
    frames, height, width, channels = faces.shape
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    streams = []
    for frame in faces:
        # OpenCV's colour images are BGR; converting keeps the JPEG's luma the true luma.
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if channels == 3 else frame[..., 0]
        ok, stream = cv2.imencode(".jpg", image, params)
        if not ok:
            raise ValueError(f"JPEG encoding of a {height}x{width}x{channels} frame failed")
        streams.append(stream.reshape(-1))
    lengths = np.array([0] + [len(s) for s in streams], OFFSET)
    offsets = HEADER.size + OFFSET.itemsize * (frames + 1) + np.cumsum(lengths, dtype=OFFSET)
    header = HEADER.pack(MAGIC, frames, height, width, channels) + offsets.tobytes()
    return np.concatenate([np.frombuffer(header, np.uint8), *streams])


def _decode(stream: bytes, shape: tuple[int, int, int], frame: int) -> np.ndarray:
    """One JPEG stream as a uint8 ``shape`` (H, W, C) frame; ``frame`` names it in errors."""
    if not (stream.startswith(SOI) and stream.endswith(EOI)):
        raise ValueError(f"frame {frame}: not a whole JPEG stream ({len(stream)} bytes)")
    gray = shape[2] == 1
    image = cv2.imdecode(np.frombuffer(stream, np.uint8),
                         cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"frame {frame}: the JPEG stream cannot be decoded")
    image = image[..., None] if gray else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape != shape:
        raise ValueError(f"frame {frame}: decoded to {image.shape}, the header says {shape}")
    return image


def _read_jpeg_window(spec: str, start: int, n: int) -> np.ndarray:
    with NpyBytes(spec) as entry:
        if entry.size < HEADER.size:
            raise ValueError(f"{spec}: {entry.size} bytes, too short for a JPEG track header")
        magic, frames, height, width, channels = HEADER.unpack(entry.read(0, HEADER.size))
        if magic != MAGIC:
            raise ValueError(f"{spec}: not a JPEG face-track entry (starts with {magic!r})")
        if not 0 <= start <= start + n <= frames:
            raise ValueError(f"{spec}: cannot read frames {start}-{start + n} of a track of "
                             f"{frames}")
        first = HEADER.size + OFFSET.itemsize * start
        offsets = np.frombuffer(entry.read(first, first + OFFSET.itemsize * (n + 1)), OFFSET)
        data_start = HEADER.size + OFFSET.itemsize * (frames + 1)
        if (offsets[0] < data_start or np.any(np.diff(offsets.astype(np.int64)) < 0)
                or offsets[-1] > entry.size):
            raise ValueError(f"{spec}: corrupt frame offsets of frames {start}-{start + n} "
                             f"(entry of {entry.size} bytes)")
        data = entry.read(int(offsets[0]), int(offsets[-1]))
    out = np.empty((n, height, width, channels), np.uint8)
    bounds = (offsets - offsets[0]).tolist()
    try:
        for i in range(n):
            out[i] = _decode(data[bounds[i]:bounds[i + 1]], out.shape[1:], start + i)
    except ValueError as err:
        raise ValueError(f"{spec}: {err}") from None
    return out


def read_window(spec: str, face_format: str, start: int, n: int) -> np.ndarray:
    """Frames ``[start, start + n)`` (uint8 ``(n, S, S, C)``) of the track at ``spec``.

    ``spec`` is the track's faces.scp entry (``ark:offset``); only the window's bytes are read.
    A bad entry (not of ``face_format``, truncated, corrupt) is a ``ValueError`` naming it; a
    missing ark an ``OSError``.
    """
    check_face_format(face_format, "read_window")
    if face_format == "jpeg":
        return _read_jpeg_window(spec, start, n)
    faces = read_npy_window(spec, start, n)
    if faces.dtype != np.uint8 or faces.ndim != 4:
        # E.g. a jpeg entry (1-D) in a dump dir whose face_format file is missing.
        raise ValueError(f"{spec}: not raw face frames: a {faces.dtype} array of "
                         f"{faces.ndim} dimensions, expected uint8 (V, S, S, C)")
    return faces
