"""Stage 2 dump throughput vs decoding the same media and nothing else.

Usage: python -m bench.dump_speed [--data-dir DIR] [--speakers 8] [--sizes 48 224] [--repeats 5]

Both sides run in this process, interleaved, on the same utterances, and are given as seconds
of media per second of wall time and of CPU time (this process and its children; best of
``--repeats``). On a machine shared with other work the CPU-time ratio is the steadier one:

    dump          ``xmodal.data.dump.dump_data_dir`` (one job, one torch thread, as
                  ``xmodal.bin.dump`` runs it): decode, resize, log-mel, checks, ark writes
    decode-only   every video frame decoded by PyAV and converted to an RGB array (the least a
                  consumer of the pixels needs; the same decoder settings as
                  ``xmodal.data.video_io``), plus the m4a decoded to samples, either in-process
                  by PyAV or by an ``ffmpeg`` process writing 16 kHz float32 to a pipe (the
                  Kaldi ``wav.scp`` way)

Ratio = dump rate / decode-only rate with PyAV audio (the faster decode-only), the median over
repeats of a dump and the decode-only run just before it (target >= 0.8x: the dump adds little
to the decoding it cannot avoid). Without ``--data-dir`` a synthetic corpus of 224 px
tracks is made (about 10 s).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from bench import _tiny
from xmodal.data.datadir import read_table
from xmodal.data.dump import DumpConfig, dump_data_dir
from xmodal.data.features import SAMPLE_RATE, VIDEO_FPS


def decode_video(path: str) -> int:
    """Decode every frame of ``path`` to an RGB array; the number of frames."""
    frames = 0
    with av.open(path) as container:
        for frame in container.decode(container.streams.video[0]):
            frame.to_ndarray(format="rgb24")
            frames += 1
    return frames


def decode_audio_pyav(path: str) -> int:
    """Decode the first audio stream of ``path`` in-process; the number of samples."""
    samples = 0
    with av.open(path) as container:
        for frame in container.decode(container.streams.audio[0]):
            samples += frame.to_ndarray().shape[-1]
    return samples


def decode_audio_ffmpeg(path: str) -> int:
    """Decode ``path`` with an ffmpeg process to 16 kHz mono float32 on a pipe; the samples."""
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "f32le",
                          "-ac", "1", "-ar", str(SAMPLE_RATE), "-"],
                         check=True, capture_output=True).stdout
    return len(out) // 4


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished child processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of ``fn()``; CPU time hardly depends on what else the machine runs."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def best(times: list[tuple[float, float]]) -> tuple[float, float]:
    """Best wall and best CPU time of several runs."""
    return min(t[0] for t in times), min(t[1] for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _tiny.add_data_options(parser, speakers=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 224],
                        help="dump face sizes (mini, paper)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as xmodal.bin.dump
    cwd = os.getcwd()  # a --data-dir's relative media paths need its recipe dir (subset)
    with tempfile.TemporaryDirectory(prefix="dump_speed.") as tmp:
        tmp = Path(tmp)
        data_dir = _tiny.data_dir_from_options(args, tmp)
        videos = list(read_table(data_dir / "video.scp").values())
        audios = list(read_table(data_dir / "wav.scp").values())
        frames = sum(decode_video(v) for v in videos)
        seconds = frames / VIDEO_FPS
        with av.open(videos[0]) as container:
            size = container.streams.video[0].codec_context.width
        print(f"{len(videos)} utterances, {seconds:.0f} s of {size} px video and its audio; "
              f"rates in media seconds per wall (CPU) second, best of {args.repeats}")

        def decode_only(audio) -> None:
            for video, wav in zip(videos, audios):
                decode_video(video)
                audio(wav)

        def dump(face_size: int) -> None:
            with contextlib.redirect_stderr(io.StringIO()):  # tqdm's progress bar
                dump_data_dir(data_dir, tmp / f"dump{face_size}", 1,
                              DumpConfig(face_size=face_size))

        def pyav() -> None:
            decode_only(decode_audio_pyav)

        runs: dict[str, list[tuple[float, float]]] = {"ffmpeg": []}
        runs.update({f"decode {size}": [] for size in args.sizes})
        runs.update({f"dump {size}": [] for size in args.sizes})
        for repeat in range(args.repeats):
            runs["ffmpeg"].append(timed(lambda: decode_only(decode_audio_ffmpeg)))
            for size in args.sizes:
                # Each dump right after its own decode-only run: a pair sees the same load.
                runs[f"decode {size}"].append(timed(pyav))
                runs[f"dump {size}"].append(timed(lambda: dump(size)))
                # A real dump writes into an empty dir: the last run's arks go, untimed.
                if repeat < args.repeats - 1:
                    shutil.rmtree(tmp / f"dump{size}")
        decode = best(sum((runs[f"decode {size}"] for size in args.sizes), []))
        ffmpeg = best(runs["ffmpeg"])
        print(f"decode-only: {seconds / decode[0]:.1f}x with PyAV audio, "
              f"{seconds / ffmpeg[0]:.1f}x with an ffmpeg process per m4a "
              f"(CPU: {seconds / decode[1]:.1f}x, {seconds / ffmpeg[1]:.1f}x)")
        for size in args.sizes:
            wall, cpu = best(runs[f"dump {size}"])
            pairs = list(zip(runs[f"decode {size}"], runs[f"dump {size}"]))
            ratio = [float(np.median([d[i] / m[i] for d, m in pairs])) for i in (0, 1)]
            faces = os.path.getsize(tmp / f"dump{size}" / "faces.1.ark")
            print(f"dump at {size} px: {seconds / wall:.1f}x real time "
                  f"(CPU: {seconds / cpu:.1f}x), {faces / seconds / 1e3:.0f} kB/s of faces; "
                  f"ratio dump / decode-only "
                  f"{ratio[0]:.2f}x wall, {ratio[1]:.2f}x CPU (target >= 0.8x)")
        os.chdir(cwd)


if __name__ == "__main__":
    main()
