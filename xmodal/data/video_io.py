"""Decoding a face-track video to a uint8 frame array (PyAV), resized with OpenCV.

Errors (missing, empty, no video stream, no frames, fewer frames than the container
announces, undecodable) raise ``xmodal.data.audio_io.MediaError`` naming the file and where
it was referenced.
"""
from __future__ import annotations

import os

import av
import cv2
import numpy as np

from xmodal.data.audio_io import check_media_file, media_error


def read_video(path: str | os.PathLike, size: int, gray: bool,
               where: str = "") -> tuple[np.ndarray, float]:
    """Decode every frame of ``path`` as ``(frames uint8 (T, size, size, C), frame rate)``.

    C is 3 (RGB) or 1 (``gray``). Frames are resized to ``size`` x ``size`` with INTER_AREA
    (face tracks are square, so this only scales).
    """
    path = str(path)
    check_media_file(path, where)
    frames = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise media_error(path, "no video stream", where)
            stream = container.streams.video[0]
            if not stream.average_rate:
                raise media_error(path, "video stream has no frame rate", where)
            fps = float(stream.average_rate)
            announced = stream.frames
            for frame in container.decode(stream):
                image = frame.to_ndarray(format="gray" if gray else "rgb24")
                if image.shape[:2] != (size, size):
                    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
                frames.append(image)
    except av.error.FFmpegError as err:
        if frames:
            # A cut-off file opens and decodes up to the cut: say how far it got.
            raise media_error(path, f"truncated or corrupt: decoding failed after {len(frames)} "
                                    f"frames: {err}", where) from None
        raise media_error(path, f"cannot decode: {err}", where) from None
    if not frames:
        raise media_error(path, "no video frames", where)
    if announced and len(frames) < announced:
        raise media_error(path, f"truncated: decoded {len(frames)} of {announced} frames", where)
    video = np.stack(frames)
    return (video[..., None] if gray else video), fps
