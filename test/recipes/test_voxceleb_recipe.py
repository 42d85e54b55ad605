"""egs/voxceleb/v1 end to end on the synthetic corpus written in the official VoxCeleb layouts.

Every line of the recipe's local/ runs here, with tiny configs passed as run.sh options.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from xmodal.data.datadir import read_table

REPO = Path(__file__).resolve().parents[2]
MODEL = {"width": 0.125, "face_size": 32, "face_channels": 3, "n_mels": 40, "embed_dim": 32,
         "head_hidden": 32, "trunk_dim": 32}


def recipe_copy(tmp: Path) -> Path:
    """The recipe in a scratch tree that mirrors egs/<corpus>/v1 (outputs stay out of the repo)."""
    src = REPO / "egs" / "voxceleb" / "v1"
    dst = tmp / "egs" / "voxceleb" / "v1"
    dst.mkdir(parents=True)
    for name in ("run.sh", "path.sh", "cmd.sh", "local", "conf"):
        (shutil.copytree if (src / name).is_dir() else shutil.copy2)(src / name, dst / name)
    (dst / "utils").symlink_to(REPO / "utils")
    (dst / "xmodal.sh").symlink_to(REPO / "egs" / "TEMPLATE" / "xmodal.sh")
    return dst


def write(path: Path, obj: dict) -> str:
    path.write_text(yaml.safe_dump(obj))
    return str(path.name if path.parent.name == "conf" else path)


def test_voxceleb_recipe_runs_every_stage(corpus_factory, tmp_path: Path):
    # The tiny corpus with four VoxCeleb1 dev speakers: two train (Table 4, the supervised
    # baseline), two calibrate the packs (stage 9).
    tiny_corpus = corpus_factory(tmp_path / "corpus", "--vox1-dev-speakers", "4")
    recipe = recipe_copy(tmp_path)
    conf = recipe / "conf"
    # With the waveform: Shukla et al.'s raw-waveform encoder reads it.
    (conf / "tiny_dump.yaml").write_text("face_size: 32\nface_gray: false\nn_mels: 40\n"
                                         "av_tolerance_s: 0.1\nwaveform: true\n")
    ssl = {"model": MODEL,
           "data": {"n_frames": 12, "batch_size": 4, "batches_per_epoch": 2, "valid_batches": 2,
                    "num_workers": 0, "apply_av_offset": True},  # as the recipe's configs
           "optim": {"epochs": 1, "lr": 0.05},
           "loss": {"content": True, "identity": True, "disentangle": True, "adversary_dim": 8}}
    write(conf / "tiny_dis.yaml", ssl)
    write(conf / "tiny_sup.yaml", {"method": "supervised", "model": MODEL,
                                   "data": {"crop_frames": 48, "batch_size": 4,
                                            "batches_per_epoch": 2, "num_workers": 0},
                                   "optim": {"epochs": 1, "lr": 0.05}})
    write(conf / "tiny_ft.yaml", {"steps": 5, "batch_classes": 2})
    # Stafylakis et al.: reconstruction alone, and semi-supervised on the 2:4 spk_dev budget;
    # the phones come from a CTM, as a user's aligner would write it.
    recon = {"method": "reconstruction",
             "model": {"n_mels": 40, "channels": 16, "pooled_dim": 16, "embed_dim": 8},
             "decoder": {"content_dim": 4, "hidden": 8, "layers": 1},
             "data": {"segment_a_frames": 32, "segment_b_frames": 32, "batch_size": 2,
                      "batches_per_epoch": 2, "valid_batches": 1, "num_workers": 0},
             "optim": {"epochs": 1, "name": "adam", "lr": 1e-3}}
    write(conf / "tiny_recon.yaml", recon)
    recon["data"].update(labels="labelled", labelled_batch_size=2)
    recon["loss"] = {"classify_weight": 1.0}
    write(conf / "tiny_recon_semi.yaml", recon)
    # Content inputs without an aligner: a CTC recogniser trained on a transcribed corpus the
    # user has (audio only, as LibriSpeech: here the corpus' VoxCeleb2 test speakers with the
    # video list removed), and the frozen content head of a cross-modal model.
    recon["data"].update(labels="none", labelled_batch_size=0)
    recon["loss"] = {"classify_weight": 0.0}
    for tag, content in (("post", "phone_posteriors"), ("cemb", "content_embedding"),
                         ("cunits", "content_units")):
        recon["data"]["content"] = content
        write(conf / f"tiny_recon_{tag}.yaml", recon)
    # Shukla et al.: the paper's kind of audio encoder (raw waveform), tiny.
    write(conf / "tiny_facegen.yaml", {
        "method": "face_generation",
        "model": {"audio_encoder": "waveform", "audio_width": 0.0625, "audio_dim": 16,
                  "face_size": 32, "face_channels": 3, "gray": True, "gen_channels": 4,
                  "gen_levels": 2},
        "data": {"n_frames": 12, "still_frame": "outside_window", "batch_size": 2,
                 "batches_per_epoch": 2, "valid_batches": 1, "num_workers": 0},
        "optim": {"epochs": 1, "name": "adam", "lr": 1e-3}})
    write(conf / "tiny_recogniser.yaml", {"hidden": 8, "kernel_size": 3, "epochs": 2})
    transcribed = tmp_path / "librispeech_like"
    subprocess.run([sys.executable, "-m", "xmodal.bin.prepare_voxceleb", "vox2", "--root",
                    str(tiny_corpus / "voxceleb2"), "--subset", "test", "--out-dir",
                    str(transcribed), "--text", str(tiny_corpus / "annotations" / "text")],
                   check=True, capture_output=True)
    (transcribed / "video.scp").unlink()
    # Downstream tasks on corpora written in the CREMA-D, RAVDESS and LRW download layouts.
    # The tiny corpus has two videos per VoxCeleb1 speaker, too few for an identification
    # split: no speaker_id here (its preparation is tested in test/data).
    downstream = tmp_path / "downstream_corpora"
    subprocess.run([sys.executable, "-m", "xmodal.bin.make_downstream_corpora", "--out",
                    str(downstream), "--size", "32", "--crema-actors", "4",
                    "--crema-utts-per-actor", "6", "--ravdess-actors", "4",
                    "--ravdess-utts-per-actor", "8", "--lrw-words", "3",
                    "--lrw-train-speakers", "2", "--lrw-val-speakers", "1",
                    "--lrw-test-speakers", "1", "--lrw-train-clips", "2", "--lrw-val-clips", "1",
                    "--lrw-test-clips", "1"], check=True, capture_output=True)
    for name, kind in (("tiny_down.yaml", "linear"), ("tiny_ceiling.yaml", "conv")):
        write(conf / name, {"kind": kind, "hidden": 4, "max_epochs": 3, "patience": 2})
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}
    # The corpus is tiny: every dev face-track and both test speakers (paper: 20% and 120).
    # Two training steps cannot leave chance, so stage 4's chance check is off here; the
    # check itself is exercised after the run.
    proc = subprocess.run(
        ["./run.sh", "--vox1-root", str(tiny_corpus / "voxceleb1"),
         "--vox2-root", str(tiny_corpus / "voxceleb2"), "--nj", "2", "--ngpu", "0",
         "--num-nodes", "1", "--cmd", "local", "--audio", "wav", "--dev-fraction", "1",
         "--test-speakers", "2", "--trials", "O E H",
         "--dump-config", "conf/tiny_dump.yaml", "--ssl-configs", "conf/tiny_dis.yaml",
         "--supervised-config", "conf/tiny_sup.yaml", "--finetune-config", "conf/tiny_ft.yaml",
         "--finetune-subsets", "2:4 all", "--calibration-speakers", "2",
         "--finetune-tags", "tiny_dis", "--probe-tags", "tiny_dis", "--ssl-eval-batches", "2",
         "--chance-check", "false", "--asnorm-top-k", "2", "--leakage-steps", "5",
         "--phones-ctm", str(tiny_corpus / "annotations" / "phones.ctm"),
         "--recon-configs", "conf/tiny_recon.yaml conf/tiny_recon_semi.yaml "
         "conf/tiny_recon_post.yaml conf/tiny_recon_cemb.yaml conf/tiny_recon_cunits.yaml",
         "--semisup-subset", "2:4", "--transcribed-data", str(transcribed),
         "--facegen-configs", "conf/tiny_facegen.yaml",
         "--recogniser-config", "conf/tiny_recogniser.yaml",
         "--content-model-config", "conf/tiny_dis.yaml",
         "--crema-root", str(downstream / "crema_d"), "--ravdess-root",
         str(downstream / "ravdess"), "--lrw-root", str(downstream / "lrw"),
         "--speaker-id", "false", "--downstream-config", "conf/tiny_down.yaml",
         "--downstream-ceiling-config", "conf/tiny_ceiling.yaml"],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = recipe / "data"
    for name in ("ssl_train", "ssl_test", "spk_dev", "spk_test"):
        assert (data / name / "spk2gender").exists()
        assert (recipe / "dump" / name / ".done").exists()
    for name in ("ssl_train", "ssl_test"):
        assert (data / name / "utt2av_offset").exists()
        assert all(line.split()[1].startswith(str(recipe / "wav" / "voxceleb2"))
                   for line in (data / name / "wav.scp").read_text().splitlines())
    assert (data / "spk_dev" / "utt2iden_split").exists()
    # E and H name dev speakers' utterances: spk_test holds them; O_orig came along unasked.
    assert any(line.startswith("id1000") for line in (data / "spk_test" / "utt2spk").read_text()
               .splitlines())
    assert (data / "spk_test" / "trials").read_text() == \
        (data / "spk_test" / "trials_O").read_text()
    assert (data / "spk_test" / "trials_O_orig").exists()
    exp = recipe / "exp"
    assert (exp / "tiny_dis" / "ssl_eval.json").exists()
    # The reconstruction models: trained on ssl_train's phones (the semi-supervised one on the
    # 2:4 labelled budget too), not put through the face-track tasks, embedded and scored.
    for tag in ("tiny_recon", "tiny_recon_semi", "tiny_recon_post", "tiny_recon_cemb",
                "tiny_recon_cunits"):
        assert not (exp / tag / "ssl_eval.json").exists()
        assert (exp / tag / "scores" / "trials_O.metrics.json").exists()
        assert f"| {tag} |" in (exp / "RESULTS.md").read_text()
    assert (recipe / "dump" / "ssl_train" / "frame_phones").exists()
    # Their upstream models, trained once into dump/upstream, and what they wrote.
    upstream = recipe / "dump" / "upstream"
    assert (recipe / "dump" / "transcribed" / ".done").exists()
    assert json.loads((upstream / "phone_recogniser" / "per.json").read_text())
    assert (upstream / "content_model" / "model.pt").exists()
    for name in ("ssl_train", "ssl_test"):
        for table in ("phone_post.scp", "phone_post.txt", "content_emb.scp",
                      "frame_content_units"):
            assert (recipe / "dump" / name / table).exists(), (name, table)
    for content in ("phones", "units", "phone_posteriors", "content_embedding", "content_units"):
        assert (exp / f"content_input_{content}.json").exists(), content
    # Their own architecture untrained is a floor of its own.
    assert (exp / "random_init_xvector" / "scores" / "trials_O.metrics.json").exists()
    assert "| Untrained x-vector (floor) |" in (exp / "RESULTS.md").read_text()
    assert "## Stafylakis et al. 2019" in (exp / "RESULTS.md").read_text()
    assert (exp / "tiny_dis" / "emb" / "spk_test" / ".done").exists()
    for trials in ("trials_O", "trials_E", "trials_H"):
        for scores in (exp / "tiny_dis" / "scores", exp / "supervised_spk_dev_all" / "scores",
                       exp / "tiny_dis" / "finetune" / "spk_dev_all" / "scores"):
            assert (scores / f"{trials}.metrics.json").exists()
    # Table 3 is raw cosine; mean-subtracted and AS-norm scores (cohort: the unlabelled
    # ssl_train sample) are written beside, for the SSL models and in stage 7 too.
    for scores in (exp / "tiny_dis" / "scores", exp / "supervised_spk_dev_all" / "scores",
                   exp / "tiny_dis" / "finetune" / "spk_dev_2_4" / "scores"):
        for kind in ("meansub", "asnorm"):
            assert (scores / f"trials_O.{kind}.metrics.json").exists(), (scores, kind)
    assert (recipe / "dump" / "ssl_train_sample" / "feats.scp").exists()
    assert "EER %, AS-norm |" in (exp / "RESULTS.md").read_text()
    # A label budget of N speakers and M utterances (the paper's kind) is its own data dir.
    assert len((data / "spk_dev_2_4" / "utt2spk").read_text().splitlines()) == 4
    assert (exp / "tiny_dis" / "finetune" / "spk_dev_2_4" / "scores" / "trials_O.metrics.json").exists()
    assert (exp / "supervised_spk_dev_2_4" / "scores" / "trials_O.metrics.json").exists()
    # VoxCeleb has no transcripts: the content probe is skipped, and says so.
    assert not (exp / "tiny_dis" / "probe.json").exists()
    assert "content probe skipped" in proc.stdout + proc.stderr
    results = (exp / "RESULTS.md").read_text()
    assert "## Table 2" in results and "| tiny_dis |" in results
    # Stage 4's post-hoc leakage meter ran on the model that trained both heads.
    leakage = json.loads((exp / "tiny_dis" / "ssl_eval.json").read_text())["leakage"]
    assert set(leakage) == {"trained", "untrained"}
    assert any(line.startswith("| tiny_dis | ") and line.count("|") == 8
               for line in results.split("post-hoc leakage meter")[1].splitlines())
    # The face generator: trained on the dumped waveform, its held-out tests written (stage 4,
    # no check: two steps), its audio encoder embedded and scored like every encoder.
    assert (recipe / "dump" / "ssl_train" / "wave.scp").exists()
    generation = json.loads((exp / "tiny_facegen" / "generation_eval.json").read_text())
    assert generation["n_identities"] == 2 and "failures" in generation
    assert (exp / "tiny_facegen" / "generation.png").stat().st_size > 0
    assert (exp / "tiny_facegen" / "scores" / "trials_O.metrics.json").exists()
    assert "## Shukla et al. 2020" in results and "| tiny_facegen |" in results
    # Stage 8's downstream tasks: every encoder's two heads, the floors and the ceiling.
    for task in ("crema_d", "ravdess", "lrw"):
        assert (recipe / "dump" / "downstream" / task / "test" / ".done").exists()
        for tag in ("tiny_dis", "tiny_recon", "tiny_facegen", "supervised_spk_dev_all",
                    "random_init", "random_init_xvector"):
            for head in ("identity", "content"):
                result = json.loads((exp / tag / "downstream" / f"{task}_{head}.json")
                                    .read_text())
                assert 0 <= result["ci"][0] <= result["accuracy"] <= result["ci"][1] <= 1
                # The emotion tasks read each speaker against its own utterances.
                assert result["speaker_normalised"] == (task != "lrw")
        assert (exp / "mean_logmel" / "downstream" / f"{task}_content.json").exists()
        assert (exp / "downstream_ceiling" / "downstream" / f"{task}_content.json").exists()
    table = results.split("## Downstream tasks")[1]
    assert "| emotion (CREMA-D) | emotion (RAVDESS) | words (LRW) |" in table
    assert "| supervised end to end (ceiling) |" in table and "| tiny_dis | identity |" in table
    assert "| log-mel frames (floor) |" in table
    assert "Speaker-normalised (emotion (CREMA-D), emotion (RAVDESS))" in table
    # Without speaker_id, spk_dev trains as it is, less its two calibration speakers, which
    # no training set holds.
    assert not (data / "spk_dev_no_cal_no_iden_test").exists()
    cal = set(read_table(data / "spk_cal" / "spk2utt"))
    assert len(cal) == 2 and not cal & set(read_table(data / "spk_dev_no_cal" / "spk2utt"))
    for budget in ("spk_dev_2_4", "spk_dev_all"):
        assert not cal & set(read_table(data / budget / "spk2utt"))
    # Stage 9: a pack of every trained encoder, calibrated on spk_cal (or, for a tiny model
    # whose scores do not rank those targets first, with the reason why not).
    tags = ["tiny_dis", "tiny_recon", "tiny_recon_semi", "tiny_recon_post", "tiny_recon_cemb",
            "tiny_recon_cunits", "tiny_facegen", "supervised_spk_dev_all"]
    for tag in tags:
        meta = json.loads((exp / tag / "pack" / "pack.json").read_text())
        assert (exp / tag / "emb" / "spk_cal" / ".done").exists()
        assert meta["provenance"]["calibration_speakers"] == 2
        assert (meta["calibration"] is None) == ("calibration_error" in meta["provenance"])
        assert (exp / tag / "pack" / "calibration_eval.json").exists() == \
            (meta["calibration"] is not None)
        assert f"| `{tag}/pack` |" in results
    assert json.loads((exp / "tiny_facegen" / "pack" / "pack.json").read_text())["input"][
        "kind"] == "waveform"
    # A second run finds every stage finished and redoes nothing (the wav copies included).
    before = {p: p.stat().st_mtime_ns for p in [*exp.rglob("*"), *(recipe / "wav").rglob("*")]
              if p.is_file() and p.name != "RESULTS.md" and not p.name.endswith(".png")}
    again = subprocess.run(proc.args, cwd=recipe, env=env, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before
    # With the chance check on, stage 4 stops on the untrained model, names its config, and
    # leaves no ssl_eval.json behind that a rerun would take as finished.
    (exp / "tiny_dis" / "ssl_eval.json").unlink()
    checked = subprocess.run(["./run.sh", "--stage", "4", "--stop-stage", "4", "--ngpu", "0",
                              "--ssl-configs", "conf/tiny_dis.yaml", "--ssl-eval-batches", "2"],
                             cwd=recipe, env=env, capture_output=True, text=True, timeout=300)
    assert checked.returncode != 0
    assert "exp/tiny_dis/config.yaml: the content loss was trained" in checked.stderr
    assert "conf/tiny_dis.yaml did not learn" in checked.stdout + checked.stderr
    assert not (exp / "tiny_dis" / "ssl_eval.json").exists()

    # Stage 3 on two "nodes" (two run.sh on localhost, as srun would start them): torchrun's
    # c10d rendezvous joins them into one 2-process training, each node logging on its own.
    write(conf / "tiny_nodes.yaml", ssl)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nodes = [subprocess.Popen(
        ["./run.sh", "--stage", "3", "--stop-stage", "3", "--ngpu", "0", "--num-nodes", "2",
         "--rdzv-endpoint", f"127.0.0.1:{port}", "--ssl-configs", "conf/tiny_nodes.yaml"],
        cwd=recipe, env={**env, "SLURM_JOB_ID": f"test{port}", "SLURM_NODEID": str(node)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for node in (0, 1)]
    for node in nodes:
        output, _ = node.communicate(timeout=600)
        assert node.returncode == 0, output[-3000:]
    trained = exp / "tiny_nodes"
    assert (trained / "model.pt").exists()
    assert {p.name for p in trained.glob("train.node*.log")} == {"train.node0.log",
                                                                 "train.node1.log"}
    entry = (trained / "train_log.jsonl").read_text().splitlines()[-1]
    sums = yaml.safe_load(entry)["rank_param_sums"]
    assert len(sums) == 2 and sums[0] == sums[1]

    # --train-jobs 2: two configs train at once, each pinned to half the cores; one that fails
    # (an unknown config key) stops the stage after the other has finished, and says so.
    write(conf / "tiny_side.yaml", ssl)
    write(conf / "tiny_broken.yaml", {**ssl, "optim": {**ssl["optim"], "lr_dekay": 0.9}})
    side = subprocess.run(
        ["./run.sh", "--stage", "3", "--stop-stage", "3", "--ngpu", "0", "--train-jobs", "2",
         "--ssl-configs", "conf/tiny_broken.yaml conf/tiny_side.yaml"],
        cwd=recipe, env={k: v for k, v in env.items() if k != "OMP_NUM_THREADS"},
        capture_output=True, text=True, timeout=600)
    assert side.returncode != 0
    assert "stage 3: 1 job(s) failed" in side.stdout
    assert "lr_dekay" in (exp / "tiny_broken" / "train.log").read_text()
    assert (exp / "tiny_side" / "model.pt").exists()
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert f"{threads} torch threads per process" in (exp / "tiny_side" / "train.log").read_text()
    # Side-by-side training is for CPUs; with GPUs it is refused before anything runs.
    gpu = subprocess.run(["./run.sh", "--stage", "3", "--stop-stage", "3", "--ngpu", "1",
                          "--train-jobs", "2", "--ssl-configs", "conf/tiny_side.yaml"],
                         cwd=recipe, env=env, capture_output=True, text=True, timeout=300)
    assert gpu.returncode != 0 and "--train-jobs 2 is for CPU training" in gpu.stdout


def test_cmd_sh_selects_the_backend(tmp_path: Path):
    recipe = recipe_copy(tmp_path)

    def run(backend: str, ngpu: int) -> subprocess.CompletedProcess:
        """Source cmd.sh as xmodal.sh does, with what run.sh exports; print two launchers."""
        script = f"set -eu; cmd_backend={backend} cmd_ngpu={ngpu}; . ./cmd.sh; " \
                 "echo $dump_cmd; echo $train_cmd"
        return subprocess.run(["bash", "-c", script], cwd=recipe, capture_output=True, text=True)

    local = run("local", 0)
    assert local.returncode == 0 and local.stdout.count("--backend local") == 2
    slurm = run("slurm", 2)
    assert slurm.returncode == 0 and slurm.stdout.count("--backend slurm") == 2
    assert "--slurm-opts=--gres=gpu:2" in slurm.stdout.splitlines()[1]
    assert "--gres" not in run("slurm", 0).stdout
    bad = subprocess.run(["./run.sh", "--cmd", "lsf", "--stage", "9"], cwd=recipe,
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "cmd.sh: unknown backend 'lsf'" in bad.stderr
