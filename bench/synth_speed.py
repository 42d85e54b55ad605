"""Synthetic corpus generation speed: seconds of audio-video generated per wall second.

Runs the real generator on a small VoxCeleb2-style set with nj=1 and nj=2, then times each
component of one track (voice, channel, face rendering, encoding) to show where time goes.
Usage: python -m bench.synth_speed [--size 224]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from xmodal.synth import corpus
from xmodal.synth.media import FPS, write_track


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--speakers", type=int, default=6)
    args = parser.parse_args()
    spec = corpus.CorpusSpec(size=args.size, vox2_dev_speakers=args.speakers, vox2_test_speakers=0,
                             vox1_dev_speakers=args.speakers, vox1_test_speakers=0,
                             videos_per_speaker=2, utts_per_video=2)
    rates = {}
    for nj in (1, 2):
        with tempfile.TemporaryDirectory() as root:
            summary, wall = timed(corpus.generate_corpus, spec, root, nj=nj)
            av_s = summary["pools"]["vox2_dev"]["hours"] * 3600
            audio_s = summary["pools"]["vox1_dev"]["hours"] * 3600
            rates[nj] = (av_s + audio_s) / wall
            print(f"nj={nj}: {av_s:.0f} s audio-video + {audio_s:.0f} s audio-only in {wall:.1f} s "
                  f"-> {rates[nj]:.2f} s generated per wall second")
    print(f"parallel speed-up nj=2 / nj=1: {rates[2] / rates[1]:.2f}x")

    # Component breakdown for a single audio-video track, in this process.
    _, jobs = corpus.plan_jobs(spec, Path("/nonexistent"))
    job = jobs[0]
    rng = np.random.default_rng(0)
    words = "the team said the final score was great today".split()
    speech, t_voice = timed(corpus.speak, " ".join(words), job.identity.voice,
                            corpus.EMOTIONS["happy"], rng)
    n_frames = int(np.ceil(len(speech.audio) / 640))
    audio = np.zeros(n_frames * 640, np.float32)
    audio[:len(speech.audio)] = speech.audio
    _, t_channel = timed(corpus.apply_channel, audio, job.video.channel, seed=0)
    mouth = corpus.mouth_track(speech.phones, n_frames, FPS, 0.0)
    frames, t_render = timed(corpus.render_frames, job.identity.face, job.video.scene, mouth,
                             corpus.EMOTIONS["happy"], rng, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        _, t_encode = timed(write_track, Path(tmp) / "a.mp4", Path(tmp) / "a.m4a", frames, audio)
    total = t_voice + t_channel + t_render + t_encode
    seconds = len(audio) / 16000
    print(f"one {seconds:.2f} s track at {args.size}x{args.size}: " + ", ".join(
        f"{name} {t / total:.0%} ({seconds / t:.0f}x real time)" for name, t in
        (("voice", t_voice), ("channel", t_channel), ("render", t_render), ("encode", t_encode))))


if __name__ == "__main__":
    main()
