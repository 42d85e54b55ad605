"""16 kHz mono 16-bit PCM wav copies of compressed audio (VoxCeleb2's m4a), made in parallel.

Decoding a wav is much cheaper than decoding AAC, so a corpus read many times can be converted
once. Each copy is written under a temporary name and renamed, so a copy that exists is
complete: a second run (e.g. after a kill) converts only what is missing.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from xmodal.atomic import atomic_path

SAMPLE_RATE = 16000


class ConversionError(RuntimeError):
    """ffmpeg could not decode a source file; the message names it."""


def convert_one(source: Path, target: Path) -> None:
    """Decode ``source`` into the wav ``target`` with ffmpeg (atomically)."""
    with atomic_path(target) as tmp:
        proc = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-vn", "-ac", "1",
             "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "wav", str(tmp)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            reason = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
            raise ConversionError(f"{source}: ffmpeg could not convert it to wav: {reason}")


def convert_to_wav(sources: dict[str, Path], out_dir: str | os.PathLike,
                   nj: int = 1) -> dict[str, Path]:
    """Key -> ``out_dir/<key>.wav`` (absolute) for every key of ``sources``.

    Copies not yet there are made by ``nj`` ffmpeg processes at once, with a progress bar on
    stderr. The first failure stops the conversion with a ``ConversionError`` naming the source.
    """
    out_dir = Path(out_dir).resolve()
    targets = {key: out_dir / f"{key}.wav" for key in sources}
    todo = [key for key in sources if not targets[key].is_file()]
    if not todo:
        return targets
    pool = ThreadPoolExecutor(max(1, nj))
    try:
        with tqdm(total=len(todo), desc="convert to wav", unit="utt", file=sys.stderr,
                  mininterval=1.0) as bar:
            for _ in pool.map(lambda key: convert_one(sources[key], targets[key]), todo):
                bar.update()
    finally:
        # After a failure, the conversions not started yet are not worth waiting for.
        pool.shutdown(cancel_futures=True)
    return targets
