"""A contact sheet of a VoxCeleb2-layout corpus: one row per track, frames across.

``python -m xmodal.bin.corpus_gallery --root CORPUS/voxceleb2 --out sheet.png [--tracks 8]``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from xmodal.atomic import atomic_path
from xmodal.data.video_io import read_video


def contact_sheet(mp4s: list[Path], frames_per_row: int, step: int, size: int) -> np.ndarray:
    """RGB image: for each mp4, ``frames_per_row`` frames ``step`` apart, ``size`` px each."""
    rows = []
    for mp4 in mp4s:
        video, _ = read_video(mp4, size, gray=False)
        picks = [video[min(i * step, len(video) - 1)] for i in range(frames_per_row)]
        rows.append(np.concatenate(picks, axis=1))
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="a voxceleb2 directory ({dev,test}/mp4/...)")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--tracks", type=int, default=8, help="rows (one track per speaker)")
    parser.add_argument("--frames", type=int, default=8, help="frames per row")
    parser.add_argument("--step", type=int, default=4, help="video frames between columns")
    parser.add_argument("--size", type=int, default=112, help="pixels per frame in the sheet")
    args = parser.parse_args(argv)
    by_speaker: dict[str, Path] = {}
    for mp4 in sorted(Path(args.root).glob("*/mp4/id*/*/*.mp4")):
        by_speaker.setdefault(mp4.parts[-3], mp4)
    if not by_speaker:
        print(f"error: no {args.root}/*/mp4/id*/*/*.mp4 files", file=sys.stderr)
        return 1
    sheet = contact_sheet(list(by_speaker.values())[:args.tracks], args.frames, args.step,
                          args.size)
    _, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    with atomic_path(args.out) as tmp:
        tmp.write_bytes(png.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
