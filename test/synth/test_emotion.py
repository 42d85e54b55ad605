"""Emotions of the synthetic corpus: balanced labels, changes relative to each speaker, shown
in the voice (real espeak-ng and sox) and in the right places of the face."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.synth.corpus import CorpusSpec, perform, plan_jobs, sample_emotion, sample_identity
from xmodal.synth.emotion import EMOTION_NAMES, EMOTIONS, INTENSITIES, NEUTRAL, Emotion
from xmodal.synth.emotion_cues import probe
from xmodal.synth.face import render_frames
from xmodal.synth.media import SAMPLE_RATE
from xmodal.synth.viseme import mouth_track
from xmodal.synth.voice import breath_noise, speak

WORDS = "the team said the final score was great today".split()


def test_emotions_are_balanced_with_the_corpus_intensities():
    rng = np.random.default_rng(0)
    draws = [sample_emotion(CorpusSpec(), rng) for _ in range(8000)]
    names = [n for n, _ in draws]
    assert set(names) == set(EMOTION_NAMES) and len(EMOTION_NAMES) == 8
    shares = np.array([names.count(n) for n in EMOTION_NAMES]) / len(names)
    assert np.all(np.abs(shares - 1 / 8) < 0.02)
    assert {i for n, i in draws if n == "neutral"} == {0.0}
    assert {i for n, i in draws if n != "neutral"} == set(INTENSITIES)
    assert {sample_emotion(CorpusSpec(emotion_prob=0.0), rng)[0] for _ in range(50)} == {"neutral"}


def test_intensity_scales_every_change():
    angry = EMOTIONS["angry"]
    assert angry.at(0.0) == Emotion("angry")  # no change at all
    double = angry.at(2.0)
    assert double.pitch_shift == 2 * angry.pitch_shift and double.brow == 2 * angry.brow
    assert double.range_scale - 1 == pytest.approx(2 * (angry.range_scale - 1))
    assert double.tension_db == 2 * angry.tension_db and double.eye_open == 2 * angry.eye_open
    with pytest.raises(ValueError, match="intensity"):
        angry.at(-1.0)
    # Every emotion differs from every other in the voice and in the face.
    voice = ("pitch_shift", "range_scale", "rate_scale", "gain_db", "tension_db", "breathiness")
    face = ("brow", "mouth_corner", "eye_open")
    for a in EMOTION_NAMES:
        for b in EMOTION_NAMES:
            if a < b:
                for fields in (voice, face):
                    assert any(getattr(EMOTIONS[a], f) != getattr(EMOTIONS[b], f)
                               for f in fields), (a, b, fields)


def test_each_modality_shows_emotion_and_the_speaker_baseline_hides_part_of_it():
    """The probe on the generator's parameters (README: how strongly emotions show). Measured
    by ``python -m xmodal.bin.probe_emotion_cues`` (seed 0, 200 speakers): voice 0.56
    absolute vs 0.99 relative to the speaker's neutral; face 0.74 vs 0.99; chance 0.14.
    Emotions set as absolute values (no speaker baseline) would make the two readings equal."""
    result = probe(CorpusSpec(seed=0, vox2_dev_speakers=120), n_speakers=120,
                   utts_per_speaker=16, n_boot=300)
    chance = result["chance"]
    assert chance < 0.2 and result["n_test_speakers"] == 36
    for modality in ("voice", "face"):
        absolute = result["accuracy"][modality]["absolute"]
        relative = result["accuracy"][modality]["relative"]
        assert absolute["ci"][0] > chance + 0.2, modality
        assert absolute["ci"][1] < relative["ci"][0], modality
    both = result["accuracy"]["both"]["absolute"]["accuracy"]
    assert both > max(result["accuracy"][m]["absolute"]["accuracy"] for m in ("voice", "face"))


def level_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2))


def high_share(x: np.ndarray) -> float:
    """Share of the power above 3 kHz."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(power[freqs > 3000].sum() / power.sum())


def test_the_voice_changes_level_and_quality_from_the_speakers_own():
    ident = sample_identity(CorpusSpec(seed=3), "vox2_dev", 0)
    said = {name: speak(" ".join(WORDS), ident.voice, EMOTIONS[name].at(1.0),
                        np.random.default_rng(1)).audio for name in ("neutral", "angry", "sad")}
    # Level: the speaker's own, moved by the emotion's gain.
    assert level_db(said["neutral"]) == pytest.approx(-26 + ident.voice.level_db, abs=0.01)
    assert level_db(said["angry"]) - level_db(said["neutral"]) == pytest.approx(
        EMOTIONS["angry"].gain_db, abs=0.2)
    # Quality: a tense (angry) voice has more energy above 3 kHz, a lax breathy (sad) one
    # is slower and lower; both measured on the real espeak-ng + sox output.
    assert high_share(said["angry"]) > 1.3 * high_share(said["neutral"])
    assert len(said["sad"]) > 1.1 * len(said["neutral"])


def test_breath_noise_follows_the_speech_at_its_level():
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    speech = np.where(t < 0.5, np.sin(2 * np.pi * 200 * t), 0.0)
    noise = breath_noise(speech, 0.2, rng)
    assert np.sqrt(np.mean(noise ** 2)) == pytest.approx(0.2 * np.sqrt(np.mean(speech ** 2)))
    assert np.abs(noise[t > 0.6]).max() == 0.0  # no breath where nothing is said
    assert not breath_noise(speech, 0.0, rng).any()


def face_regions(frames_a: np.ndarray, frames_b: np.ndarray) -> dict[str, float]:
    """Mean absolute pixel difference in the eye-and-brow band and the mouth band."""
    diff = np.abs(frames_a.astype(float) - frames_b.astype(float)).mean(axis=(0, 3))
    size = diff.shape[0]
    band = lambda lo, hi: float(diff[int(lo * size):int(hi * size)].mean())  # noqa: E731
    return {"eyes": band(0.32, 0.52), "mouth": band(0.66, 0.84), "elsewhere": band(0.0, 0.25)}


@pytest.mark.parametrize("name, where", [("surprised", "eyes"), ("happy", "mouth")])
def test_the_face_shows_emotion_where_people_do(name: str, where: str):
    spec = CorpusSpec(seed=5, vox2_dev_speakers=1, vox2_test_speakers=0, vox1_dev_speakers=0,
                      vox1_test_speakers=0, size=48)
    _, jobs = plan_jobs(spec, Path("/nonexistent"))
    job = jobs[0]
    mouth = mouth_track([(0.1, 0.3, "a"), (0.3, 0.5, "m")], 20, 25.0, 0.0)

    def render(emotion):
        return render_frames(job.identity.face, job.video.scene, mouth, emotion,
                             np.random.default_rng(2), spec.size)

    neutral = render(NEUTRAL)
    assert np.array_equal(neutral, render(NEUTRAL))
    regions = face_regions(render(EMOTIONS[name].at(1.0)), neutral)
    other = "mouth" if where == "eyes" else "eyes"
    # Measured: surprised moves the eye band by 1.0 grey levels on average and leaves the
    # mouth alone; happy moves the mouth band by 1.8, the eyes by 0.55 (brows, squint).
    assert regions[where] > 0.5 and regions[where] > 2 * regions[other]
    assert regions["elsewhere"] == 0.0  # hair, forehead, background: untouched


def test_a_performance_is_in_sync_and_shows_its_emotion():
    spec = CorpusSpec(seed=5, vox2_dev_speakers=1, vox2_test_speakers=0, vox1_dev_speakers=0,
                      vox1_test_speakers=0, size=32)
    _, jobs = plan_jobs(spec, Path("/nonexistent"))
    job = jobs[0]
    done = perform(job.identity, job.video, WORDS, EMOTIONS["sad"].at(1.0),
                   np.random.default_rng(0), spec.size)
    assert done.frames.shape == (done.n_frames, 32, 32, 3)
    assert len(done.audio) == done.n_frames * SAMPLE_RATE // 25
    assert [w for _, _, w in done.words] == WORDS
    assert perform(job.identity, job.video, WORDS, NEUTRAL, np.random.default_rng(0),
                   None).frames is None


def test_the_cue_probe_command_prints_its_table(tmp_path: Path, capsys):
    from xmodal.bin import probe_emotion_cues
    out = tmp_path / "cues.json"
    assert probe_emotion_cues.main(["--speakers", "20", "--utts-per-speaker", "8",
                                    "--n-boot", "50", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("emotion from the generator's cues: 48 utterances of 6 held-out")
    assert [line.split(" |")[0] for line in lines[3:]] == ["| voice", "| face", "| both"]
    assert json.loads(out.read_text())["n_test_speakers"] == 6


def test_the_speakers_baseline_voice_is_drawn_apart_from_the_rest_of_them():
    """Level, breathiness and expressiveness come from a stream of their own: unrelated to
    gender and age (a stream that repeated the identity's draws tied each to one of those)."""
    people = [sample_identity(CorpusSpec(seed=11, vox2_dev_speakers=300), "vox2_dev", i)
              for i in range(300)]
    male = np.array([p.gender == "m" for p in people])
    level = np.array([p.voice.level_db for p in people])
    assert (level[male] > 0).any() and (level[~male] > 0).any()
    assert (level[male] < 0).any() and (level[~male] < 0).any()
    age = np.array([p.age for p in people])
    for values in (np.array([p.voice.breathiness for p in people]),
                   np.array([p.expressiveness for p in people]), level):
        assert abs(np.corrcoef(values, age)[0, 1]) < 0.2
