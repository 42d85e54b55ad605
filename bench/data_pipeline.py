"""Face storage at VoxCeleb2 scale: bytes per second of video vs windows/s per core.

Usage: python -m bench.data_pipeline [--data-dir DIR] [--speakers 16] [--windows 48]
           [--repeats 2] [--jpeg-quality 90] [--peak-tflops 989] [--mfu 0.4]

For each way of storing the face frames of a face-track: its size per second of video
(computed from dtype and shape, and checked against arks dumped here by ``xmodal.bin.dump``),
the total for the VoxCeleb2 dev set and for a 20% subset of it, and how many random 30-frame
training windows one core turns into the paper model's input (30 x 224 x 224 x 3 uint8) per
second. The windows are those ``TrackBatchSampler`` draws: a uniform track, a uniform start.

    raw 224 / whole track   a raw dump (``face_format: raw``: uint8 RGB faces in a kaldiio
                            numpy ark) read as ``TrackWindowDataset`` did before it read
                            windows: the whole track, then the window sliced out
    raw 48, 224 / loader    the same arks read by ``TrackWindowDataset`` (the window's face
                            bytes only, ``xmodal.data.npy_ark.read_npy_window``, and the
                            window's log-mel, < 2% of the bytes; the other rows read faces only)
    uint8 112 (+ resize)    faces dumped at 112 px: read as is (a model at 112 px) or
                            resized to 224 px per frame (the paper model unchanged)
    JPEG 224 q90 / loader   a ``face_format: jpeg`` dump (one JPEG per frame, OpenCV's
                            libjpeg-turbo, ``xmodal.data.face_store``) read by
                            ``TrackWindowDataset``: the window's JPEG streams, decoded
    mp4 224 on the fly      the source mp4 decoded with PyAV on one thread up to the window's
                            end (one keyframe per face-track, as x264 writes a short track)

Every format keeps the log-mel dump for the audio (16 KB per second of video). The rates are
compared with the samples/s one GPU consumes (``bench.train_speed``: step FLOPs of the paper
config from ``FlopCounterMode`` / (peak x MFU)): cores per GPU = that / windows/s per core.
Without ``--data-dir`` a synthetic corpus of 224 px tracks is made (about 15 s). Its frames
are simpler than real faces, so compressed sizes (JPEG, mp4) are also given for a real photo
(matplotlib's sample portrait, cropped to a face) and for the VoxCeleb2 mp4 download.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import cv2
import kaldiio
import matplotlib
import numpy as np
import torch

from bench import _tiny
from bench.train_speed import CONF_DIRS, flops_per_sample
from xmodal.config import load_config
from xmodal.data.datadir import read_table
from xmodal.data.features import FEATS_PER_VIDEO_FRAME, VIDEO_FPS
from xmodal.data.npy_ark import read_npy_window
from xmodal.data.track_windows import TrackWindowDataset
from xmodal.methods.cross_modal import CrossModalConfig

# VoxCeleb2 (Chung, Nagrani, Zisserman, "VoxCeleb2: Deep Speaker Recognition", Interspeech
# 2018, arXiv:1806.05622, dataset statistics): 6,112 speakers, 1,128,246 utterances, 2,442
# hours in all; the dev split has 5,994 speakers and 1,092,009 utterances. The paper gives no
# per-split hours: 2,360.2 h dev + 79.9 h test is the sum of the utterance durations as listed
# by PaddleSpeech (examples/voxceleb/README.md), consistent with the 2,442 h total (and with
# 2,442 h x 1,092,009 / 1,128,246 = 2,364 h).
VOX2_DEV_HOURS = 2360.2
VOX2_DEV_UTTERANCES = 1_092_009
# The 20% subset of the dev set planned for the paper-size runs (the fraction is the plan's;
# it is not confirmed here from the paper's text).
SUBSET = 0.2
# The VoxCeleb2 dev mp4 download (H.264 224x224 face-tracks with AAC audio) as mirrored in
# nine parts on the Hugging Face hub (ProgramComputer/voxceleb, vox2/vox2_dev_mp4_parta[a-i]):
# 8 x 32.2 GB + 9.26 GB.
VOX2_DEV_MP4_BYTES = (8 * 32.2 + 9.26) * 1e9
WINDOW = 30
PAPER_SIZE = 224
LOGMEL_BYTES_PER_S = FEATS_PER_VIDEO_FRAME * VIDEO_FPS * 40 * 4  # float32, 40 mel bins


@dataclass
class Track:
    """One face-track: its dumped faces at each size, its mp4, its JPEG frames."""

    key: str
    frames: int
    mp4: str
    faces: dict[int, str]   # face size -> the raw dump's faces.scp entry (ark:offset)
    jpegs: list[bytes]      # only for the portrait (a real face): its JPEG frames


def load_tracks(dumps: dict[int, Path], data_dir: Path) -> list[Track]:
    """The tracks of the dumps (same utterances at every size), longer than one window."""
    video = read_table(data_dir / "video.scp")
    num_frames = read_table(dumps[PAPER_SIZE] / "utt2num_frames")
    scps = {size: read_table(d / "faces.scp") for size, d in dumps.items()}
    tracks = []
    for key, frames in num_frames.items():
        if int(frames) < WINDOW:
            continue
        faces = {size: scp[key] for size, scp in scps.items()}
        # Absolute: the relative paths of a recipe's video.scp hold in its directory only.
        tracks.append(Track(key, int(frames), os.path.abspath(video[key]), faces, []))
    return tracks


def jpeg_encode(frame: np.ndarray, quality: int) -> bytes:
    """An RGB frame as JPEG bytes (4:2:0, as libjpeg's default)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def jpeg_window(track: Track, start: int) -> np.ndarray:
    return np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR),
                                  cv2.COLOR_BGR2RGB)
                     for b in track.jpegs[start:start + WINDOW]])


def mp4_window(track: Track, start: int) -> np.ndarray:
    """Decode the track's mp4 on one thread up to the window's end; keep the window."""
    frames = []
    with av.open(track.mp4) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for index, frame in enumerate(container.decode(stream)):
            if index >= start:
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == WINDOW:
                    break
    return np.stack(frames)


def upsampled(window: np.ndarray) -> np.ndarray:
    return np.stack([cv2.resize(f, (PAPER_SIZE, PAPER_SIZE), interpolation=cv2.INTER_LINEAR)
                     for f in window])


def windows_per_s(read: Callable[[Track, int], np.ndarray], windows: list[tuple[Track, int]],
                  repeats: int) -> float:
    """Best rate over ``repeats`` passes over the same windows, after one warm-up read."""
    read(*windows[0])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for track, first in windows:
            read(track, first)
        best = min(best, time.perf_counter() - start)
    return len(windows) / best


def portrait_jpeg(quality: int) -> bytes:
    """A real face as JPEG: matplotlib's sample portrait cropped to the face, at 224 px."""
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    # The face occupies roughly rows 60-380, columns 90-410 of the 512x600 portrait.
    face = cv2.resize(image[60:380, 90:410], (PAPER_SIZE, PAPER_SIZE),
                      interpolation=cv2.INTER_AREA)
    return jpeg_encode(face, quality)


def measured_bytes_per_s(dump_dir: Path, scps: tuple[str, ...] = ("faces.scp", "feats.scp")
                         ) -> float:
    """Bytes of the dump's arks named in ``scps`` per second of dumped video."""
    arks = {v.rsplit(":", 1)[0] for name in scps for v in read_table(dump_dir / name).values()}
    frames = sum(int(n) for n in read_table(dump_dir / "utt2num_frames").values())
    return sum(os.path.getsize(a) for a in arks) / (frames / VIDEO_FPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _tiny.add_data_options(parser, speakers=16)
    parser.add_argument("--windows", type=int, default=48, help="random windows per format")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="GPU dense bf16 peak (H100 SXM: 989)")
    parser.add_argument("--mfu", type=float, default=0.4, help="assumed model FLOP utilisation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # Rates per core: one thread everywhere (OpenCV, torch, the decoder).
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    paper_cfg = load_config(CONF_DIRS["paper"] / "ssl_id_content.yaml", CrossModalConfig)
    gpu_rate = args.peak_tflops * 1e12 * args.mfu / flops_per_sample(paper_cfg)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="data_pipeline.") as tmp:
        tmp = Path(tmp)
        data_dir = _tiny.data_dir_from_options(args, tmp, size=PAPER_SIZE)
        dumps = {size: _tiny.dump(data_dir, tmp / "dump" / str(size), size)
                 for size in (48, 112, PAPER_SIZE)}
        jpeg_dump = _tiny.dump(data_dir, tmp / "dump" / "jpeg", PAPER_SIZE, "jpeg",
                               args.jpeg_quality)
        tracks = load_tracks(dumps, data_dir)
        os.chdir(cwd)
        dataset = TrackWindowDataset(dumps[PAPER_SIZE], WINDOW)
        jpeg_dataset = TrackWindowDataset(jpeg_dump, WINDOW)
        index = {key: i for i, key in enumerate(dataset.keys)}
        rng = np.random.default_rng(args.seed)
        windows = [(track, int(rng.integers(0, track.frames - WINDOW + 1)))
                   for track in (tracks[i] for i in rng.integers(0, len(tracks), args.windows))]

        def raw(size: int) -> Callable[[Track, int], np.ndarray]:
            return lambda track, start: read_npy_window(track.faces[size], start, WINDOW)

        seconds = sum(t.frames for t in tracks) / VIDEO_FPS
        mp4_bytes = sum(os.path.getsize(t.mp4) for t in tracks)
        jpeg_bps = measured_bytes_per_s(jpeg_dump, ("faces.scp",))
        portrait = Track("portrait", WINDOW, "", {}, [portrait_jpeg(args.jpeg_quality)] * WINDOW)
        raw_bytes = {size: size * size * 3 * VIDEO_FPS for size in dumps}
        dev_s = VOX2_DEV_HOURS * 3600
        quality = f"q{args.jpeg_quality}"
        formats = [  # name, bytes of faces per second of video, window reader
            ("raw 48 / loader (mini)", raw_bytes[48], None),
            ("raw 224 / whole track", raw_bytes[PAPER_SIZE],
             lambda track, start: kaldiio.load_mat(track.faces[PAPER_SIZE])[start:start + WINDOW]),
            ("raw 224 / loader", raw_bytes[PAPER_SIZE],
             lambda track, start: dataset[(index[track.key], start)]),
            ("uint8 112 (model at 112)", raw_bytes[112], raw(112)),
            ("uint8 112 + resize 224", raw_bytes[112], lambda t, s: upsampled(raw(112)(t, s))),
            (f"JPEG 224 {quality} / loader", jpeg_bps,
             lambda track, start: jpeg_dataset[(index[track.key], start)]),
            (f"JPEG 224 {quality} real face", len(portrait.jpegs[0]) * VIDEO_FPS,
             lambda track, start: jpeg_window(portrait, 0)),
            ("mp4 224 on the fly", mp4_bytes / seconds, mp4_window),
            ("mp4 VoxCeleb2 download", VOX2_DEV_MP4_BYTES / dev_s, None),
        ]
        mean_start = np.mean([start for _, start in windows])
        with av.open(tracks[0].mp4) as container:
            width = container.streams.video[0].codec_context.width
        print(f"{len(tracks)} tracks, {seconds:.0f} s of {width} px video in {data_dir}; "
              f"{len(windows)} random {WINDOW}-frame windows (mean start frame {mean_start:.0f})"
              f", one thread")
        for size, dump_dir in dumps.items():
            computed = raw_bytes[size] + LOGMEL_BYTES_PER_S
            print(f"dump at {size} px: {computed / 1e3:.1f} kB/s computed ({size}x{size}x3 uint8 "
                  f"x {VIDEO_FPS} fps + {LOGMEL_BYTES_PER_S / 1e3:.0f} kB/s log-mel), "
                  f"{measured_bytes_per_s(dump_dir) / 1e3:.1f} kB/s measured on the arks")
        print(f"JPEG {quality} dump at {PAPER_SIZE} px: {jpeg_bps / 1e3:.1f} kB/s of faces "
              f"measured on the arks ({raw_bytes[PAPER_SIZE] / jpeg_bps:.1f}x smaller than raw)")
        print(f"\nVoxCeleb2 dev: {VOX2_DEV_HOURS:g} h, {VOX2_DEV_UTTERANCES} tracks; "
              f"{SUBSET:.0%} subset: {VOX2_DEV_HOURS * SUBSET:g} h. One GPU consumes "
              f"{gpu_rate:.0f} samples/s ({args.peak_tflops:g} TFLOP/s x {args.mfu:.0%} MFU). "
              f"Sizes include the {LOGMEL_BYTES_PER_S / 1e3:.0f} kB/s log-mel dump.")
        print(f"{'format':28s} {'kB/s':>7s} {'dev TB':>7s} {'20% TB':>7s} {'win/s/core':>10s} "
              f"{'cores/GPU':>9s}")
        for name, face_bps, read in formats:
            total = face_bps + LOGMEL_BYTES_PER_S
            if read is None:
                speed = f"{'-':>10s} {'-':>9s}"
            else:
                rate = windows_per_s(read, windows, args.repeats)
                speed = f"{rate:10.1f} {gpu_rate / rate:9.1f}"
            print(f"{name:28s} {total / 1e3:7.1f} {total * dev_s / 1e12:7.2f} "
                  f"{total * dev_s * SUBSET / 1e12:7.2f} {speed}")

    frames_per_track = dev_s / VOX2_DEV_UTTERANCES * VIDEO_FPS
    frame_bytes = PAPER_SIZE * PAPER_SIZE * 3
    print(f"Reads per GPU: raw 224 windows {gpu_rate * WINDOW * frame_bytes / 1e9:.1f} GB/s; "
          f"whole tracks, as the loader read them before it read windows "
          f"({frames_per_track:.0f} frames on average in VoxCeleb2 dev): "
          f"{gpu_rate * frames_per_track * frame_bytes / 1e9:.0f} GB/s; JPEG windows of real "
          f"faces {gpu_rate * WINDOW * len(portrait.jpegs[0]) / 1e9:.1f} GB/s.")
    print("Rule: raw uint8 faces only while the whole dump fits in the page cache (random "
          "windows from disk need the GB/s above); otherwise the smallest format whose "
          "cores/GPU the host can give (face_format: jpeg at 224 for the paper model); mp4 on "
          "the fly only when disk, not CPU, is short: its cost grows with track length.")

if __name__ == "__main__":
    main()
