"""The synthetic talking-heads corpus: identities, videos and utterances, generated in parallel.

Every identity has latent attributes (gender, age, accent, home topic) that drive both its voice
and its face. Every video has its own recording channel and visual scene; every utterance its
sentence and emotion. Each unit of work derives its random state from the corpus seed
and its own address, so the bytes written do not depend on ``nj`` or on the order of work.
Every utterance has an emotion (``xmodal.synth.emotion``), balanced over eight by default,
shown in voice and face together as a change from the speaker's own neutral rendition.
"""
from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from xmodal.atomic import write_text_atomic
from xmodal.synth import espeak, layout
from xmodal.synth.channel import ChannelParams, apply_channel, sample_channel
from xmodal.synth.coupling import AGE_RANGE, Latents, couple
from xmodal.synth.face import FaceParams, SceneParams, render_frames, sample_face, sample_scene
from xmodal.synth.generation_marker import begin_generation, finished_summary
from xmodal.synth.lexicon import TOPIC_NAMES, sample_sentence
from xmodal.synth.media import (FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, FaceTrack, write_tracks,
                                write_wav)
from xmodal.synth.emotion import (EMOTION_NAMES, EMOTIONS, EXPRESSIVENESS_RANGE, INTENSITIES,
                                   NEUTRAL, Emotion)
from xmodal.synth.viseme import mouth_track
from xmodal.synth.voice import ACCENTS, VoiceParams, sample_voice, speak


# Face-tracks encoded by one ffmpeg process (its start-up costs more than a short track).
TRACKS_PER_ENCODE = 8


@dataclass(frozen=True)
class CorpusSpec:
    """Everything that determines the corpus' bytes (recorded in ``corpus.json``)."""

    seed: int = 0
    size: int = 224
    vox2_dev_speakers: int = 40
    vox2_test_speakers: int = 12
    vox1_dev_speakers: int = 40
    vox1_test_speakers: int = 12
    videos_per_speaker: int = 3
    # Videos per VoxCeleb2-dev (SSL training) identity; 0: videos_per_speaker. For a fixed
    # number of utterances, more identities with fewer videos each is what the cross-modal
    # identity task generalises from (README, "The mini recipe's results").
    vox2_dev_videos: int = 0
    utts_per_video: int = 2
    # The VoxCeleb1-style (audio-only, speaker) pools' videos per speaker and utterances per
    # video; 0: videos_per_speaker and utts_per_video. Audio is cheap: these sets can be
    # large enough for verification trials to separate systems.
    vox1_videos: int = 0
    vox1_utts_per_video: int = 0
    min_words: int = 6
    max_words: int = 10
    topic_bias: float = 0.0
    test_topic_bias: float = 0.0
    # Share of utterances whose emotion is drawn uniformly from all eight (neutral among
    # them: 1 gives balanced emotions); the rest are neutral.
    emotion_prob: float = 1.0
    av_offset_ms: float = 0.0
    trials_per_utt: int = 4
    # How strongly faces and voices share identity traits (xmodal.synth.coupling): 1 = a
    # face shows the person whose voice it has, 0 = faces say nothing about voices.
    coupling: float = 1.0

    def __post_init__(self) -> None:
        for name in ("topic_bias", "test_topic_bias", "emotion_prob", "coupling"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 16 <= self.size <= 1024:
            raise ValueError(f"size must be in [16, 1024], got {self.size}")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError(f"need 1 <= min_words <= max_words, got {self.min_words}, {self.max_words}")
        if self.videos_per_speaker < 1 or self.utts_per_video < 1:
            raise ValueError("need videos_per_speaker >= 1 and utts_per_video >= 1")
        for name in ("vox2_dev_videos", "vox1_videos", "vox1_utts_per_video"):
            if getattr(self, name) < 0:
                raise ValueError(f"need {name} >= 0 (0: the general setting)")
        if self.vox1_test_speakers and self.videos("vox1_test") < 2:
            raise ValueError("target trials need at least 2 videos per speaker")
        if self.vox1_test_speakers == 1:
            raise ValueError("non-target trials need at least 2 test speakers")

    def speakers(self, pool: str) -> int:
        """Number of identities in ``pool``."""
        return getattr(self, f"{pool}_speakers")

    def videos(self, pool: str) -> int:
        """Number of videos of each identity of ``pool``."""
        own = {"vox2_dev": self.vox2_dev_videos, "vox1_dev": self.vox1_videos,
               "vox1_test": self.vox1_videos}.get(pool, 0)
        return own or self.videos_per_speaker

    def utts(self, pool: str) -> int:
        """Number of utterances of each video of ``pool``."""
        return (self.vox1_utts_per_video if pool.startswith("vox1") else 0) or self.utts_per_video


@dataclass(frozen=True)
class Identity:
    """A synthetic person: latent attributes and the voice and face they produce."""

    spk: str
    pool: str
    gender: str
    age: float
    accent: str
    topic: int
    traits: tuple[float, ...]  # the voice's traits; the face's are in face_latents
    face_latents: Latents      # what the face is drawn from (coupled to the voice's latents)
    voice: VoiceParams
    face: FaceParams
    expressiveness: float      # scales every emotion's change, in voice and face alike


@dataclass(frozen=True)
class Video:
    """One source video of an identity: its recording channel and visual scene."""

    ytid: str
    channel: ChannelParams
    scene: SceneParams


@dataclass(frozen=True)
class TrackJob:
    """All a worker needs to synthesise and write one utterance."""

    root: str
    spec: CorpusSpec
    identity: Identity
    video: Video
    track: layout.Track
    seed: tuple[int, ...]


def _rng(*address: int) -> np.random.Generator:
    """The stream of one address. Trailing zeros do not change it ([a, b] and [a, b, 0] are
    one stream): an address of its own must differ in a non-zero word."""
    return np.random.default_rng(np.random.SeedSequence(list(address)))


def sample_identity(spec: CorpusSpec, pool: str, index: int,
                    address: int | None = None) -> Identity:
    """The ``index``-th identity of ``pool``: latents first, the face's latents coupled to
    them by ``spec.coupling``, then the voice and the face.

    ``address`` seeds a pool outside ``layout.POOLS`` (the downstream corpora of
    ``xmodal.synth.downstream_corpora``) from a number of its own; its identities are named
    ``<pool>-<index>`` until their corpus names them."""
    space = layout.POOLS.index(pool) if address is None else address
    rng = _rng(spec.seed, space, index)
    gender = "m" if rng.random() < 0.5 else "f"
    age = float(rng.uniform(*AGE_RANGE))
    accent = ACCENTS[rng.integers(len(ACCENTS))]
    topic = int(rng.integers(len(TOPIC_NAMES)))
    traits = tuple(round(float(t), 4) for t in rng.standard_normal(4))
    face = couple(rng, Latents(gender, age, accent, traits), spec.coupling, ACCENTS)
    voice = sample_voice(rng, gender, age, accent, np.array(traits))
    looks = sample_face(rng, face.gender, face.age, face.accent, np.array(face.traits))
    # The neutral voice's level and breathiness differ between people as much as emotions
    # move them. A stream of their own (videos use 1, 2, ...): the rest of the identity is
    # as it was before emotions, and the face's coupling cannot change the voice. Not
    # (..., index, 0): SeedSequence pads with zeros, so that would be the identity's own
    # stream again.
    own = _rng(spec.seed, space, index, 0, 1)
    voice = dataclasses.replace(voice, level_db=float(own.uniform(-4.0, 4.0)),
                                breathiness=float(own.uniform(0.0, 0.15)))
    spk = layout.speaker_id(pool, index) if address is None else f"{pool}-{index}"
    return Identity(spk, pool, gender, age, accent, topic, traits,
                    face, voice, looks, float(own.uniform(*EXPRESSIVENESS_RANGE)))


def plan_jobs(spec: CorpusSpec, root: Path) -> tuple[list[Identity], list[TrackJob]]:
    """All identities and one job per utterance, in a fixed order."""
    identities, jobs = [], []
    for pool_index, pool in enumerate(layout.POOLS):
        for i in range(spec.speakers(pool)):
            ident = sample_identity(spec, pool, i)
            identities.append(ident)
            for v in range(spec.videos(pool)):
                vrng = _rng(spec.seed, pool_index, i, 1 + v)
                video = Video(layout.make_ytid(vrng), sample_channel(vrng), sample_scene(vrng))
                for u in range(spec.utts(pool)):
                    track = layout.Track(pool, ident.spk, video.ytid, u + 1)
                    jobs.append(TrackJob(str(root), spec, ident, video, track,
                                         (spec.seed, pool_index, i, 1 + v, 1 + u)))
    return identities, jobs


@dataclass
class TrackResult:
    """What a written utterance contributes to the annotation files."""

    key: str
    pool: str
    seconds: float
    text: str
    phones: list[str]
    words: list[str]
    factors: dict


def _flatten(prefix: str, params) -> dict:
    return {f"{prefix}_{k}": v for k, v in dataclasses.asdict(params).items()}


def generate_tracks(jobs: list[TrackJob]) -> list[TrackResult]:
    """Synthesise and write some utterances; their face-tracks share one encoder process."""
    results, faces = [], []
    for job in jobs:
        result, face = synthesize_track(job)
        results.append(result)
        if face is not None:
            faces.append(face)
    write_tracks(faces)
    return results


@dataclass
class Performance:
    """One utterance as performed: audio on the video's channel, lead-in and tail silence
    included, its phone and word intervals (seconds), and its face frames if rendered."""

    audio: np.ndarray
    phones: list[tuple[float, float, str]]
    words: list[tuple[float, float, str]]
    frames: np.ndarray | None
    n_frames: int


def perform(ident: Identity, video: Video, words: list[str], emotion: Emotion,
            rng: np.random.Generator, size: int | None, av_offset_ms: float = 0.0) -> Performance:
    """``ident`` says ``words`` in ``video`` with ``emotion`` (scaled already): the voice, the
    channel and, if ``size``, the face frames in sync with the audio."""
    speech = speak(" ".join(words), ident.voice, emotion, rng)
    # Lead-in silence, then pad so the audio lasts a whole number of video frames.
    lead = int(rng.uniform(0.1, 0.35) * SAMPLE_RATE)
    n_frames = math.ceil((lead + len(speech.audio) + 0.15 * SAMPLE_RATE) / SAMPLES_PER_FRAME)
    audio = np.zeros(n_frames * SAMPLES_PER_FRAME, dtype=np.float32)
    audio[lead:lead + len(speech.audio)] = speech.audio
    audio = apply_channel(audio, video.channel, seed=int(rng.integers(2**31)))
    t0 = lead / SAMPLE_RATE
    phones = [(s + t0, e + t0, p) for s, e, p in speech.phones]
    spoken = [(s + t0, e + t0, w) for s, e, w in speech.words]
    frames = None
    if size:
        mouth = mouth_track(phones, n_frames, FPS, av_offset_ms / 1000.0)
        frames = render_frames(ident.face, video.scene, mouth, emotion, rng, size)
    return Performance(audio, phones, spoken, frames, n_frames)


def sample_emotion(spec: CorpusSpec, rng: np.random.Generator) -> tuple[str, float]:
    """An utterance's emotion and intensity (neutral: intensity 0)."""
    if rng.random() >= spec.emotion_prob:
        return NEUTRAL.name, 0.0
    name = EMOTION_NAMES[int(rng.integers(len(EMOTION_NAMES)))]
    intensity = float(INTENSITIES[int(rng.integers(len(INTENSITIES)))])
    return name, 0.0 if name == NEUTRAL.name else intensity


def synthesize_track(job: TrackJob) -> tuple[TrackResult, FaceTrack | None]:
    """Synthesise one utterance: voice, channel and, for the VoxCeleb2 sets, the face video.

    A VoxCeleb1-style utterance is written here (wav); a face-track is returned to be encoded
    (``media.write_tracks``), its ``txt`` written already."""
    spec, ident, track = job.spec, job.identity, job.track
    rng = _rng(*job.seed)
    bias = spec.topic_bias if track.pool.endswith("dev") else spec.test_topic_bias
    words = sample_sentence(rng, ident.topic, bias, int(rng.integers(spec.min_words, spec.max_words + 1)))
    emotion, intensity = sample_emotion(spec, rng)
    paths = track.paths(Path(job.root))
    shown = EMOTIONS[emotion].at(intensity * ident.expressiveness)
    done = perform(ident, job.video, words, shown, rng, spec.size if "mp4" in paths else None,
                   spec.av_offset_ms)
    if done.frames is not None:
        face = FaceTrack(paths["mp4"], paths["aac"], done.frames, done.audio)
        offset_frames = round(spec.av_offset_ms / 1000.0 * FPS)
        write_text_atomic(paths["txt"], layout.track_txt(track, done.n_frames, offset_frames))
    else:
        face = None
        write_wav(paths["wav"], done.audio)

    factors = {"utt": track.key, "pool": track.pool, "spk": ident.spk, "gender": ident.gender,
               "age": round(ident.age, 1), "accent": ident.accent,
               **{f"trait{i}": t for i, t in enumerate(ident.traits)},
               "face_gender": ident.face_latents.gender,
               "face_age": round(ident.face_latents.age, 1),
               "face_accent": ident.face_latents.accent,
               **{f"face_trait{i}": t for i, t in enumerate(ident.face_latents.traits)},
               "topic": TOPIC_NAMES[ident.topic], "emotion": emotion,
               "emotion_intensity": intensity,
               "expressiveness": round(ident.expressiveness, 3), "ytid": track.ytid,
               **_flatten("voice", ident.voice), **_flatten("channel", job.video.channel),
               **_flatten("scene", job.video.scene)}
    return TrackResult(
        key=track.key, pool=track.pool, seconds=len(done.audio) / SAMPLE_RATE,
        text=f"{track.key} {' '.join(w.upper() for w in words)}",
        phones=[f"{track.key} 1 {s:.3f} {e - s:.3f} {p}" for s, e, p in done.phones],
        words=[f"{track.key} 1 {s:.3f} {e - s:.3f} {w.upper()}" for s, e, w in done.words],
        factors=factors), face


def _factor_lines(results: list[TrackResult]) -> list[str]:
    columns = list(results[0].factors)
    return ["\t".join(columns)] + ["\t".join(str(r.factors[c]) for c in columns) for r in results]


def _spec_json(spec: CorpusSpec) -> dict:
    return dataclasses.asdict(spec)


def is_generated(root: Path, spec: CorpusSpec) -> bool:
    """True if ``root`` holds a complete corpus generated from exactly ``spec``."""
    return finished_summary(Path(root) / "corpus.json", _spec_json(spec)) is not None


def generate_corpus(spec: CorpusSpec, root: str | Path, nj: int = 1, force: bool = False) -> dict:
    """Generate the corpus under ``root``; return the summary also written to corpus.json.

    ``corpus.json`` is written last and marks completion: a finished corpus with the same
    spec is not generated again, an interrupted one is regenerated from scratch.
    """
    root = Path(root)
    marker = root / "corpus.json"
    finished = begin_generation(root, marker.name, _spec_json(spec),
                                ("voxceleb1", "voxceleb2", "annotations"), "a corpus", force)
    if finished is not None:
        return finished

    start = time.time()
    identities, jobs = plan_jobs(spec, root)
    results: list[TrackResult] = []
    ctx = multiprocessing.get_context("fork")
    # Each worker starts its espeak helper first, while it still runs a single thread.
    # Fixed chunks of consecutive jobs, whatever nj: a track's bytes never depend on nj.
    chunks = [jobs[i:i + TRACKS_PER_ENCODE] for i in range(0, len(jobs), TRACKS_PER_ENCODE)]
    with ctx.Pool(max(1, nj), initializer=espeak.start) as pool, \
            tqdm(total=len(jobs), desc="synth corpus", unit="utt", dynamic_ncols=True) as bar:
        for chunk in pool.imap(generate_tracks, chunks, chunksize=1):
            results += chunk
            bar.update(len(chunk))
    results.sort(key=lambda r: r.key)

    layout.write_vox2_meta(root, [(i.spk, i.gender, i.pool.split("_")[1])
                                  for i in identities if i.pool.startswith("vox2")])
    layout.write_vox1_meta(root, [(i.spk, i.gender, i.accent, i.pool.split("_")[1])
                                  for i in identities if i.pool.startswith("vox1")])
    vox1_tracks = [j.track for j in jobs if j.track.pool.startswith("vox1")]
    n_trials = {}
    if vox1_tracks:
        n_trials = layout.write_vox1_lists(
            root, [t for t in vox1_tracks if t.pool == "vox1_test"], vox1_tracks,
            {i.spk: (i.gender, layout.nationality(i.accent)) for i in identities},
            spec.trials_per_utt, _rng(spec.seed, 99))
    layout.write_annotation(root, "text", [r.text for r in results])
    layout.write_annotation(root, "phones.ctm", [x for r in results for x in r.phones])
    layout.write_annotation(root, "words.ctm", [x for r in results for x in r.words])
    layout.write_annotation(root, "factors.tsv", _factor_lines(results))

    summary = {"spec": _spec_json(spec), "pools": {}, "trials": n_trials,
               "wall_seconds": round(time.time() - start, 1), "nj": nj}
    for pool in layout.POOLS:
        pool_results = [r for r in results if r.pool == pool]
        summary["pools"][pool] = {"speakers": spec.speakers(pool), "utterances": len(pool_results),
                                  "hours": round(sum(r.seconds for r in pool_results) / 3600, 4)}
    # Wall time and nj vary between runs; they live beside the marker, not in it.
    write_text_atomic(root / "generation_log.json", json.dumps(
        {"wall_seconds": summary.pop("wall_seconds"), "nj": summary.pop("nj")}, indent=1) + "\n")
    write_text_atomic(marker, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary
