"""How strongly the synthetic corpus' emotions show in each modality: a probe on the
generator's own parameters (no audio or video is rendered).

For utterances drawn as the corpus draws them (identities of a pool, emotions and intensities
from ``corpus.sample_emotion``), each modality's *cues* are the values the generator renders:
voice pitch, pitch range, rate, level, spectral tilt and breathiness; face brow height, mouth
corners and eye opening. A multinomial logistic regression is trained on the cues of some
speakers and tested on others (speaker-disjoint), in two readings:

- ``absolute``: the cue values as rendered. The speaker's own baseline is in them, so this is
  what a listener or viewer who has never met the speaker could use (an upper bound: a real
  encoder hears the cues through espeak-ng, sox and a channel, and sees them in a few pixels);
- ``relative``: the change from the speaker's own neutral rendition, i.e. the emotion as
  defined (an upper bound for a listener who knows the speaker).

Accuracies come with 95% intervals from resampling the test speakers. That ``absolute`` is
well below ``relative`` is the point of defining emotions relative to each speaker: the
speaker's baseline hides part of the emotion.
"""
from __future__ import annotations

import numpy as np

from xmodal.eval.bootstrap import cluster_bootstrap_accuracy
from xmodal.eval.content_speaker_probe import fit_logistic
from xmodal.synth import layout
from xmodal.synth.corpus import CorpusSpec, Identity, sample_emotion, sample_identity
from xmodal.synth.emotion import EMOTION_NAMES, EMOTIONS, NEUTRAL, Emotion
from xmodal.synth.voice import SPEECH_DBFS

VOICE_CUES = ("pitch", "pitch_range", "rate", "level_db", "tilt_db", "breathiness")
FACE_CUES = ("brow", "mouth_corner", "eye_open")
MODALITIES = {"voice": VOICE_CUES, "face": FACE_CUES, "both": VOICE_CUES + FACE_CUES}
READINGS = ("absolute", "relative")


def cues(ident: Identity, emotion: Emotion) -> dict[str, float]:
    """The values the generator renders for ``ident`` showing ``emotion`` (scaled already);
    see ``voice.speak`` and ``face.render_frames``."""
    v, f = ident.voice, ident.face
    return {"pitch": float(np.clip(v.pitch + emotion.pitch_shift, 0, 99)),
            "pitch_range": float(np.clip(v.pitch_range * emotion.range_scale, 0, 99)),
            "rate": v.rate * emotion.rate_scale,
            "level_db": SPEECH_DBFS + v.level_db + emotion.gain_db,
            "tilt_db": v.tilt_db + emotion.tension_db,
            "breathiness": v.breathiness + emotion.breathiness,
            "brow": f.brow_rest + emotion.brow,
            "mouth_corner": f.mouth_rest + emotion.mouth_corner,
            "eye_open": f.eye_size * float(np.clip(1.0 + 0.5 * emotion.eye_open, 0.4, 1.6))}


def cue_table(spec: CorpusSpec, pool: str, n_speakers: int, utts_per_speaker: int
              ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Cues of ``utts_per_speaker`` utterances of each of the first ``n_speakers`` identities
    of ``pool``: ({reading: (N, n_cues) in ``VOICE_CUES + FACE_CUES`` order}, emotion ids,
    speaker ids)."""
    names = VOICE_CUES + FACE_CUES
    rows: dict[str, list[list[float]]] = {r: [] for r in READINGS}
    labels, speakers = [], []
    for i in range(n_speakers):
        ident = sample_identity(spec, pool, i)
        rng = np.random.default_rng([spec.seed, layout.POOLS.index(pool), i, 77])
        base = cues(ident, NEUTRAL)
        for _ in range(utts_per_speaker):
            name, intensity = sample_emotion(spec, rng)
            shown = cues(ident, EMOTIONS[name].at(intensity * ident.expressiveness))
            rows["absolute"].append([shown[c] for c in names])
            rows["relative"].append([shown[c] - base[c] for c in names])
            labels.append(EMOTION_NAMES.index(name))
            speakers.append(i)
    return ({r: np.array(v) for r, v in rows.items()}, np.array(labels, dtype=np.int64),
            np.array(speakers))


def probe(spec: CorpusSpec, pool: str = "vox2_dev", n_speakers: int = 200,
          utts_per_speaker: int = 16, test_share: float = 0.3, n_boot: int = 1000,
          seed: int = 0) -> dict:
    """Speaker-disjoint emotion accuracy from each modality's cues in each reading:
    ``{"chance", "n_train", "n_test", "n_test_speakers", "accuracy": {modality: {reading:
    {"accuracy", "ci"}}}}``."""
    if not 0.0 < test_share < 1.0 or n_speakers < 4:
        raise ValueError("need 0 < test_share < 1 and n_speakers >= 4")
    table, labels, speakers = cue_table(spec, pool, n_speakers, utts_per_speaker)
    order = np.random.default_rng(seed).permutation(n_speakers)
    test_speakers = order[:max(2, round(test_share * n_speakers))]
    test = np.isin(speakers, test_speakers)
    names = VOICE_CUES + FACE_CUES
    result: dict = {"chance": float(np.bincount(labels[test]).max() / test.sum()),
                    "n_train": int((~test).sum()), "n_test": int(test.sum()),
                    "n_test_speakers": len(test_speakers), "accuracy": {}}
    for modality, cols in MODALITIES.items():
        index = [names.index(c) for c in cols]
        result["accuracy"][modality] = {}
        for reading in READINGS:
            x = table[reading][:, index]
            mean, std = x[~test].mean(axis=0), x[~test].std(axis=0)
            x = (x - mean) / np.where(std > 0, std, 1.0)
            weight, bias = fit_logistic(x[~test], labels[~test], len(EMOTION_NAMES), l2=1e-3)
            correct = (x[test] @ weight + bias).argmax(axis=1) == labels[test]
            boot = cluster_bootstrap_accuracy(correct, speakers[test], n_boot, seed)
            result["accuracy"][modality][reading] = {"accuracy": boot["mean"],
                                                     "ci": [boot["low"], boot["high"]]}
    return result
