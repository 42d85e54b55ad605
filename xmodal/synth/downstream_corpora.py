"""Synthetic CREMA-D, RAVDESS and LRW: the downstream tasks' corpora in their download layouts.

Emotion recognition (CREMA-D, RAVDESS) and word recognition (LRW) are how the paper's
representations are evaluated downstream; these synthetic stand-ins are written exactly as the
real downloads unpack, so ``xmodal.data.downstream_prep`` reads them, unchanged, as it reads the
real ones. Their people are new: identities are drawn by the same voice and face samplers as
the VoxCeleb-layout pools of ``xmodal.synth.corpus``, so they look and sound like the rest of
the corpus, but from address spaces of their own (20 and up; the VoxCeleb pools use 0-3), so
no one in a downstream corpus is anyone a model was pre-trained on. Every utterance's emotion
is a change from the speaker's own neutral, scaled by its intensity times the identity's
expressiveness, as in the VoxCeleb pools.

- CREMA-D (``crema_d/``): actors 1001.. speak the 12 sentences with six emotions, IEO at three
  levels (LO/MD/HI: intensity 0.5/1/1.5), the others at XX (1), neutral at XX (0);
  ``AudioWAV/<stem>.wav`` and the face video ``VideoFlash/<stem>.flv`` (H.264 + AAC). Each
  actor says ``crema_utts_per_actor`` of the real corpus' 82 files, emotions balanced.
- RAVDESS (``ravdess/``): actors 01..24 (odd male, even female, as in the real corpus) say two
  statements with eight emotions at normal (1) or strong (1.6) intensity, twice each;
  audio-only ``Actor_AA/03-01-...-AA.wav`` and the same performance as full-AV
  ``Video_Speech_Actor_AA/Actor_AA/01-01-...-AA.mp4``. Each actor says
  ``ravdess_utts_per_actor`` of the real design's 60 files, emotions balanced.
- LRW (``lrw/lipread_mp4/<WORD>/{train,val,test}/<WORD>_<NNNNN>.{mp4,txt}``): 29 frames at
  25 fps (1.16 s) cut from a sentence around one word of ``LRW_VOCABULARY``, centred on the
  word's midpoint (to the nearest frame), with words of the sentence heard and seen on both
  sides. Unlike the real LRW (which does not identify its speakers), train, val and test are
  speaker-disjoint: each split's speakers are drawn from an address space of their own.

Faces are ``size`` pixels square; all audio is 16 kHz (the real RAVDESS wav files are 48 kHz,
which the readers resample to 16 kHz anyway). CREMA-D and RAVDESS are each recorded in one
studio (one channel and scene for all actors); every LRW clip comes from a recording of its
own. ``<corpus>/factors.tsv`` annotates every utterance (speaker, emotion, intensity, what is
said). As for the VoxCeleb pools, every utterance's random state comes from the seed and its
own address, so the bytes do not depend on ``nj``; ``downstream.json``, written last, marks a
complete generation.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from xmodal.atomic import atomic_path, write_text_atomic
from xmodal.synth import espeak, layout
from xmodal.synth.channel import sample_channel
from xmodal.synth.corpus import (TRACKS_PER_ENCODE, CorpusSpec, Identity, Performance, Video,
                                 _rng, perform, sample_emotion, sample_identity)
from xmodal.synth.emotion import EMOTIONS, NEUTRAL
from xmodal.synth.face import sample_scene
from xmodal.synth.generation_marker import begin_generation, finished_summary
from xmodal.synth.lexicon import sample_sentence
from xmodal.synth.media import (FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, _run, h264_aac_options,
                                raw_inputs)
from xmodal.synth.media import write_wav

CORPORA = ("crema_d", "ravdess", "lrw")
MARKER = "downstream.json"

# Address spaces (first element after the seed) of the random streams; the VoxCeleb pools use
# 0-3 and 99. One studio per emotion corpus; LRW speakers and clips per official split.
_CREMA, _RAVDESS, _STUDIO = 20, 21, {"crema_d": 30, "ravdess": 31}
_LRW_SPEAKERS = {"train": 22, "val": 23, "test": 24}
_LRW_CLIPS = {"train": 25, "val": 26, "test": 27}

# ---- CREMA-D: the 12 sentences, six emotions and four level codes of the real corpus.
CREMA_SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting", "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full", "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock", "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket", "ITS": "I think I've seen this before",
    "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
CREMA_EMOTIONS: dict[str, str] = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful",
                                  "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
# IEO is spoken at three levels; the other sentences at an unspecified one (XX).
CREMA_LEVELS: dict[str, float] = {"LO": 0.5, "MD": 1.0, "HI": 1.5, "XX": 1.0}
CREMA_FIRST_ACTOR = 1001
CREMA_MAX_ACTORS = 91

# ---- RAVDESS: speech statements, emotions 01-08 and intensities of the real corpus.
RAVDESS_STATEMENTS: dict[str, str] = {"01": "Kids are talking by the door",
                                      "02": "Dogs are sitting by the door"}
RAVDESS_EMOTIONS: dict[str, str] = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad",
                                    "05": "angry", "06": "fearful", "07": "disgust",
                                    "08": "surprised"}
RAVDESS_INTENSITIES: dict[str, float] = {"01": 1.0, "02": 1.6}
RAVDESS_MAX_ACTORS = 24

# ---- LRW: ordinary words of one to three syllables that espeak-ng says well (all in the real
# LRW's 500), in alphabetical order as there; a spec uses the first ``lrw_words``.
LRW_VOCABULARY: tuple[str, ...] = (
    "ABOUT", "AFTER", "AGAIN", "AGAINST", "ALLOW", "ANSWER", "BECAUSE", "BEFORE", "BETTER",
    "BUSINESS", "CHANGE", "CHILDREN", "COUNTRY", "DURING", "EVERY", "FAMILY", "FUTURE", "GROUP",
    "HAPPEN", "HOUSE", "LITTLE", "MAJOR", "MOMENT", "MONEY", "NUMBER", "PEOPLE", "PLACE",
    "POWER", "QUESTION", "RIGHT", "SCHOOL", "SERIOUS", "SPEND", "THINGS", "UNDER", "WATER",
    "WOMEN", "WORLD", "YEARS", "YOUNG",
)
LRW_SPLITS = ("train", "val", "test")
LRW_FRAMES = 29
# Words said before and after the target (more are added if the clip would run past them).
LRW_CONTEXT = (2, 4)


@dataclass(frozen=True)
class DownstreamSpec:
    """Everything that determines the downstream corpora's bytes (recorded in downstream.json).

    A corpus with no actors (``crema_actors``, ``ravdess_actors``) or no words (``lrw_words``)
    is not generated. ``coupling`` is ``CorpusSpec.coupling``: keep it the pre-training
    corpus'. LRW counts are per official split: speakers, and clips of every word.
    """

    seed: int = 0
    size: int = 48
    coupling: float = 1.0
    crema_actors: int = 24
    crema_utts_per_actor: int = 24
    ravdess_actors: int = 24
    ravdess_utts_per_actor: int = 60
    lrw_words: int = len(LRW_VOCABULARY)
    lrw_train_speakers: int = 24
    lrw_val_speakers: int = 6
    lrw_test_speakers: int = 6
    lrw_train_clips: int = 10
    lrw_val_clips: int = 2
    lrw_test_clips: int = 2

    def __post_init__(self) -> None:
        def bad(name: str, need: str) -> ValueError:
            return ValueError(f"{name} must be {need}, got {getattr(self, name)}")

        if self.seed < 0:
            raise bad("seed", ">= 0")
        if not (16 <= self.size <= 1024 and self.size % 2 == 0):
            raise bad("size", "an even number in [16, 1024] (H.264 4:2:0 needs even sides)")
        if not 0.0 <= self.coupling <= 1.0:
            raise bad("coupling", "in [0, 1]")
        # The readers split speakers train/valid/test: at least three, or none (not generated).
        for name, most in (("crema_actors", CREMA_MAX_ACTORS),
                           ("ravdess_actors", RAVDESS_MAX_ACTORS)):
            if not (getattr(self, name) == 0 or 3 <= getattr(self, name) <= most):
                raise bad(name, f"0 (not generated) or in [3, {most}]")
        for name, most in (("crema_utts_per_actor", len(crema_files())),
                           ("ravdess_utts_per_actor", len(ravdess_files()))):
            if not 1 <= getattr(self, name) <= most:
                raise bad(name, f"in [1, {most}] (the real corpus' files per actor)")
        if not 0 <= self.lrw_words <= len(LRW_VOCABULARY):
            raise bad("lrw_words", f"in [0, {len(LRW_VOCABULARY)}] (0: not generated)")
        for split in LRW_SPLITS:
            if getattr(self, f"lrw_{split}_speakers") < 1:
                raise bad(f"lrw_{split}_speakers", ">= 1")
            # Every split needs a clip (the reader), numbered with five digits.
            if not 1 <= getattr(self, f"lrw_{split}_clips") <= 99999:
                raise bad(f"lrw_{split}_clips", "in [1, 99999]")

    def corpus_spec(self) -> CorpusSpec:
        """The VoxCeleb-corpus settings the shared samplers read (seed, size, coupling)."""
        return CorpusSpec(seed=self.seed, size=self.size, coupling=self.coupling)


@dataclass(frozen=True)
class UttJob:
    """All a worker needs to synthesise and write one utterance of a downstream corpus.

    ``files`` maps kinds (``wav``, ``flv``, ``mp4``, ``txt``) to paths relative to ``root``
    (``ROOT/<corpus>``). LRW: ``words`` are the context before the target, the target (at
    ``target``) and the context after; the clip is cut around the target."""

    corpus: str
    root: str
    identity: Identity
    video: Video
    words: tuple[str, ...]
    emotion: str
    intensity: float
    files: dict[str, str]
    seed: tuple[int, ...]
    size: int
    factors: dict
    target: int | None = None


@dataclass
class UttResult:
    """A written utterance's row of ``factors.tsv`` and its duration."""

    corpus: str
    seconds: float
    factors: dict


def crema_files() -> list[tuple[str, str, str]]:
    """The (sentence, emotion, level) of each of a CREMA-D actor's 82 real files, in a fixed
    order (the index addresses the utterance's random stream)."""
    files = []
    for sentence in CREMA_SENTENCES:
        for emo in CREMA_EMOTIONS:
            levels = ("LO", "MD", "HI") if sentence == "IEO" and emo != "NEU" else ("XX",)
            files += [(sentence, emo, level) for level in levels]
    return files


def ravdess_files() -> list[tuple[str, str, str, str]]:
    """The (emotion, intensity, statement, repetition) of each of a RAVDESS actor's 60 real
    speech files, in a fixed order (the index addresses the utterance's random stream)."""
    return [(emo, intensity, statement, rep)
            for emo in RAVDESS_EMOTIONS
            for intensity in (("01",) if emo == "01" else tuple(RAVDESS_INTENSITIES))
            for statement in RAVDESS_STATEMENTS for rep in ("01", "02")]


def balanced_selection(groups: dict[str, list[int]], n: int, rng: np.random.Generator
                       ) -> list[int]:
    """``n`` distinct items of ``groups`` (group -> item indices, in the order to take them),
    the groups' counts within one of each other as far as their sizes allow: the groups are
    cycled in a seeded order, each yielding its next item."""
    names = list(groups)
    order = [names[i] for i in rng.permutation(len(names))]
    queues = {g: list(items) for g, items in groups.items()}
    chosen: list[int] = []
    while len(chosen) < n:
        for g in order:
            if queues[g] and len(chosen) < n:
                chosen.append(queues[g].pop(0))
    return chosen


def _studio(spec: DownstreamSpec, corpus: str) -> Video:
    """The one recording channel and scene of an emotion corpus' studio."""
    rng = _rng(spec.seed, _STUDIO[corpus])
    return Video(layout.make_ytid(rng), sample_channel(rng), sample_scene(rng))


def _row(ident: Identity, files: dict[str, str], emotion: str, intensity: float) -> dict:
    audio, video = files.get("wav", files.get("mp4")), files.get("flv", files.get("mp4"))
    return {"file": audio, "video": video, "speaker": ident.spk, "gender": ident.gender,
            "emotion": emotion, "intensity": intensity,
            "expressiveness": round(ident.expressiveness, 3)}


def _crema_jobs(spec: DownstreamSpec, root: Path) -> list[UttJob]:
    names = crema_files()
    studio, jobs = _studio(spec, "crema_d"), []
    for a in range(spec.crema_actors):
        actor = str(CREMA_FIRST_ACTOR + a)
        ident = dataclasses.replace(
            sample_identity(spec.corpus_spec(), "crema_d", a, address=_CREMA), spk=f"crema{actor}")
        rng = _rng(spec.seed, _CREMA, a, 2)
        by_emotion = {}
        for e in CREMA_EMOTIONS:
            mine = [i for i, n in enumerate(names) if n[1] == e]
            by_emotion[e] = [mine[k] for k in rng.permutation(len(mine))]
        for i in sorted(balanced_selection(by_emotion, spec.crema_utts_per_actor, rng)):
            sentence, emo, level = names[i]
            stem = f"{actor}_{sentence}_{emo}_{level}"
            files = {"wav": f"AudioWAV/{stem}.wav", "flv": f"VideoFlash/{stem}.flv"}
            emotion = CREMA_EMOTIONS[emo]
            intensity = 0.0 if emotion == NEUTRAL.name else CREMA_LEVELS[level]
            row = {**_row(ident, files, emotion, intensity), "sentence": sentence,
                   "level": level, "text": CREMA_SENTENCES[sentence]}
            jobs.append(UttJob("crema_d", str(root / "crema_d"), ident, studio,
                               tuple(CREMA_SENTENCES[sentence].split()), emotion, intensity,
                               files, (spec.seed, _CREMA, a, 1, 1 + i), spec.size, row))
    return jobs


def ravdess_identities(spec: DownstreamSpec) -> list[Identity]:
    """RAVDESS actors 01..N: each takes the next identity of its gender (odd actors male, even
    female) from the RAVDESS identity stream, so adding actors leaves the others as they were."""
    actors, index = [], 0
    for a in range(1, spec.ravdess_actors + 1):
        want = "m" if a % 2 else "f"
        while (ident := sample_identity(spec.corpus_spec(), "ravdess", index,
                                        address=_RAVDESS)).gender != want:
            index += 1
        actors.append(dataclasses.replace(ident, spk=f"rav{a:02d}"))
        index += 1
    return actors


def _ravdess_jobs(spec: DownstreamSpec, root: Path) -> list[UttJob]:
    cells = ravdess_files()
    studio, jobs = _studio(spec, "ravdess"), []
    for a, ident in enumerate(ravdess_identities(spec)):
        actor = f"{a + 1:02d}"
        # Within an emotion, every first repetition comes before any second one.
        rng = _rng(spec.seed, _RAVDESS, a, 2)
        by_emotion = {}
        for e in RAVDESS_EMOTIONS:
            mine = [i for i, c in enumerate(cells) if c[0] == e]
            shuffled = [mine[k] for k in rng.permutation(len(mine))]
            by_emotion[e] = sorted(shuffled, key=lambda i: cells[i][3])
        for i in sorted(balanced_selection(by_emotion, spec.ravdess_utts_per_actor, rng)):
            emo, level, statement, rep = cells[i]
            fields = f"{emo}-{level}-{statement}-{rep}-{actor}"
            files = {"wav": f"Actor_{actor}/03-01-{fields}.wav",
                     "mp4": f"Video_Speech_Actor_{actor}/Actor_{actor}/01-01-{fields}.mp4"}
            emotion = RAVDESS_EMOTIONS[emo]
            intensity = 0.0 if emotion == NEUTRAL.name else RAVDESS_INTENSITIES[level]
            row = {**_row(ident, files, emotion, intensity), "statement": statement,
                   "repetition": rep, "text": RAVDESS_STATEMENTS[statement]}
            jobs.append(UttJob("ravdess", str(root / "ravdess"), ident, studio,
                               tuple(RAVDESS_STATEMENTS[statement].split()), emotion, intensity,
                               files, (spec.seed, _RAVDESS, a, 1, 1 + i), spec.size, row))
    return jobs


def lrw_identities(spec: DownstreamSpec, split: str) -> list[Identity]:
    """The speakers of one official LRW split (an address space of its own per split)."""
    return [dataclasses.replace(
        sample_identity(spec.corpus_spec(), f"lrw_{split}", i, address=_LRW_SPEAKERS[split]),
        spk=f"lrw-{split}-{i:03d}") for i in range(getattr(spec, f"lrw_{split}_speakers"))]


def _context(rng: np.random.Generator, topic: int, n: int, target: str) -> list[str]:
    """``n`` words of a sentence, none of them the target word."""
    words: list[str] = []
    while len(words) < n:
        words += [w for w in sample_sentence(rng, topic, 0.0, n - len(words))
                  if w.upper() != target]
    return words


def _lrw_jobs(spec: DownstreamSpec, root: Path) -> list[UttJob]:
    jobs = []
    for split in LRW_SPLITS:
        speakers = lrw_identities(spec, split)
        for w, word in enumerate(LRW_VOCABULARY[:spec.lrw_words]):
            for c in range(getattr(spec, f"lrw_{split}_clips")):
                rng = _rng(spec.seed, _LRW_CLIPS[split], w, 1 + c)
                ident = speakers[int(rng.integers(len(speakers)))]
                video = Video(layout.make_ytid(rng), sample_channel(rng), sample_scene(rng))
                emotion, intensity = sample_emotion(spec.corpus_spec(), rng)
                before = _context(rng, ident.topic, int(rng.integers(*LRW_CONTEXT, endpoint=True)),
                                  word)
                after = _context(rng, ident.topic, int(rng.integers(*LRW_CONTEXT, endpoint=True)),
                                 word)
                stem = f"lipread_mp4/{word}/{split}/{word}_{c + 1:05d}"
                files = {"mp4": f"{stem}.mp4", "txt": f"{stem}.txt"}
                row = {**_row(ident, files, emotion, intensity), "split": split, "word": word}
                jobs.append(UttJob("lrw", str(root / "lrw"), ident, video,
                                   (*before, word.lower(), *after), emotion, intensity, files,
                                   (spec.seed, _LRW_CLIPS[split], w, 1 + c, 1), spec.size, row,
                                   target=len(before)))
    return jobs


def plan_downstream(spec: DownstreamSpec, root: str | Path) -> list[UttJob]:
    """One job per utterance of the three corpora, in a fixed order."""
    root = Path(root)
    return _crema_jobs(spec, root) + _ravdess_jobs(spec, root) + _lrw_jobs(spec, root)


@dataclass(frozen=True)
class Clip:
    """A video to encode: ``frames`` (T, S, S, 3) RGB at 25 fps, its 16 kHz ``audio``."""

    path: Path
    fmt: str
    frames: np.ndarray
    audio: np.ndarray


def encode_clips(clips: list[Clip], scratch_dir: Path, crf: int = 20) -> None:
    """Encode videos (H.264 + AAC) in one ffmpeg process, each output atomically and bit-exact.

    As ``media.write_tracks``, but each clip has one output in its own container (``fmt``:
    ``flv`` for CREMA-D, ``mp4`` otherwise); each output has its own encoders, so its bytes do
    not depend on the clips encoded with it.
    """
    if not clips:
        return
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(
            dir=scratch_dir, prefix=".encode.")))
        inputs: list[str] = []
        outputs: list[str] = []
        for k, clip in enumerate(clips):
            inputs += raw_inputs(scratch, k, clip.frames, clip.audio)
            tmp = stack.enter_context(atomic_path(clip.path))
            outputs += [*h264_aac_options(k, crf), "-f", clip.fmt, str(tmp)]
        what = clips[0].path if len(clips) == 1 else \
            Path(f"{clips[0].path} (and {len(clips) - 1} other clips encoded with it)")
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *outputs], what)


def lrw_txt(word: str, duration: float) -> str:
    """An LRW clip's txt: the word, a confidence, and the word's duration."""
    return f"Text:  {word}\nConf:  1\n\nDuration: {duration:.2f} seconds\n"


def _lrw_performance(job: UttJob, rng: np.random.Generator
                     ) -> tuple[Performance, int, list[str], int]:
    """Perform the clip's sentence, with more context words until a clip of ``LRW_FRAMES``
    centred on the target fits in it with a word heard on each side; return the performance,
    the clip's first frame, the words said and the target's index among them."""
    words, target = list(job.words), job.target
    shown = EMOTIONS[job.emotion].at(job.intensity * job.identity.expressiveness)
    for _ in range(8):
        done = perform(job.identity, job.video, words, shown, rng, job.size)
        start, end, _ = done.words[target]
        first = round((start + end) / 2 * FPS - LRW_FRAMES / 2)
        lo, hi = first / FPS, (first + LRW_FRAMES) / FPS
        short_before = first < 0 or done.words[target - 1][1] <= lo
        short_after = first + LRW_FRAMES > done.n_frames or done.words[target + 1][0] >= hi
        if not (short_before or short_after):
            return done, first, words, target
        if short_before:
            words.insert(0, _context(rng, job.identity.topic, 1, words[target].upper())[0])
            target += 1
        if short_after:
            words.append(_context(rng, job.identity.topic, 1, words[target].upper())[0])
    raise RuntimeError(f"{job.files['mp4']}: no {LRW_FRAMES}-frame clip around the word fits "
                       f"in {' '.join(words)!r}")


def synthesize_utt(job: UttJob) -> tuple[UttResult, Clip]:
    """Synthesise one utterance; write its wav (CREMA-D, RAVDESS) or txt (LRW) and return its
    video to encode."""
    rng = _rng(*job.seed)
    root = Path(job.root)
    row = dict(job.factors)
    if job.corpus != "lrw":
        shown = EMOTIONS[job.emotion].at(job.intensity * job.identity.expressiveness)
        done = perform(job.identity, job.video, list(job.words), shown, rng, job.size)
        write_wav(root / job.files["wav"], done.audio)
        fmt = "flv" if "flv" in job.files else "mp4"
        clip = Clip(root / job.files[fmt], fmt, done.frames, done.audio)
        return UttResult(job.corpus, len(done.audio) / SAMPLE_RATE, row), clip

    done, first, words, target = _lrw_performance(job, rng)
    t0, t1 = first / FPS, (first + LRW_FRAMES) / FPS
    start, end, _ = done.words[target]
    heard = [(i, w.upper()) for i, (s, e, w) in enumerate(done.words) if e > t0 and s < t1]
    row.update(word_start=round(start - t0, 3), word_end=round(end - t0, 3),
               before=" ".join(w for i, w in heard if i < target),
               after=" ".join(w for i, w in heard if i > target),
               sentence=" ".join(w.upper() for w in words))
    write_text_atomic(root / job.files["txt"], lrw_txt(row["word"], end - start))
    audio = done.audio[first * SAMPLES_PER_FRAME:(first + LRW_FRAMES) * SAMPLES_PER_FRAME]
    clip = Clip(root / job.files["mp4"], "mp4", done.frames[first:first + LRW_FRAMES], audio)
    return UttResult("lrw", len(audio) / SAMPLE_RATE, row), clip


def generate_utts(jobs: list[UttJob]) -> list[UttResult]:
    """Synthesise and write some utterances; their videos share one encoder process."""
    results, clips = [], []
    for job in jobs:
        result, clip = synthesize_utt(job)
        results.append(result)
        clips.append(clip)
    encode_clips(clips, Path(jobs[0].root).parent)
    return results


def _factor_lines(rows: list[dict]) -> list[str]:
    columns = list(rows[0])
    return ["\t".join(columns)] + ["\t".join(str(r[c]) for c in columns) for r in rows]


def _spec_json(spec: DownstreamSpec) -> dict:
    return dataclasses.asdict(spec)


def is_generated(root: str | Path, spec: DownstreamSpec) -> bool:
    """True if ``root`` holds complete downstream corpora generated from exactly ``spec``."""
    return finished_summary(Path(root) / MARKER, _spec_json(spec)) is not None


def generate_downstream(spec: DownstreamSpec, root: str | Path, nj: int = 1,
                        force: bool = False) -> dict:
    """Generate the downstream corpora under ``root`` (``root/<corpus>/``); return the summary
    also written to ``root/downstream.json``.

    The marker is written last: finished corpora with the same spec are not generated again,
    interrupted ones are generated again from scratch, and a marker of another spec is an
    error unless ``force``. ``root`` may be the VoxCeleb corpus' root: neither generator
    touches the other's files.
    """
    root = Path(root)
    marker = root / MARKER
    finished = begin_generation(root, MARKER, _spec_json(spec), CORPORA, "downstream corpora",
                                force)
    if finished is not None:
        return finished

    start = time.time()
    jobs = plan_downstream(spec, root)
    results: list[UttResult] = []
    ctx = multiprocessing.get_context("fork")
    # As generate_corpus: espeak helpers start before any thread; fixed chunks whatever nj.
    chunks = [jobs[i:i + TRACKS_PER_ENCODE] for i in range(0, len(jobs), TRACKS_PER_ENCODE)]
    with ctx.Pool(max(1, nj), initializer=espeak.start) as pool, \
            tqdm(total=len(jobs), desc="downstream corpora", unit="utt",
                 dynamic_ncols=True) as bar:
        for chunk in pool.imap(generate_utts, chunks, chunksize=1):
            results += chunk
            bar.update(len(chunk))

    summary = {"spec": _spec_json(spec), "corpora": {}}
    for corpus in CORPORA:
        rows = sorted((r.factors for r in results if r.corpus == corpus),
                      key=lambda row: row["file"])
        if rows:
            write_text_atomic(root / corpus / "factors.tsv",
                              "".join(f"{x}\n" for x in _factor_lines(rows)))
        summary["corpora"][corpus] = {
            "utterances": len(rows), "speakers": len({row["speaker"] for row in rows}),
            "hours": round(sum(r.seconds for r in results if r.corpus == corpus) / 3600, 4)}
    # Wall time and nj vary between runs; they live beside the marker, not in it.
    write_text_atomic(root / "downstream_log.json", json.dumps(
        {"wall_seconds": round(time.time() - start, 1), "nj": nj}, indent=1) + "\n")
    write_text_atomic(marker, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary
