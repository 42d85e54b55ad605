"""Stage 2: dump jobs + merge, read back with kaldiio; skips, trials, completeness, kills."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import kaldiio
import numpy as np
import pytest

from xmodal.bin import dump as dump_cli
from xmodal.bin import merge_dump as merge_dump_cli
from xmodal.bin import split_data
from xmodal.data.audio_io import read_audio
from xmodal.data.datadir import DataDir, read_table, split_data_dir
from xmodal.data.dump import DumpConfig, dump_data_dir, fit_length
from xmodal.data.dump_merge import DumpError, merge_dump
from xmodal.data.features import logmel_for_video
from xmodal.data.validate import validate_data_dir
from xmodal.data.video_io import read_video
from xmodal.data.voxceleb_prep import prepare_vox1, prepare_vox2
from xmodal.jobs.launcher import run_jobs

CONFIG = DumpConfig(face_size=32)


def dump_all(data_dir, out_dir, num_jobs=2, config=CONFIG):
    split = split_data_dir(data_dir, num_jobs)
    for job in range(1, num_jobs + 1):
        dump_data_dir(split / str(job), out_dir, job, config)
    return merge_dump(data_dir, out_dir, num_jobs)


@pytest.fixture
def vox2_dev(vox_tree, tmp_path):
    prepare_vox2(vox_tree.vox2, "dev", tmp_path / "data" / "dev", text_file=vox_tree.text)
    return tmp_path / "data" / "dev"


def test_round_trip_equals_direct_computation(vox2_dev, vox_tree, tmp_path):
    out = tmp_path / "dump" / "dev"
    summary = dump_all(vox2_dev, out)
    assert summary.lines() == ["3 utterances dumped, 0 skipped"]
    feats = kaldiio.load_scp(str(out / "feats.scp"))
    faces = kaldiio.load_scp(str(out / "faces.scp"))
    num_frames = read_table(out / "utt2num_frames")
    source = DataDir(vox2_dev).load()
    for utt, (video_s, _, _) in vox_tree.vox2_tracks["dev"].items():
        n = round(25 * video_s)
        assert num_frames[utt] == str(n)
        audio, _ = read_audio(source.wav[utt])
        assert 640 * n < len(audio) <= 640 * n + 1024  # decoded AAC is a little longer
        expected_feats = logmel_for_video(fit_length(audio, 640 * n), n)
        expected_faces, _ = read_video(source.video[utt], 32, gray=False)
        assert feats[utt].dtype == np.float32 and feats[utt].shape == (4 * n, 40)
        assert faces[utt].dtype == np.uint8 and faces[utt].shape == (n, 32, 32, 3)
        np.testing.assert_array_equal(feats[utt], expected_feats)
        np.testing.assert_array_equal(faces[utt], expected_faces)
    # The dump dir is itself a valid data dir of the dumped utterances.
    validate_data_dir(out, need_video=True)
    assert read_table(out / "text") == source.text
    assert (out / ".done").is_file() and read_table(out / "skipped") == {}
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".done"]


def test_av_length_mismatch_is_skipped_with_reason(vox_tree, tmp_path):
    prepare_vox2(vox_tree.vox2, "test", tmp_path / "test")
    out = tmp_path / "dump"
    summary = dump_all(tmp_path / "test", out)
    assert summary.n_dumped == 1 and summary.n_skipped == 1
    assert summary.skip_reasons == {"audio/video length mismatch": 1}
    skipped = read_table(out / "skipped")
    assert list(skipped) == ["id09000/EEEEEEEEEEE/00001"]
    assert "25 frames" in skipped["id09000/EEEEEEEEEEE/00001"]
    assert "+1.048 s" in skipped["id09000/EEEEEEEEEEE/00001"]
    assert list(read_table(out / "feats.scp")) == ["id09000/DDDDDDDDDDD/00001"]
    assert list(read_table(out / "utt2spk")) == ["id09000/DDDDDDDDDDD/00001"]
    # A wide enough tolerance keeps it (cropped to the video's length).
    summary = dump_all(tmp_path / "test", out, config=DumpConfig(face_size=32, av_tolerance_s=1.1))
    assert summary.n_dumped == 2
    assert kaldiio.load_scp(str(out / "feats.scp"))["id09000/EEEEEEEEEEE/00001"].shape == (100, 40)


def test_audio_only_set_and_trials_filtered(vox_tree, tmp_path):
    prepare_vox1(vox_tree.vox1, tmp_path / "dev", tmp_path / "test", ["veri_test2.txt"])
    # Break one utterance named by two trials.
    broken = tmp_path / "broken.wav"
    wav = (vox_tree.vox1 / "wav" / "id19001/KKKKKKKKKKK/00001.wav").read_bytes()
    broken.write_bytes(wav[:len(wav) // 2])
    wav_scp = tmp_path / "test" / "wav.scp"
    lines = wav_scp.read_text().splitlines()
    lines[2] = f"id19001/KKKKKKKKKKK/00001 {broken}"
    wav_scp.write_text("\n".join(lines) + "\n")
    out = tmp_path / "dump"
    summary = dump_all(tmp_path / "test", out)
    assert summary.n_dumped == 3 and summary.skip_reasons == {"unreadable media": 1}
    assert summary.trials_kept == {"trials": 2} and summary.trials_dropped == {"trials": 2}
    assert "trials: kept 2 trials, dropped 2 naming skipped utterances" in summary.lines()
    assert not (out / "faces.scp").exists()
    feats = kaldiio.load_scp(str(out / "feats.scp"))
    num_frames = read_table(out / "utt2num_frames")
    for i, utt in enumerate(vox_tree.vox1_test):
        if utt != "id19001/KKKKKKKKKKK/00001":
            n_samples = round(16000 * (0.5 + 0.1 * (len(vox_tree.vox1_dev) + i)))
            assert num_frames[utt] == str(n_samples // 640)
            assert feats[utt].shape == (4 * (n_samples // 640), 40)
    assert len((out / "trials").read_text().splitlines()) == 2
    validate_data_dir(out)


def test_incomplete_jobs_are_detected(vox2_dev, tmp_path):
    out = tmp_path / "dump"
    dump_all(vox2_dev, out)
    (out / "feats.2.scp").unlink()
    with pytest.raises(DumpError, match=f"dump job 2 did not complete: {out / 'feats.2.scp'} is "
                                        "missing"):
        merge_dump(vox2_dev, out, 2)
    # Merging fewer jobs than were run leaves utterances unaccounted for.
    with pytest.raises(DumpError, match=r"1 utterance\(s\) of .* are neither dumped nor skipped"):
        merge_dump(vox2_dev, out, 1)
    (out / "feats.1.ark").unlink()
    dump_data_dir(vox2_dev / "split2" / "2", out, 2, CONFIG)
    with pytest.raises(DumpError, match="feats.1.ark' named in an scp does not exist"):
        merge_dump(vox2_dev, out, 2)


def test_rerunning_a_job_withdraws_the_done_marker(vox2_dev, tmp_path):
    out = tmp_path / "dump"
    dump_all(vox2_dev, out)
    assert (out / ".done").exists()
    dump_data_dir(vox2_dev / "split2" / "1", out, 1, CONFIG)
    assert not (out / ".done").exists()


def test_killed_job_leaves_nothing_that_looks_complete(vox_tree, tmp_path):
    prepare_vox2(vox_tree.vox2, "dev", tmp_path / "d", audio="pipe")
    out = tmp_path / "dump"
    proc = subprocess.Popen([sys.executable, "-m", "xmodal.bin.dump", "--data-dir",
                             str(tmp_path / "d"), "--out-dir", str(out), "--job", "1"],
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (out / ".feats.1.ark.tmp").exists() and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert not any((out / name).exists() for name in
                   ("feats.1.ark", "feats.1.scp", "faces.1.scp", "skipped.1", "utt2num_frames.1"))
    with pytest.raises(DumpError, match="dump job 1 did not complete"):
        merge_dump(tmp_path / "d", out, 1)


def test_pipeline_through_launcher_and_clis(vox_tree, tmp_path, capsys):
    """Stage 2 as the recipe runs it: each job dumps its part of every set."""
    data, out = tmp_path / "data", tmp_path / "dump"
    data_test, out_test = tmp_path / "data_test", tmp_path / "dump_test"
    prepare_vox2(vox_tree.vox2, "dev", data, audio="pipe")
    prepare_vox2(vox_tree.vox2, "test", data_test, audio="pipe")
    config = tmp_path / "dump.yaml"
    config.write_text("face_size: 24\nface_gray: true\n")
    assert split_data.main([str(data), "2"]) == 0
    assert split_data.main([str(data_test), "2"]) == 0
    log = tmp_path / "log" / "dump.JOB.log"
    run_jobs([sys.executable, "-m", "xmodal.bin.dump", "--config", str(config), "--data-dir",
              f"{data}/split2/JOB", f"{data_test}/split2/JOB", "--out-dir", str(out),
              str(out_test), "--job", "JOB"], (1, 2), str(log), max_parallel=2)
    assert "dump job 1: 2 utterances dumped, 0 skipped" in (tmp_path / "log" / "dump.1.log"
                                                             ).read_text()
    assert merge_dump_cli.main(["--data-dir", str(data), str(data_test), "--out-dir", str(out),
                                str(out_test), "--num-jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert f"merge_dump {out}: 3 utterances dumped, 0 skipped" in err
    # The fixture's vox2 test set has one utterance whose audio and video lengths disagree.
    assert f"merge_dump {out_test}: 1 utterances dumped, 1 skipped" in err
    assert (out_test / ".done").exists()
    assert list(kaldiio.load_scp(str(out_test / "feats.scp"))) == ["id09000/DDDDDDDDDDD/00001"]
    faces = kaldiio.load_scp(str(out / "faces.scp"))
    assert faces["id00001/AAAAAAAAAAA/00002"].shape == (20, 24, 24, 1)
    assert dump_cli.main(["--data-dir", f"{data}/split2/1", f"{data_test}/split2/1",
                          "--out-dir", str(out), "--job", "1"]) == 1
    assert "2 --data-dir but 1 --out-dir" in capsys.readouterr().err
    assert merge_dump_cli.main(["--data-dir", str(data_test), "--out-dir", str(out_test),
                                "--num-jobs", "3", "--force", "--job-log", str(log)]) == 1
    assert (f"dump job 3 did not complete: {out_test}/feats.3.scp is missing "
            f"(see {tmp_path}/log/dump.3.log)") in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("face_sise: 24\n")
    assert dump_cli.main(["--config", str(bad), "--data-dir", f"{data}/split2/1",
                          "--out-dir", str(out), "--job", "1"]) == 1
    assert "unknown key 'face_sise'" in capsys.readouterr().err
    assert merge_dump_cli.main(["--data-dir", str(data), "--out-dir", str(out),
                                "--num-jobs", "3", "--force"]) == 1
    assert capsys.readouterr().err.startswith("error: dump job 3 did not complete")


def test_every_recipe_dump_config_loads_and_the_waveform_one_differs_only_there():
    """The recipes' stage-2 configs are checked like training configs (an unknown key is an
    error); the VoxCeleb recipe's waveform variant is its dump.yaml plus the waveform."""
    from dataclasses import asdict
    from pathlib import Path

    from xmodal.config import load_config

    repo = Path(__file__).resolve().parents[2]
    paths = sorted(repo.glob("egs/*/v1/conf/**/dump*.yaml"))
    configs = {str(p.relative_to(repo)): asdict(load_config(p, DumpConfig)) for p in paths}
    assert len(configs) >= 4
    base = configs["egs/voxceleb/v1/conf/dump.yaml"]
    waveform = configs["egs/voxceleb/v1/conf/dump_waveform.yaml"]
    assert {k for k in base if base[k] != waveform[k]} == {"waveform"} and waveform["waveform"]
