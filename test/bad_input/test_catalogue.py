"""What happens on bad input: one case per kind of bad input, run through the tool a user hits.

Each case builds its bad input from small real files (wavs written by sox and ffmpeg, mp4/m4a
by ffmpeg, ark/scp by kaldiio), runs the entry point (``xmodal.bin.<tool>.main``: the code
``python -m xmodal.bin.<tool>`` runs) and checks what the user sees: an error naming the file
and line or key, or the logged skip where skipping is the documented behaviour; and that
nothing half-written is left: no output, or the previous output untouched, and no temporary
file. README.md, "What happens on bad input", has one row per case (a test keeps them in step).
"""
from __future__ import annotations

import functools
import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import kaldiio
import numpy as np
import pytest

from xmodal.config import save_config
from xmodal.data.datadir import read_table
from xmodal.models.two_stream import ModelConfig, TwoStreamModel
from xmodal.train.checkpoint import save_checkpoint
from xmodal.methods.cross_modal import CrossModalConfig

REPO = Path(__file__).resolve().parents[2]
TINY = ModelConfig(width=0.125, face_size=32, embed_dim=16, head_hidden=16, trunk_dim=16)
# In every case GOOD reads fine and BAD, line 2 of each table, is the bad input.
GOOD, BAD = "spk1-a", "spk1-b"
# Verification: three utterances, two trials.
TRIAL_UTTS = ("spk1-a", "spk1-b", "spk2-a")
GOOD_TRIALS = "spk1-a spk1-b target\nspk1-a spk2-a nontarget\n"
MEDIA_FAULTS = ("missing", "empty", "truncated", "corrupt")
RECIPE_CONFIG = REPO / "egs" / "mini_voxceleb" / "v1" / "conf" / "ssl_id_content.yaml"

CASES: dict[str, Callable[[SimpleNamespace], None]] = {}


def case(name: str):
    """Register a case of the catalogue under ``name`` (its pytest id and README row)."""
    def register(check):
        CASES[name] = check
        return check
    return register


# --- running tools and reading what they print ------------------------------------------------

def run_tool(ctx, tool: str, *args) -> tuple[int, str]:
    """Run ``python -m xmodal.bin.<tool> ARGS`` in this process: (exit status, stderr)."""
    ctx.capsys.readouterr()
    status = importlib.import_module(f"xmodal.bin.{tool}").main([str(a) for a in args])
    return status, ctx.capsys.readouterr().err


def screen_lines(stderr: str) -> list[str]:
    """stderr as a terminal shows it: a progress bar redraws its line after a carriage return."""
    return [line.rsplit("\r", 1)[-1] for line in stderr.split("\n")]


def assert_line(stderr: str, pattern: str) -> None:
    """Some line of ``stderr`` matches the regex ``pattern`` whole."""
    assert any(re.fullmatch(pattern, line) for line in screen_lines(stderr)), \
        f"no line matches {pattern!r} in:\n{stderr}"


def assert_error(status: int, stderr: str, message: str, regex_tail: str = "") -> None:
    """The tool exited 1 with ``error: <message><regex_tail>`` on a line of its own."""
    assert status == 1, stderr
    assert_line(stderr, re.escape(f"error: {message}") + regex_tail)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, hidden ones included (relative path -> bytes)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def assert_no_temporary_files(root: Path) -> None:
    """No hidden work file (``.x.tmp``, ``.x.old``) under ``root``, only ``.done`` markers."""
    leftovers = [p for p in root.rglob(".*") if p.name != ".done"]
    assert not leftovers, leftovers


# --- inputs -----------------------------------------------------------------------------------

def ffmpeg(*args) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def sox_sine(path: Path, seconds: float) -> None:
    """A 16 kHz 16-bit mono wav of a 440 Hz tone."""
    subprocess.run(["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", str(path), "synth",
                    str(seconds), "sine", "440"], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> SimpleNamespace:
    """Good media (0.5 s wav; a 1.2 s, 30-frame, 32 px face track as mp4 and m4a) and odd ones.

    The track is written with its index first (``+faststart``, like VoxCeleb's files), so a
    cut-off copy still opens and the loss shows as missing frames or packets.
    """
    root = tmp_path_factory.mktemp("media")
    m = SimpleNamespace(wav=root / "good.wav", mp4=root / "good.mp4", m4a=root / "good.m4a",
                        short_wav=root / "short.wav", nan_wav=root / "nan.wav",
                        no_frames_mp4=root / "no_frames.mp4")
    sox_sine(m.wav, 0.5)
    # 320 samples: less than one 400-sample STFT window and one 640-sample video frame.
    sox_sine(m.short_wav, 0.02)
    track = ["-f", "lavfi", "-i", "testsrc=size=32x32:rate=25:duration=1.2", "-f", "lavfi",
             "-i", "sine=frequency=440:sample_rate=16000:duration=1.2", "-map", "0:v",
             "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1",
             "-ar", "16000", "-movflags", "+faststart"]
    ffmpeg(*track, m.mp4)
    ffmpeg("-i", m.mp4, "-map", "0:a", "-c:a", "copy", "-movflags", "+faststart", "-f", "ipod",
           m.m4a)
    # Every frame trimmed away: the mp4 muxer drops the empty video track, the audio stays.
    ffmpeg(*track, "-vf", "trim=end_frame=0", m.no_frames_mp4)
    # A float wav can hold NaN and inf (sox would clip them; ffmpeg copies the raw floats).
    samples = (0.1 * np.sin(np.arange(8000) / 5)).astype("<f4")
    samples[[100, 4000]] = [np.nan, np.inf]
    samples.tofile(root / "nan.f32")
    ffmpeg("-f", "f32le", "-ar", "16000", "-ac", "1", "-i", root / "nan.f32",
           "-c:a", "pcm_f32le", m.nan_wav)
    return m


def broken_copy(good: Path, fault: str, directory: Path) -> Path:
    """``directory/<fault><suffix>`` in place of ``good``: ``missing`` (never written),
    ``empty``, ``truncated`` (its first half) or ``corrupt`` (random bytes, same length)."""
    path = directory / f"{fault}{good.suffix}"
    data = good.read_bytes()
    if fault == "empty":
        path.touch()
    elif fault == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif fault == "corrupt":
        path.write_bytes(np.random.default_rng(0).bytes(len(data)))
    return path


def write_data_dir(root: Path, wav: dict[str, Path], video: dict[str, Path] | None = None,
                   trials: str | None = None) -> Path:
    """A Kaldi data dir of ``wav`` (and ``video``); the speaker of ``spk1-a`` is ``spk1``."""
    root.mkdir(parents=True)
    utts = sorted(wav)
    (root / "wav.scp").write_text("".join(f"{u} {wav[u]}\n" for u in utts))
    if video is not None:
        (root / "video.scp").write_text("".join(f"{u} {video[u]}\n" for u in utts))
    (root / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    speakers = sorted({u.split("-")[0] for u in utts})
    (root / "spk2utt").write_text("".join(
        f"{s} {' '.join(u for u in utts if u.startswith(f'{s}-'))}\n" for s in speakers))
    if trials is not None:
        (root / "trials").write_text(trials)
    return root


def av_data_dir(ctx, bad_wav: Path | None = None, bad_video: Path | None = None) -> Path:
    """A face-track data dir (m4a in wav.scp, mp4 in video.scp); BAD reads the given files."""
    m = ctx.media
    return write_data_dir(ctx.tmp / "data", {GOOD: m.m4a, BAD: bad_wav or m.m4a},
                          {GOOD: m.mp4, BAD: bad_video or m.mp4})


def write_scp(scp: Path, arrays: dict[str, np.ndarray]) -> Path:
    """kaldiio ark + scp of float32 arrays, in the order given."""
    scp.parent.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{scp.with_suffix('.ark')},{scp}") as writer:
        for key, array in arrays.items():
            writer(key, np.asarray(array, dtype=np.float32))
    return scp


def point_line_2_at(scp: Path, location: str) -> None:
    """Make line 2 of ``scp`` read its array from ``location`` (``ark:offset``)."""
    lines = scp.read_text().splitlines()
    lines[1] = f"{lines[1].split()[0]} {location}"
    scp.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory) -> Path:
    """A tiny untrained model saved as a trained experiment (config.yaml + model.pt)."""
    root = tmp_path_factory.mktemp("exp") / "exp"
    root.mkdir()
    save_config(CrossModalConfig(model=TINY), root / "config.yaml")
    save_checkpoint({"model": TwoStreamModel(TINY).state_dict()}, root / "model.pt")
    return root


def stage5_inputs(ctx, feats: dict[str, np.ndarray] | None = None) -> SimpleNamespace:
    """A dump dir (feats.scp, utt2spk), a copy of the experiment and the embedding dir."""
    rng = np.random.default_rng(0)
    feats = feats or {GOOD: rng.normal(size=(30, 40)), BAD: rng.normal(size=(30, 40))}
    dump = ctx.tmp / "dump"
    scp = write_scp(dump / "feats.scp", feats)
    (dump / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in sorted(feats)))
    exp = shutil.copytree(ctx.exp, ctx.tmp / "exp")
    return SimpleNamespace(scp=scp, ark=scp.with_suffix(".ark"), exp=exp, out=ctx.tmp / "emb",
                           args=["--exp-dir", exp, "--feats-dir", dump,
                                 "--out-dir", ctx.tmp / "emb"])


def stage6_inputs(ctx) -> SimpleNamespace:
    """A data dir with trials, embeddings, and the output of a first scoring run."""
    data = write_data_dir(ctx.tmp / "data", {u: ctx.media.wav for u in TRIAL_UTTS},
                          trials=GOOD_TRIALS)
    rng = np.random.default_rng(1)
    vectors = {u: rng.normal(size=8) for u in TRIAL_UTTS}
    emb = write_scp(ctx.tmp / "emb" / "identity.scp", vectors)
    scores = ctx.tmp / "scores" / "trials.scores"
    args = ["--trials", data / "trials", "--enroll-scp", emb, "--out", scores]
    status, err = run_tool(ctx, "score", *args)
    assert status == 0, err
    return SimpleNamespace(data=data, trials=data / "trials", emb=emb, vectors=vectors,
                           scores=scores, args=args, before=snapshot(scores.parent))


def assert_untouched(inputs: SimpleNamespace) -> None:
    """The first scoring run's output is still there, byte for byte, and nothing else."""
    assert snapshot(inputs.scores.parent) == inputs.before


def dump_skips(ctx, data: Path, reason: str) -> None:
    """The stage-2 dump job skips BAD and logs ``reason`` (a regex); GOOD is dumped."""
    out = ctx.tmp / "dump"
    config = ctx.tmp / "dump.yaml"
    config.write_text("face_size: 32\n")
    status, err = run_tool(ctx, "dump", "--config", config, "--data-dir", data,
                           "--out-dir", out, "--job", "1")
    assert status == 0, err
    assert_line(err, re.escape(f"dump: skipping {BAD}: ") + reason)
    assert_line(err, re.escape(f"dump job 1: 1 utterances dumped, 1 skipped ({data} -> {out})"))
    skipped = read_table(out / "skipped.1")
    assert list(skipped) == [BAD] and re.fullmatch(reason, skipped[BAD])
    assert list(read_table(out / "feats.1.scp")) == [GOOD]
    assert_no_temporary_files(out)


def validate_fails(ctx, data: Path, message: str, regex_tail: str = "") -> None:
    """Stage 1's validator rejects ``data`` with ``message``, changing nothing."""
    before = snapshot(data)
    assert_error(*run_tool(ctx, "validate_data_dir", data), message, regex_tail)
    assert snapshot(data) == before


# --- the catalogue ----------------------------------------------------------------------------

def media_case(ctx, kind: str, fault: str) -> None:
    """A wav (audio-only set), m4a (wav.scp of a face-track set) or mp4 (video.scp) gone bad.

    Stage 1 finds missing and empty files; decoding is stage 2's job, which skips the
    utterance, logging why: one bad file in a large corpus should not stop the dump.
    """
    good = getattr(ctx.media, kind)
    bad = broken_copy(good, fault, ctx.tmp)
    if kind == "wav":
        data = write_data_dir(ctx.tmp / "data", {GOOD: good, BAD: bad})
    else:
        data = av_data_dir(ctx, **{"bad_wav" if kind == "m4a" else "bad_video": bad})
    scp = data / ("video.scp" if kind == "mp4" else "wav.scp")
    if fault in ("missing", "empty"):
        validate_fails(ctx, data, f"{scp}:2: utterance '{BAD}': media file '{bad}' "
                       + ("does not exist" if fault == "missing" else "is empty"))
    else:
        status, err = run_tool(ctx, "validate_data_dir", data)
        assert status == 0, err
    problem = {"missing": "no such file", "empty": "file is empty", "corrupt": "cannot decode: .*",
               "truncated": {"wav": r"truncated: the header announces 8000 samples, the file "
                                    r"holds \d+",
                             "m4a": r"truncated or corrupt: decoding failed after \d+ samples: .*",
                             "mp4": r"truncated: decoded \d+ of 30 frames"}[kind]}[fault]
    dump_skips(ctx, data, re.escape(f"unreadable media: {bad}: ") + problem
               + re.escape(f" ({scp}:2)"))


for _kind in ("wav", "m4a", "mp4"):
    for _fault in MEDIA_FAULTS:
        CASES[f"{_kind}-{_fault}"] = functools.partial(media_case, kind=_kind, fault=_fault)


@case("audio-shorter-than-one-window")
def audio_shorter_than_one_window(ctx):
    data = write_data_dir(ctx.tmp / "data", {GOOD: ctx.media.wav, BAD: ctx.media.short_wav})
    dump_skips(ctx, data, re.escape("too short: audio of 320 samples, less than one video frame"))


@case("video-without-frames")
def video_without_frames(ctx):
    data = av_data_dir(ctx, bad_video=ctx.media.no_frames_mp4)
    dump_skips(ctx, data, re.escape(f"unreadable media: {ctx.media.no_frames_mp4}: no video "
                                    f"stream ({data / 'video.scp'}:2)"))


@case("audio-video-length-mismatch")
def audio_video_length_mismatch(ctx):
    # 0.5 s of audio for 1.2 s (30 frames) of video.
    data = av_data_dir(ctx, bad_wav=ctx.media.wav)
    dump_skips(ctx, data, re.escape("audio/video length mismatch: 8000 samples vs 30 frames x "
                                    "640 (-0.700 s, tolerance 0.1 s)"))


@case("nan-inf-in-audio")
def nan_inf_in_audio(ctx):
    data = write_data_dir(ctx.tmp / "data", {GOOD: ctx.media.wav, BAD: ctx.media.nan_wav})
    dump_skips(ctx, data, re.escape(f"unreadable media: {ctx.media.nan_wav}: 2 NaN or inf "
                                    f"sample(s), the first at sample 100 "
                                    f"({data / 'wav.scp'}:2)"))


@case("nan-inf-in-features")
def nan_inf_in_features(ctx):
    rng = np.random.default_rng(0)
    bad = rng.normal(size=(30, 40))
    bad[5, 3], bad[9, 0] = np.nan, np.inf
    stage5 = stage5_inputs(ctx, {GOOD: rng.normal(size=(30, 40)), BAD: bad})
    assert_error(*run_tool(ctx, "extract", *stage5.args),
                 f"{stage5.scp}:2: utterance '{BAD}' has NaN or inf features (first at frame 5)")
    assert snapshot(stage5.out) == {}


@case("nan-inf-in-embeddings")
def nan_inf_in_embeddings(ctx):
    stage6 = stage6_inputs(ctx)
    stage6.vectors["spk2-a"][2] = np.inf
    write_scp(stage6.emb, stage6.vectors)
    assert_error(*run_tool(ctx, "score", *stage6.args),
                 f"{stage6.emb}:3: 'spk2-a' has NaN or inf values (first at dimension 2)")
    assert_untouched(stage6)


@case("unsorted-keys")
def unsorted_keys(ctx):
    data = write_data_dir(ctx.tmp / "data", {GOOD: ctx.media.wav, BAD: ctx.media.wav})
    lines = (data / "utt2spk").read_text().splitlines()
    (data / "utt2spk").write_text(f"{lines[1]}\n{lines[0]}\n")
    validate_fails(ctx, data, f"{data / 'utt2spk'}:2: key '{GOOD}' is out of order after "
                              f"'{BAD}' (keys must be sorted in C order: LC_ALL=C sort)")


@case("duplicate-keys")
def duplicate_keys(ctx):
    data = write_data_dir(ctx.tmp / "data", {GOOD: ctx.media.wav, BAD: ctx.media.wav})
    lines = (data / "wav.scp").read_text().splitlines()
    (data / "wav.scp").write_text(f"{lines[0]}\n{lines[0]}\n{lines[1]}\n")
    validate_fails(ctx, data, f"{data / 'wav.scp'}:2: key '{GOOD}' is a duplicate")


@case("key-and-value-separated-by-a-tab")
def key_and_value_separated_by_a_tab(ctx):
    data = write_data_dir(ctx.tmp / "data", {GOOD: ctx.media.wav, BAD: ctx.media.wav})
    (data / "wav.scp").write_text(f"{GOOD} {ctx.media.wav}\n{BAD}\t{ctx.media.wav}\n")
    validate_fails(ctx, data, f"{data / 'wav.scp'}:2: key '{BAD}\\t{ctx.media.wav}' contains a "
                              "tab or other whitespace; separate key and value by one space")


@case("utterance-id-with-a-space")
def utterance_id_with_a_space(ctx):
    data = write_data_dir(ctx.tmp / "data", {GOOD: ctx.media.wav, BAD: ctx.media.wav})
    # Every table agrees on the id "spk1-b x", which splits into key "spk1-b" and a value.
    for name, value in (("wav.scp", ctx.media.wav), ("utt2spk", "spk1")):
        (data / name).write_text(f"{GOOD} {value}\n{BAD} x {value}\n")
    (data / "spk2utt").write_text(f"spk1 {GOOD} {BAD} x\n")
    validate_fails(ctx, data, f"{data / 'utt2spk'}:2: expected '<utterance> <speaker>', got "
                              f"'{BAD} x spk1' (utterance and speaker ids cannot contain "
                              "whitespace)")


@case("scp-offset-past-the-end-of-its-ark")
def scp_offset_past_the_end_of_its_ark(ctx):
    stage5 = stage5_inputs(ctx)
    size = stage5.ark.stat().st_size
    point_line_2_at(stage5.scp, f"{stage5.ark}:{size + 100}")
    assert_error(*run_tool(ctx, "extract", *stage5.args),
                 f"{stage5.scp}:2: key '{BAD}': offset {size + 100} is past the end of ark "
                 f"'{stage5.ark}' ({size} bytes)")
    assert snapshot(stage5.out) == {}

    stage6 = stage6_inputs(ctx)
    ark = stage6.emb.with_suffix(".ark")
    point_line_2_at(stage6.emb, f"{ark}:{ark.stat().st_size}")
    assert_error(*run_tool(ctx, "score", *stage6.args),
                 f"{stage6.emb}:2: key 'spk1-b': offset {ark.stat().st_size} is past the end of "
                 f"ark '{ark}' ({ark.stat().st_size} bytes)")
    assert_untouched(stage6)


@case("scp-naming-a-missing-ark")
def scp_naming_a_missing_ark(ctx):
    stage5 = stage5_inputs(ctx)
    gone = stage5.ark.with_name("gone.ark")
    point_line_2_at(stage5.scp, f"{gone}:7")
    assert_error(*run_tool(ctx, "extract", *stage5.args),
                 f"{stage5.scp}:2: key '{BAD}': ark '{gone}' does not exist")
    assert snapshot(stage5.out) == {}

    stage6 = stage6_inputs(ctx)
    point_line_2_at(stage6.emb, f"{gone}:7")
    assert_error(*run_tool(ctx, "score", *stage6.args),
                 f"{stage6.emb}:2: key 'spk1-b': ark '{gone}' does not exist")
    assert_untouched(stage6)


@case("malformed-trial-line")
def malformed_trial_line(ctx):
    # VoxCeleb's own lists use 1/0 for target/nontarget (and the label first).
    stage6 = stage6_inputs(ctx)
    stage6.trials.write_text("spk1-a spk1-b target\nspk1-a spk2-a 0\n")
    validate_fails(ctx, stage6.data, f"{stage6.trials}:2: expected '<enroll> <test> "
                                     "target|nontarget', got 'spk1-a spk2-a 0'")
    assert_error(*run_tool(ctx, "score", *stage6.args),
                 f"{stage6.trials}:2: unknown label '0' (expected target or nontarget)")
    assert_untouched(stage6)


@case("trial-with-unknown-key")
def trial_with_unknown_key(ctx):
    stage6 = stage6_inputs(ctx)
    stage6.trials.write_text("spk1-a spk1-b target\nspk1-a spk9-z nontarget\n")
    validate_fails(ctx, stage6.data, f"{stage6.trials}:2: test utterance 'spk9-z' is not in "
                                     f"{stage6.data / 'wav.scp'}")
    assert_error(*run_tool(ctx, "score", *stage6.args),
                 f"{stage6.trials}:2: test key 'spk9-z' has no embedding in {stage6.emb}")
    assert_untouched(stage6)
    # With --skip-unknown the trial is left out and counted.
    status, err = run_tool(ctx, "score", *stage6.args, "--skip-unknown")
    assert status == 0, err
    assert_line(err, re.escape(f"score: 1 trials scored, 1 skipped for unknown keys -> "
                               f"{stage6.scores}"))
    assert stage6.scores.read_text().splitlines()[0].startswith("spk1-a spk1-b ")
    assert len(stage6.scores.read_text().splitlines()) == 1


def edited_recipe_config(old: str, new: str) -> str:
    """The recipe config with ``old`` replaced by ``new`` (which must be there to replace)."""
    text = RECIPE_CONFIG.read_text()
    assert old in text, f"{RECIPE_CONFIG} no longer holds {old!r}: update this case"
    return text.replace(old, new)


def train_rejects(ctx, config_text: str, message: str, regex_tail: str = "") -> None:
    """``xmodal.bin.train`` rejects the recipe config edited to ``config_text``, writing nothing."""
    config = ctx.tmp / "ssl.yaml"
    config.write_text(config_text)
    out = ctx.tmp / "exp"
    assert_error(*run_tool(ctx, "train", "--config", config, "--train-dir", ctx.tmp / "dump",
                           "--valid-dir", ctx.tmp / "dump", "--output-dir", out),
                 f"{config}: {message}", regex_tail)
    assert not out.exists()


@case("config-unknown-key")
def config_unknown_key(ctx):
    train_rejects(ctx, edited_recipe_config("lr_decay: 0.95", "lr_dekay: 0.95"),
                  "unknown key 'optim.lr_dekay' (allowed: ", r"[a-z_, ]+\)")


@case("config-wrong-type")
def config_wrong_type(ctx):
    train_rejects(ctx, edited_recipe_config("batch_size: 32", "batch_size: thirty-two"),
                  "key 'data.batch_size' has a wrong type: str is not an instance of int")


def training_dump(ctx, bad_feats: np.ndarray | None = None) -> Path:
    """A dump dir of three 16-frame face-tracks at TINY's size; BAD's features replaceable."""
    rng = np.random.default_rng(2)
    keys = (GOOD, BAD, "spk2-a")
    feats = {k: rng.normal(size=(64, 40)).astype(np.float32) for k in keys}
    if bad_feats is not None:
        feats[BAD] = bad_feats
    dump = ctx.tmp / "dump"
    write_scp(dump / "feats.scp", feats)
    # Face frames are uint8 arrays in kaldiio's numpy format, as the dump writes them.
    with kaldiio.WriteHelper(f"ark,scp:{dump / 'faces.ark'},{dump / 'faces.scp'}",
                             write_function="numpy") as writer:
        for key in keys:
            writer(key, np.zeros((16, 32, 32, 3), np.uint8))
    (dump / "utt2num_frames").write_text("".join(f"{k} 16\n" for k in keys))
    return dump


def training_config(ctx, embed_dim: int = 16, epochs: int = 1) -> Path:
    """A config of 2-step epochs of TINY's model on 12-frame windows of 3 tracks."""
    config = CrossModalConfig(model=ModelConfig(**{**vars(TINY), "embed_dim": embed_dim}))
    config.data.n_frames, config.data.batch_size, config.data.num_workers = 12, 3, 0
    config.data.batches_per_epoch, config.data.valid_batches = 2, 1
    config.optim.epochs = epochs
    path = ctx.tmp / f"ssl{embed_dim}-{epochs}.yaml"
    save_config(config, path)
    return path


def train_on(ctx, config: Path, dump: Path, out: Path, *extra) -> tuple[int, str]:
    return run_tool(ctx, "train", "--config", config, "--train-dir", dump, "--valid-dir", dump,
                    "--output-dir", out, "--device", "cpu", *extra)


@case("nan-inf-in-training-features")
def nan_inf_in_training_features(ctx):
    bad = np.random.default_rng(3).normal(size=(64, 40)).astype(np.float32)
    bad[:, 7] = np.nan
    dump = training_dump(ctx, bad)
    status, err = train_on(ctx, training_config(ctx), dump, ctx.tmp / "exp")
    assert_error(status, err, f"{dump / 'feats.scp'}:2: key '{BAD}' has NaN or inf features "
                 "in frames ", r"\d+-\d+")
    assert not list((ctx.tmp / "exp").glob("epoch*.pt"))


@case("resume-with-a-config-that-does-not-fit")
def resume_with_a_config_that_does_not_fit(ctx):
    dump, out = training_dump(ctx), ctx.tmp / "exp"
    status, err = train_on(ctx, training_config(ctx), dump, out)
    assert status == 0, err
    before = snapshot(out)
    status, err = train_on(ctx, training_config(ctx, embed_dim=8, epochs=2), dump, out,
                           "--resume")
    assert_error(status, err, f"{out / 'epoch1.pt'}: checkpoint does not fit this model "
                 "(shape differs: ", r".*\)")
    assert snapshot(out) == before   # config.yaml still describes the checkpoints


def extract_rejects_checkpoint(ctx, break_checkpoint, message: str, regex_tail: str) -> None:
    """Stage 5 refuses the checkpoint ``break_checkpoint(path)`` leaves, keeping the previous
    run's embeddings as they were."""
    stage5 = stage5_inputs(ctx)
    status, err = run_tool(ctx, "extract", *stage5.args)
    assert status == 0, err
    before = snapshot(stage5.out)
    model = stage5.exp / "model.pt"
    break_checkpoint(model)
    assert_error(*run_tool(ctx, "extract", *stage5.args, "--force"), f"{model}: {message}",
                 regex_tail)
    assert snapshot(stage5.out) == before


@case("checkpoint-of-another-architecture")
def checkpoint_of_another_architecture(ctx):
    other = ModelConfig(**{**vars(TINY), "embed_dim": 8})
    extract_rejects_checkpoint(
        ctx, lambda path: save_checkpoint({"model": TwoStreamModel(other).state_dict()}, path),
        "checkpoint does not fit this model (shape differs: audio_content.layers.3.bias, ",
        r".*\)")


@case("checkpoint-truncated")
def checkpoint_truncated(ctx):
    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])

    extract_rejects_checkpoint(ctx, truncate, "cannot read checkpoint (RuntimeError: ", r".*\)")


# --- using a trained model: the xmodal command ---------------------------------------------

def run_cli(ctx, *args) -> tuple[int, str]:
    """Run ``xmodal ARGS`` (``xmodal.cli.main``, the console script) in this process."""
    from xmodal.cli import main

    ctx.capsys.readouterr()
    status = main([str(a) for a in args])
    return status, ctx.capsys.readouterr().err


def cli_rejects(ctx, bad: Path, message: str, regex_tail: str = "") -> None:
    """``xmodal verify`` of a good and a bad recording, and ``xmodal embed`` of both, fail
    naming the bad one; embed writes nothing."""
    status, err = run_cli(ctx, "verify", "--model", ctx.exp, ctx.media.wav, bad)
    assert status == 1, err
    assert_line(err, re.escape(f"xmodal verify: error: {message}") + regex_tail)
    out = ctx.tmp / "out" / "emb.ark"
    status, err = run_cli(ctx, "embed", "--model", ctx.exp, "--out", out, ctx.media.wav, bad)
    assert status == 1, err
    assert_line(err, re.escape(f"xmodal embed: error: {message}") + regex_tail)
    assert snapshot(out.parent) == {}


@case("recording-to-verify-missing")
def recording_to_verify_missing(ctx):
    gone = ctx.tmp / "gone.wav"
    cli_rejects(ctx, gone, f"{gone}: no such file")


@case("recording-to-verify-empty")
def recording_to_verify_empty(ctx):
    empty = ctx.tmp / "empty.wav"
    empty.touch()
    cli_rejects(ctx, empty, f"{empty}: file is empty")


@case("recording-shorter-than-the-model-input")
def recording_shorter_than_the_model_input(ctx):
    # The tiny two-stream model needs 17 feature frames: 5 video frames of 640 samples.
    cli_rejects(ctx, ctx.media.short_wav, f"{ctx.media.short_wav}: too short: 0.020 s; the "
                "model needs at least 0.20 s (3200 samples at 16 kHz)")


@case("recording-silent")
def recording_silent(ctx):
    silent = ctx.tmp / "silent.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-b", "16", "-c", "1", str(silent), "trim", "0",
                    "1"], check=True)
    # sox dithers: the "silence" holds 1-LSB noise (3e-05), as many silent recordings do.
    cli_rejects(ctx, silent, f"{silent}: silent (peak amplitude ", r"[0-9.e-]+, below -80 dBFS\)")


def packed(ctx) -> Path:
    """A pack of the tiny experiment (no scoring mean, no calibration)."""
    from xmodal.pack.build import build_pack

    build_pack(ctx.exp, ctx.tmp / "pack", tag="tiny", mean_scp=None, cal_scp=None,
               cal_utt2spk=None)
    return ctx.tmp / "pack"


@case("model-dir-neither-pack-nor-experiment")
def model_dir_neither_pack_nor_experiment(ctx):
    pack = packed(ctx)
    (pack / "pack.json").unlink()
    (pack / "model.pt").unlink()
    status, err = run_cli(ctx, "verify", "--model", pack, ctx.media.wav, ctx.media.wav)
    assert status == 1, err
    assert_line(err, re.escape(f"xmodal verify: error: {pack}: not a pack (no pack.json) and "
                               "not an experiment dir (no config.yaml and model.pt)"))


@case("pack-of-another-format-version")
def pack_of_another_format_version(ctx):
    pack = packed(ctx)
    meta = json.loads((pack / "pack.json").read_text())
    (pack / "pack.json").write_text(json.dumps({**meta, "format_version": 99}))
    out = ctx.tmp / "emb.npy"
    status, err = run_cli(ctx, "embed", "--model", pack, "--out", out, ctx.media.wav)
    assert status == 1 and not out.exists(), err
    assert_line(err, re.escape(f"xmodal embed: error: {pack}/pack.json: pack format version 99; "
                               "this xmodal reads version 1 only (repack the model with "
                               "xmodal.bin.make_pack from its experiment dir)"))


@case("emotion-speaker-with-one-utterance")
def emotion_speaker_with_one_utterance(ctx):
    # Speaker normalisation compares each utterance with its speaker's others: one is too few.
    task = ctx.tmp / "tasks" / "crema_d"
    rng = np.random.default_rng(0)
    for split, speakers in (("train", "ab"), ("valid", "cd"), ("test", "ef")):
        keys = [f"{spk}-{u}" for spk in speakers for u in range(2)][:3 if split == "test" else 4]
        (task / split).mkdir(parents=True)
        write_scp(task / split / "feats.scp", {k: rng.normal(size=(20, 40)) for k in keys})
        (task / split / "utt2spk").write_text("".join(f"{k} {k[0]}\n" for k in keys))
        (task / split / "utt2label").write_text(
            "".join(f"{k} {('neutral', 'angry')[int(k[-1])]}\n" for k in keys))
    (ctx.tmp / "c.yaml").write_text("kind: linear\nmax_epochs: 2\npatience: 2\n")
    out = ctx.tmp / "out"
    assert_error(*run_tool(ctx, "downstream", "--mean-logmel", "--heads", "content",
                           "--task-root", task.parent, "--tasks", "crema_d",
                           "--speaker-norm-tasks", "crema_d", "--config", ctx.tmp / "c.yaml",
                           "--out-dir", out, "--n-boot", "10"),
                 f"{task}/test/utt2spk: speaker 'f' has one utterance ('f-0'): speaker "
                 "normalisation needs at least 2")
    assert not list(out.glob("*.json"))
    assert_no_temporary_files(out)


# --- the tests --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, media, exp_dir, capsys, one_thread):
    CASES[name](SimpleNamespace(tmp=tmp_path, media=media, exp=exp_dir, capsys=capsys))


def test_readme_lists_every_case():
    """The README table names every case, in the catalogue's order, and no other."""
    section = (REPO / "README.md").read_text().split("## What happens on bad input")[1]
    section = section.split("\n## ")[0]
    assert re.findall(r"test_bad_input\[([\w-]+)\]", section) == list(CASES)
