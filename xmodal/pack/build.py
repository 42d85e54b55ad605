"""Writing a pack (``xmodal.pack.format``) from an experiment: calibration, held-out check,
model card.

Calibration is trained on every pair of utterances of a calibration set: labelled speakers
held out from everything else (the recipes' ``spk_cal``: not the test speakers, not the
speakers the Table 4 layers and the supervised baselines are trained on). Pairs of one
speaker are targets, except two utterances of one video (VoxCeleb keys
``<spk>/<video>/<utt>``), which no trial list holds; pairs of two speakers are non-targets. The
score calibrated is exactly the one ``PackedModel.score_embeddings`` computes (cosine after
subtracting the pack's mean), on embeddings stage 5 wrote.

The held-out check applies the calibration to a test set's stage-6 score file of the same
kind and reports EER, minDCF, actual DCF, Cllr and minCllr with speaker-bootstrap intervals
(``calibration_eval.json``).
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.data.datadir import atomic_dir, read_table
from xmodal.eval.bootstrap import calibrated_speaker_bootstrap, speaker_bootstrap, trial_speakers
from xmodal.eval.calibration import Calibration, fit_calibration
from xmodal.eval.report import git_commit, metric_cell
from xmodal.eval.scoring import load_embeddings, mean_embedding, read_labelled_scores
from xmodal.methods import load_pretrained
from xmodal.pack.format import FORMAT, FORMAT_VERSION, META_FILE, PackError
from xmodal.pack.model import PackedModel

CARD_FILE = "MODEL_CARD.md"
EVAL_FILE = "calibration_eval.json"


@dataclass(frozen=True)
class CalibrationTrials:
    """Pairs ``(enroll[i], test[i])`` of rows of a key list, ``labels[i]`` True for targets."""

    enroll: np.ndarray
    test: np.ndarray
    labels: np.ndarray


def calibration_trials(keys: list[str], utt2spk: dict[str, str]) -> CalibrationTrials:
    """Every pair of ``keys`` (each once): same speaker -> target, unless both are of one video
    (keys ``<spk>/<video>/<utt>``: such pairs are dropped); different speakers -> non-target."""
    missing = [key for key in keys if key not in utt2spk]
    if missing:
        raise PackError(f"{len(missing)} calibration utterance(s) have no speaker in utt2spk, "
                        f"e.g. {missing[0]}")
    enroll, test = np.triu_indices(len(keys), k=1)
    speakers = np.array([utt2spk[key] for key in keys])
    videos = np.array([key.split("/")[1] if key.count("/") == 2 else key for key in keys])
    same_speaker = speakers[enroll] == speakers[test]
    keep = ~(same_speaker & (videos[enroll] == videos[test]))
    return CalibrationTrials(enroll[keep], test[keep], same_speaker[keep])


def held_out_metrics(calibration: Calibration, scores_path: Path, utt2spk: Path | None,
                     n_boot: int, seed: int = 0) -> dict:
    """EER, minDCF, actual DCF, Cllr and minCllr with intervals of the calibrated scores of a
    labelled score file (speakers from ``utt2spk``, else the key's first part)."""
    table = read_labelled_scores(scores_path)
    speakers = None if utt2spk is None else read_table(utt2spk, require_sorted=False)
    sides = trial_speakers(table.enroll, table.test, table.labels, speakers)
    llrs = calibration.llr(table.scores)
    result = speaker_bootstrap(table.scores, table.labels, *sides, n_boot=n_boot, seed=seed)
    result.update(calibrated_speaker_bootstrap(llrs, table.labels, *sides, n_boot=n_boot,
                                               seed=seed))
    result["scores"] = str(scores_path)
    return result


def model_card(meta: dict, evaluation: dict | None, stage6: list[dict]) -> str:
    """The pack's MODEL_CARD.md: what the model is, how it scores, its results with 95%
    intervals (stage 6's metrics files, and the calibrated held-out check)."""
    cal = meta["calibration"]
    lines = [f"# {meta['tag']} ({meta['method']})", "",
             f"- Input: {meta['input']['kind']} at {meta['input']['sample_rate']} Hz"
             + (f", {meta['input']['n_mels']} log-mel bins" if meta['input']['n_mels'] else "")
             + f"; shortest recording {meta['input']['min_seconds']:.2f} s.",
             f"- Embedding: identity head, {meta['embedding_dim']} dimensions, time average.",
             "- Score: cosine" + (" after subtracting the unlabelled training sample's mean"
                                  if meta["scoring"]["mean"] else "") + ".",
             f"- Trained on: {meta['provenance']['trained_on'] or 'not recorded'}.",
             f"- Config: `{meta['provenance']['train_config']}`, commit "
             f"{meta['provenance']['commit']}, packed {meta['provenance']['date']}."]
    if cal is not None:
        sign = "+" if cal["offset"] >= 0 else "-"
        lines.append(f"- Calibration: llr = {cal['scale']:.4f} x score {sign} "
                     f"{abs(cal['offset']):.4f}, "
                     f"trained at p_target {cal['p_target']} on "
                     f"{meta['provenance']['calibration_trials']} trials of "
                     f"{meta['provenance']['calibration_speakers']} held-out speakers "
                     f"(`{meta['provenance']['calibration_set']}`); decision threshold llr "
                     f"{meta['threshold']['llr']:.3f} (score {meta['threshold']['score']:.4f}), "
                     f"the Bayes threshold at p_target {meta['threshold']['p_target']}.")
        if meta["threshold"]["score"] > 1.0:
            best = cal["scale"] + cal["offset"]
            lines.append(f"  No cosine reaches it (the largest llr, at cosine 1, is {best:.3f}): "
                         "at this prior the evidence of this model never favours 'same' "
                         "enough, so every decision is 'different'. Choose the prior at use "
                         "time: `xmodal verify --p-target 0.5` decides by which hypothesis "
                         "the evidence favours.")
    elif "calibration_error" in meta["provenance"]:
        lines.append(f"- **No calibration**: on `{meta['provenance']['calibration_set']}`, "
                     f"{meta['provenance']['calibration_error']}. Scores only, no LLRs or "
                     "decisions.")
    if stage6:
        lines += ["", "## Verification (stage 6; 95% speaker-bootstrap intervals)", "",
                  "| scores | EER % | minDCF p=0.01 | minDCF p=0.05 | trials |",
                  "|---|---|---|---|---|"]
        for row in stage6:
            cells = [metric_cell(row, k, 2 if k == "eer" else 3)
                     for k in ("eer", "mindcf_p0.01", "mindcf_p0.05")]
            lines.append(f"| {Path(row['scores']).name} | {' | '.join(cells)} | "
                         f"{row['n_target'] + row['n_nontarget']} |")
    if evaluation is not None:
        lines += ["", f"## Calibrated scores on held-out trials ({Path(evaluation['scores']).name})",
                  "", "| measure | value [95% interval] |", "|---|---|"]
        for key, digits in (("eer", 2), ("mindcf_p0.01", 3), ("actdcf_p0.01", 3),
                            ("mindcf_p0.05", 3), ("actdcf_p0.05", 3), ("cllr", 3),
                            ("min_cllr", 3)):
            lines.append(f"| {key} | {metric_cell(evaluation, key, digits)} |")
        lines += ["", "actDCF - minDCF and Cllr - minCllr are what the calibration loses."]
    lines += ["", "## Use", "", "```", "xmodal verify --model PACK a.wav b.wav",
              "xmodal embed --model PACK --out emb.ark a.wav b.mp4", "```", "",
              "```python", "import xmodal", "model = xmodal.load(\"PACK\")",
              "print(model.verify(\"a.wav\", \"b.wav\"))", "```", ""]
    return "\n".join(lines)


def build_pack(exp_dir: str | os.PathLike, out_dir: str | os.PathLike, *, tag: str,
               mean_scp: str | os.PathLike | None, cal_scp: str | os.PathLike | None,
               cal_utt2spk: str | os.PathLike | None, p_target: float = 0.05,
               test_scores: str | os.PathLike | None = None,
               test_utt2spk: str | os.PathLike | None = None,
               stage6_metrics: list[str | os.PathLike] = (), n_boot: int = 1000,
               trained_on: str = "") -> dict:
    """Write the pack of ``exp_dir`` to ``out_dir`` (replaced whole, atomically) and return its
    meta. Without ``cal_scp`` the pack has no calibration; with it, ``test_scores`` (a labelled
    stage-6 score file of the same scoring, mean subtracted iff ``mean_scp``) is calibrated
    and evaluated into ``calibration_eval.json`` and the model card. A calibration that
    cannot be fitted (the scores do not rank the targets first) leaves the pack without one,
    its reason in ``provenance.calibration_error``."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    encoder, cfg = load_pretrained(exp_dir)
    dim = int(encoder.head_dims["identity"])
    mean = None if mean_scp is None else mean_embedding(mean_scp)
    if mean is not None and len(mean) != dim:
        raise PackError(f"{mean_scp}: embeddings of dimension {len(mean)}; {exp_dir}'s identity "
                        f"head gives {dim}")
    model = PackedModel(encoder, exp_dir, cfg.method, mean)
    provenance = {"commit": git_commit(), "date": datetime.date.today().isoformat(),
                  "train_config": str(exp_dir / "config.yaml"), "experiment": str(exp_dir),
                  "trained_on": trained_on}
    calibration = evaluation = None
    if cal_scp is not None:
        if cal_utt2spk is None:
            raise PackError("calibration embeddings need their utt2spk")
        table = load_embeddings([cal_scp])
        if table.matrix.shape[1] != dim:
            raise PackError(f"{cal_scp}: embeddings of dimension {table.matrix.shape[1]}; "
                            f"{exp_dir}'s identity head gives {dim}")
        cal_speakers = read_table(cal_utt2spk, require_sorted=False)
        trials = calibration_trials(table.keys, cal_speakers)
        scores = model.score_embeddings(table.matrix[trials.enroll], table.matrix[trials.test])
        provenance.update(calibration_set=str(cal_scp),
                          calibration_speakers=len(set(cal_speakers.values())),
                          calibration_trials=len(trials.labels))
        try:
            calibration = fit_calibration(scores, trials.labels, p_target)
        except (ValueError, RuntimeError) as err:
            # A model whose scores do not rank the calibration targets first is still a
            # model to embed with: it is packed, and says why it gives no LLRs.
            provenance["calibration_error"] = str(err)
        if calibration is not None and test_scores is not None:
            evaluation = held_out_metrics(calibration, Path(test_scores),
                                          None if test_utt2spk is None else Path(test_utt2spk),
                                          n_boot)
    n_mels = None if model.input_kind == "waveform" else int(encoder.cfg.n_mels)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "tag": tag,
            "method": cfg.method,
            "input": {"kind": model.input_kind, "sample_rate": 16000, "n_mels": n_mels,
                      "min_input": int(encoder.min_frames),
                      "min_seconds": model.min_samples / 16000},
            "embedding_dim": dim, "scoring": {"mean": mean is not None},
            "calibration": None if calibration is None else calibration.to_dict(),
            "threshold": None if calibration is None else {
                "p_target": calibration.p_target, "llr": float(calibration.threshold_llr),
                "score": float(calibration.threshold_score)},
            "provenance": provenance}
    stage6 = [json.loads(Path(p).read_text()) for p in stage6_metrics]
    with atomic_dir(out_dir) as tmp:
        shutil.copy2(exp_dir / "config.yaml", tmp / "config.yaml")
        shutil.copy2(exp_dir / "model.pt", tmp / "model.pt")
        if mean is not None:
            np.save(tmp / "mean.npy", mean)
        if evaluation is not None:
            (tmp / EVAL_FILE).write_text(json.dumps(evaluation, indent=1) + "\n")
        (tmp / CARD_FILE).write_text(model_card(meta, evaluation, stage6))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return meta
