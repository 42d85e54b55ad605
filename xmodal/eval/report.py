"""``exp/RESULTS.md``: the paper's Tables 2-4 laid out as in the paper, ours beside theirs.

Reads what stages 4-8 wrote (``ssl_eval.json``, ``scores/*.{scores,metrics.json}``,
fine-tuning and supervised-baseline scores, ``probe.json``); draws the DET curves of every
system and the training curves of every SSL run. Every accuracy, EER and minDCF carries its
95% interval (bootstrap over identities for Table 2, over speakers for Tables 3-4), and
systems scored on the same trials are compared by a paired bootstrap over speakers: a
difference whose interval holds 0 is marked as not significant. A missing result is shown
as "-" (stage not run yet), never invented.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from xmodal.atomic import atomic_path, write_text_atomic  # noqa: E402
from xmodal.data.content_inputs import KINDS as CONTENT_KINDS  # noqa: E402
from xmodal.eval.comparison import compare_score_files  # noqa: E402
from xmodal.eval.det_plot import plot_det  # noqa: E402
from xmodal.eval.downstream_report import downstream_section  # noqa: E402
from xmodal.eval.generation_report import generation_section  # noqa: E402
from xmodal.eval.scoring import read_score_file  # noqa: E402
from xmodal.eval.ssl_results import accuracy_cell, chance_failures  # noqa: E402

# Paper numbers (Nagrani et al. 2020, VoxCeleb2 / VoxCeleb1), percent.
# Table 2: (tag, embedding) -> (content N-way acc, identity B-way acc, track EER).
PAPER_TABLE2 = {
    ("ssl_content", "content"): (49.0, None, None),
    ("ssl_identity", "identity"): (None, 44.3, 24.8),
    ("ssl_id_content", "content"): (46.7, 8.5, 45.7),
    ("ssl_id_content_dis", "content"): (49.0, 10.5, 45.2),
    ("ssl_id_content", "identity"): (19.3, 48.2, 23.1),
    ("ssl_id_content_dis", "identity"): (12.0, 49.6, 18.9),
}
PAPER_TABLE3 = {"ssl_identity": 23.15, "ssl_id_content": 22.59, "ssl_id_content_dis": 22.09}
PAPER_TABLE4_SUBSETS = ("100_1228", "250_6019", "500_12146", "all")
PAPER_TABLE4 = {"ssl_identity": (15.05, 13.00, 11.16, 9.85),
                "ssl_id_content_dis": (14.33, 12.69, 10.94, 9.43),
                "supervised": (19.84, 13.60, 11.35, 7.28)}
NAMES = {"ssl_content": "Content loss only", "ssl_identity": "Identity loss only",
         "ssl_id_content": "Con. and Id. loss", "ssl_id_content_dis": "Con., Id. and Dis. loss",
         "supervised": "Fully supervised", "random_init": "Untrained encoder (floor)",
         "mean_logmel": "Mean log-mel (floor)",
         "random_init_xvector": "Untrained x-vector (floor)",
         "recon_phones": "Reconstruction, phones", "recon_noisy": "Reconstruction, noisy phones",
         "recon_phone_posteriors": "Reconstruction, phone posteriors",
         "recon_posteriors": "Reconstruction, CTC recogniser's posteriors",
         "recon_units": "Reconstruction, k-means units",
         "recon_content_embedding": "Reconstruction, cross-modal content embeddings",
         "recon_content_units": "Reconstruction, k-means units of content embeddings",
         "recon_none": "Reconstruction, no content input",
         "recon_phones_classify": "Classification + reconstruction (phones)",
         "xvector_classify": "Classification only (x-vector)",
         "recon_phones_semisup": "Semi-supervised: small labelled set + reconstruction",
         "xvector_semisup": "Classification on the small labelled set only",
         "facegen": "Face generation",
         "facegen_same_window": "Face generation, still frame from the window (paper)"}
# Stafylakis et al.'s claims as tests on the same trials: (A, B, claim). "beats": A's EER is
# significantly lower than B's; "at least as good": A's is not significantly higher.
RECON_HYPOTHESES = (("recon_phones", "recon_none", "beats"),
                    ("recon_phones_classify", "xvector_classify", "at least as good"),
                    ("recon_phones_semisup", "xvector_semisup", "beats"),
                    # The routes without an aligner: the content input still has to help.
                    ("recon_posteriors", "recon_none", "beats"),
                    ("recon_content_embedding", "recon_none", "beats"))
METRICS = (("eer", "EER %", 2, 1.0), ("mindcf_p0.01", "minDCF(0.01)", 3, 1.0),
           ("mindcf_p0.05", "minDCF(0.05)", 3, 1.0))


def name(tag: str) -> str:
    """The paper's name of a config tag (the tag itself when it has none)."""
    return NAMES.get(tag, tag)


def load_json(path: Path) -> dict | None:
    """A JSON file (or a file of one JSON line), None if absent."""
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[0]) if len(lines) == 1 else json.loads(path.read_text())


def _paper(value: float | None) -> str:
    return "" if value is None else f" ({value:.1f})"


def metric_cell(metrics: dict | None, key: str, digits: int) -> str:
    """``value [low, high]`` of a metrics.json entry ("-" if absent; no interval if none)."""
    if metrics is None:
        return "-"
    cell = f"{metrics[key]:.{digits}f}"
    if f"{key}_ci" in metrics:
        low, high = metrics[f"{key}_ci"]
        cell += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return cell


def chance_table(exp: Path, tags: list[str]) -> str:
    """Per config and trained loss: its task with its own embedding on held-out tracks."""
    lines = ["| model | trained loss | its task, own embedding, held-out acc % [95% CI] | "
             "chance % | left chance |", "|---|---|---|---|---|"]
    for tag in tags:
        r = load_json(exp / tag / "ssl_eval.json")
        cfg = config_losses(exp / tag)
        for task in ("content", "identity"):
            if r is None or not cfg.get(task):
                continue
            failed = chance_failures(r, task == "content", task == "identity")
            lines.append(f"| {name(tag)} | {task} | {accuracy_cell(r, f'{task}_acc_{task}')} | "
                         f"{100 * r[f'chance_{task}']:.1f} | {'no' if failed else 'yes'} |")
    return "\n".join(lines)


def config_losses(exp_dir: Path) -> dict:
    """Which losses an experiment trained, from its resolved ``config.yaml``."""
    path = exp_dir / "config.yaml"
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()).get("loss", {})


def table2(exp: Path, tags: list[str]) -> str:
    """Self-supervised tasks: rows per (embedding, model) as in the paper."""
    lines = ["| embedding | model | content N-way acc % | identity B-way acc % | track EER % |",
             "|---|---|---|---|---|"]
    chance = None
    for emb in ("content", "identity"):
        for tag in tags:
            r = load_json(exp / tag / "ssl_eval.json")
            paper = PAPER_TABLE2.get((tag, emb), (None, None, None))
            # The rows of a head the model never trained are "-", as in the paper.
            if r is None or not config_losses(exp / tag).get(emb):
                cells = ["-", "-", "-"]
            else:
                chance = r
                eer = r.get(f"track_eer_{emb}")
                cells = [accuracy_cell(r, f"content_acc_{emb}"),
                         accuracy_cell(r, f"identity_acc_{emb}"),
                         "-" if eer is None else f"{eer:.1f}"]
            lines.append(f"| {emb} | {name(tag)} | " + " | ".join(
                c + _paper(p) for c, p in zip(cells, paper)) + " |")
    if chance is not None:
        lines.append(f"| random | | {100 * chance['chance_content']:.1f} | "
                     f"{100 * chance['chance_identity']:.1f} | 50.0 |")
    return "\n".join(lines)


# Extra Table 3 columns: scores written beside the raw cosine ones (stage 6), by suffix.
EXTRA_SCORINGS = (("meansub", "mean-subtracted"), ("asnorm", "AS-norm"))


def _last_valid(exp_dir: Path) -> dict:
    """The held-out terms of a run's last epoch (``train_log.jsonl``), {} if none."""
    path = exp_dir / "train_log.jsonl"
    if not path.exists():
        return {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]).get("valid", {}) if lines else {}


def leakage_table(exp: Path, tags: list[str]) -> str:
    """Post-hoc probes on frozen embeddings (``eval.leakage``) beside their untrained floor
    and the in-training adversary's last held-out accuracy (confusion-trained models only)."""
    lines = ["| model | sync task from the identity embedding: probe % | untrained floor % | "
             "in-training adversary % | identity task from the content embedding: probe % | "
             "untrained floor % | in-training adversary % |", "|---|---|---|---|---|---|---|"]
    chance = None
    for tag in tags:
        r = load_json(exp / tag / "ssl_eval.json")
        if r is None or "leakage" not in r:
            continue
        trained, floor = r["leakage"]["trained"], r["leakage"]["untrained"]
        chance = trained
        valid = _last_valid(exp / tag)
        cells = []
        for key, adversary in (("leak_sync_from_identity", "leak_content_in_identity_acc"),
                               ("leak_identity_from_content", "leak_identity_in_content_acc")):
            cells += [accuracy_cell(trained, key), accuracy_cell(floor, key),
                      f"{100 * valid[adversary]:.1f}" if adversary in valid else "-"]
        lines.append(f"| {name(tag)} | " + " | ".join(cells) + " |")
    if chance is None:
        return "(no model that trained both heads was probed: stage 4 with --leakage-train-dir)"
    lines.append(f"| chance | {100 * chance['chance_sync']:.1f} | | | "
                 f"{100 * chance['chance_identity']:.1f} | | |")
    return "\n".join(lines) + ("\n\nFresh probes of the adversaries' capacity, trained on the "
                               "frozen embeddings of ssl_train windows and scored on ssl_test; "
                               "lower is less leakage. The floor is the same probe on an "
                               "untrained network of the same architecture.")


def table3(exp: Path, tags: list[str], trials: list[str]) -> str:
    """Verification of the self-supervised identity embeddings (and floors), no labels.

    Raw cosine scores, the paper's, for every trial list; then the EER of the first list's
    other scorings (``<trials>.<suffix>.metrics.json``) where any model has them."""
    head = [f"{t} {label}" for t in trials for _, label, _, _ in METRICS]
    extras = [(suffix, label) for suffix, label in EXTRA_SCORINGS
              if any((exp / tag / "scores" / f"{trials[0]}.{suffix}.metrics.json").exists()
                     for tag in tags)]
    head += [f"{trials[0]} EER %, {label}" for _, label in extras]
    lines = [f"| model | {' | '.join(head)} |", "|---|" + "---|" * len(head)]
    for tag in tags:
        cells = []
        for t in trials:
            m = load_json(exp / tag / "scores" / f"{t}.metrics.json")
            for key, _, digits, _ in METRICS:
                paper = _paper(PAPER_TABLE3.get(tag)) if key == "eer" and t == trials[0] \
                    and m is not None else ""
                cells.append(metric_cell(m, key, digits) + paper)
        for suffix, _ in extras:
            m = load_json(exp / tag / "scores" / f"{trials[0]}.{suffix}.metrics.json")
            cells.append(metric_cell(m, "eer", 2))
        lines.append(f"| {name(tag)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class System:
    """A scored system: its row name and its score file."""

    label: str
    scores: Path


def comparison_table(pairs: list[tuple[System, System]], utt2spk: Path | None,
                     n_boot: int) -> str:
    """Paired speaker-bootstrap comparisons of EER on the same trials, one row per pair."""
    lines = ["| system A | system B | EER A % | EER B % | A - B [95% CI] | p | significant |",
             "|---|---|---|---|---|---|---|"]
    for a, b in pairs:
        if not (a.scores.exists() and b.scores.exists()):
            continue
        eer = compare_score_files(a.scores, b.scores, utt2spk=utt2spk, n_boot=n_boot)["eer"]
        lines.append(f"| {a.label} | {b.label} | {eer['a']:.2f} | {eer['b']:.2f} | "
                     f"{difference_cell(eer, n_boot)} | "
                     f"{'**yes**' if eer['significant'] else 'no (noise)'} |")
    return "\n".join(lines) if len(lines) > 2 else "(no pair of systems scored yet)"


@dataclass(frozen=True)
class Hypothesis:
    """One of ``RECON_HYPOTHESES`` tested on one exp dir's scores of the same trials."""

    a: str
    b: str
    claim: str
    eer: dict                     # compare_score_files' "eer" entry (a, b, difference, ci, ...)
    holds: bool

    def text(self) -> str:
        """The claim in words."""
        return f"{name(self.a)} {self.claim} {name(self.b)}"


def check_hypotheses(exp: Path, trial: str, utt2spk: Path | None,
                    n_boot: int) -> list[Hypothesis]:
    """Each of ``RECON_HYPOTHESES`` whose two systems are scored in ``exp``, tested by a
    paired bootstrap over speakers of their EER difference."""
    results = []
    for a, b, claim in RECON_HYPOTHESES:
        paths = [exp / t / "scores" / f"{trial}.scores" for t in (a, b)]
        if not all(p.exists() for p in paths):
            continue
        eer = compare_score_files(*paths, utt2spk=utt2spk, n_boot=n_boot)["eer"]
        results.append(Hypothesis(a, b, claim, eer, claim_holds(claim, eer)))
    return results


def claim_holds(claim: str, eer: dict) -> bool:
    """Whether a paired EER comparison of A with B supports "A ``claim`` B": "beats" needs
    A significantly lower, "at least as good" needs A not significantly higher."""
    if claim == "beats":
        return eer["significant"] and eer["difference"] < 0
    if claim == "at least as good":
        return not (eer["significant"] and eer["difference"] > 0)
    raise ValueError(f"unknown claim '{claim}' (beats, at least as good)")


def difference_cell(eer: dict, n_boot: int) -> str:
    """``A - B [95% CI] | p`` of a paired EER comparison."""
    low, high = eer["ci"]
    p_value = f"{eer['p_value']:.3f}" if eer["p_value"] > 0 else f"<{2 / n_boot:.3f}"
    return f"{eer['difference']:+.2f} [{low:+.2f}, {high:+.2f}] | {p_value}"


def hypothesis_table(exp: Path, trial: str, utt2spk: Path | None, n_boot: int) -> str:
    """The tested hypotheses of one exp dir, one row each."""
    lines = ["| claim | EER A % | EER B % | A - B [95% CI] | p | holds? |",
             "|---|---|---|---|---|---|"]
    for h in check_hypotheses(exp, trial, utt2spk, n_boot):
        lines.append(f"| {h.text()} | {h.eer['a']:.2f} | {h.eer['b']:.2f} | "
                     f"{difference_cell(h.eer, n_boot)} | "
                     f"{'**holds**' if h.holds else '**fails**'} |")
    return "\n".join(lines) if len(lines) > 2 else "(no hypothesis has both systems scored)"


def budget_label(subset: str) -> str:
    """``100 spk / 1228 utt`` for the budget ``100_1228`` (data dir spk_dev_100_1228),
    ``25 spk`` for ``25`` (all their utterances), ``all spk`` for ``all``."""
    spk, _, utt = subset.partition("_")
    return f"{spk} spk" + (f" / {utt} utt" if utt else "")


def table4(exp: Path, finetune_tags: list[str], subsets: list[str], trial: str) -> str:
    """EER vs label budget: FC layer on SSL embeddings vs full supervision."""
    lines = ["| model | " + " | ".join(budget_label(n) for n in subsets) + " |",
             "|---|" + "---|" * len(subsets)]
    for tag in finetune_tags + ["supervised"]:
        cells = []
        for n in subsets:
            m = load_json(table4_scores(exp, tag, n, trial).with_suffix(".metrics.json"))
            paper_row = PAPER_TABLE4.get(tag)
            paper = (_paper(paper_row[PAPER_TABLE4_SUBSETS.index(n)])
                     if paper_row and n in PAPER_TABLE4_SUBSETS and m is not None else "")
            cells.append(metric_cell(m, "eer", 2) + paper)
        lines.append(f"| {name(tag)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table4_scores(exp: Path, tag: str, subset: str, trial: str) -> Path:
    """The score file of a Table 4 cell (``tag`` "supervised" is the baseline)."""
    if tag == "supervised":
        return exp / f"supervised_spk_dev_{subset}" / "scores" / f"{trial}.scores"
    return exp / tag / "finetune" / f"spk_dev_{subset}" / "scores" / f"{trial}.scores"


def probe_table(exp: Path, tags: list[str]) -> str:
    """Unit error rate of a CTC probe on frozen frame embeddings (lower = more content)."""
    lines = ["| model | content head UER % | identity head UER % | chance UER % |",
             "|---|---|---|---|"]
    for tag in tags:
        r = load_json(exp / tag / "probe.json")
        if r is None:
            lines.append(f"| {name(tag)} | - | - | - |")
            continue
        # An x-vector's identity is one pooled vector: only its frame layers are probed.
        identity = f"{100 * r['identity']['uer']:.1f}" if "identity" in r else "-"
        lines.append(f"| {name(tag)} | {100 * r['content']['uer']:.1f} | {identity} | "
                     f"{100 * r['chance_uer']:.1f} |")
    return "\n".join(lines)


def plot_curves(train_log: Path, out: Path) -> None:
    """Training losses and validation accuracies (or, for a run that logs no accuracy, its
    validation losses) per epoch of one run."""
    entries = [json.loads(line) for line in train_log.read_text().splitlines() if line.strip()]
    epochs = [e["epoch"] for e in entries]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in sorted(entries[0]["train"]):
        if key.endswith("_loss") or key in ("loss", "reconstruction", "classify"):
            left.plot(epochs, [e["train"][key] for e in entries], marker="o", label=f"train {key}")
    valid = sorted(entries[0].get("valid", {}))
    accuracies = [k for k in valid if k.endswith("_acc")]
    for key in accuracies or valid:
        scale = 100 if accuracies else 1
        right.plot(epochs, [scale * e["valid"][key] for e in entries], marker="o",
                   label=f"valid {key}")
    left.set(xlabel="epoch", ylabel="loss", title=train_log.parent.name)
    right.set(xlabel="epoch", ylabel="accuracy %" if accuracies else "loss",
              title="validation (ssl_test)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def git_commit() -> str:
    """The commit the code ran from (with '+dirty' if the work tree had changes)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=Path(__file__).parent).stdout
        return sha + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name (as ``lscpu`` shows it) and core count, for timings' context."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def verification_pairs(exp: Path, tags: list[str], baselines: list[str],
                       trial: str) -> list[tuple[System, System]]:
    """Every trained model against every floor, then the trained models pairwise."""
    system = {t: System(name(t), exp / t / "scores" / f"{trial}.scores") for t in tags + baselines}
    pairs = [(system[t], system[b]) for t in tags for b in baselines]
    pairs += [(system[a], system[b]) for i, a in enumerate(tags) for b in tags[i + 1:]]
    return pairs


def finetune_pairs(exp: Path, finetune_tags: list[str], subsets: list[str],
                   trial: str) -> list[tuple[System, System]]:
    """Each fine-tuned model against the supervised baseline on the same labelled subset."""
    return [(System(f"{name(t)} + FC, {budget_label(n)}", table4_scores(exp, t, n, trial)),
             System(f"{name('supervised')}, {budget_label(n)}",
                    table4_scores(exp, "supervised", n, trial)))
            for n in subsets for t in finetune_tags]


def recon_learning_table(exp: Path, recon_tags: list[str]) -> str:
    """What each reconstruction run learnt, from its last epoch's log: the held-out
    reconstruction loss beside predicting the training set's mean frame on the same frames,
    and the training speaker-classification accuracy beside chance."""
    lines = ["| model | held-out reconstruction loss | mean-frame loss | ratio | "
             "training classification acc % | chance % |", "|---|---|---|---|---|---|"]
    for tag in recon_tags:
        path = exp / tag / "train_log.jsonl"
        if not path.exists():
            lines.append(f"| {name(tag)} | - | - | - | - | - |")
            continue
        last = json.loads(path.read_text().splitlines()[-1])
        valid, train = last.get("valid", {}), last["train"]
        recon = (f"{valid['reconstruction']:.3f} | {valid['reconstruction_mean_frame']:.3f} | "
                 f"{valid['reconstruction'] / valid['reconstruction_mean_frame']:.2f}"
                 if "reconstruction" in valid else "- | - | -")
        classify = (f"{100 * train['accuracy']:.1f} | {100 * train['accuracy_chance']:.2f}"
                    if "accuracy" in train else "- | -")
        lines.append(f"| {name(tag)} | {recon} | {classify} |")
    return "\n".join(lines)


def channel_table(exp: Path, tags: list[str], trial: str) -> str:
    """Per model: speaker EER beside how much of the recording channel its embedding carries
    (mean R² of speaker-disjoint ridge probes of the channel parameters, ``channel_probe``)."""
    lines = ["| model | EER % | channel mean R² [95% CI] | SNR R² | noise colour R² |",
             "|---|---|---|---|---|"]
    for tag in tags:
        r = load_json(exp / tag / "channel_probe.json")
        if r is None:
            continue
        m = load_json(exp / tag / "scores" / f"{trial}.metrics.json")
        low, high = r["mean_r2_ci"]
        params = r["params"]
        lines.append(f"| {name(tag)} | {metric_cell(m, 'eer', 2)} | {r['mean_r2']:.2f} "
                     f"[{low:.2f}, {high:.2f}] | "
                     f"{params.get('channel_snr_db', {}).get('r2', float('nan')):.2f} | "
                     f"{params.get('channel_noise_slope', {}).get('r2', float('nan')):.2f} |")
    return "\n".join(lines) if len(lines) > 2 else "(stage 8 ran no channel probe)"


def content_input_table(exp: Path) -> str:
    """Speaker identification from the reconstruction decoders' content inputs alone."""
    lines = ["| content input | speaker accuracy % [95% CI] | chance % |", "|---|---|---|"]
    for content in CONTENT_KINDS:
        r = load_json(exp / f"content_input_{content}.json")
        if r is not None:
            low, high = r["ci"]
            lines.append(f"| {content} | {100 * r['accuracy']:.1f} [{100 * low:.1f}, "
                         f"{100 * high:.1f}] | {100 * r['chance']:.1f} |")
    return "\n".join(lines) if len(lines) > 2 else "(not probed)"


def recon_section(exp: Path, recon_tags: list[str], baselines: list[str], trials: list[str],
                  utt2spk: Path | None, n_boot: int) -> str:
    """The Stafylakis et al. section: x-vectors trained by reconstruction (and classification)
    on the trials of Table 3, against the floors, and the paper's claims tested pairwise."""
    trial = trials[0]
    floors = [(System(name(t), exp / t / "scores" / f"{trial}.scores"),
               System(name(b), exp / b / "scores" / f"{trial}.scores"))
              for t in recon_tags for b in baselines]
    return f"""## Stafylakis et al. 2019: x-vectors learnt by reconstructing frames (`{trial}`)

What each run learnt (held-out tracks of ssl_test, last epoch; a ratio below 1 is a decoder
that uses what it is given):

{recon_learning_table(exp, recon_tags)}

Scored exactly as Table 3 (raw cosine; the extra columns as there). Rows trained with
speaker labels say so ("classification").

{table3(exp, recon_tags + baselines, trials)}

The paper's claims, each a paired bootstrap over speakers of the EER difference on the same
trials ("beats": significantly lower; "at least as good": not significantly higher):

{hypothesis_table(exp, trial, utt2spk, n_boot)}

Against the floors:

{comparison_table(floors, utt2spk, n_boot)}

A decoder told who speaks by its content input would not need the x-vector. Speaker
identification from the content input alone (per-utterance phone or unit and duration
histograms; for content embeddings their mean and standard deviation over time), trained on
one recording per held-out ssl_test person, tested on their other one:

{content_input_table(exp)}

"""


def pack_section(exp: Path, pack_tags: list[str]) -> str:
    """The packed models (stage 9) and their calibration checked on the held-out trials:
    actual vs minimum DCF, Cllr vs minCllr, with intervals; "" when no tag has a pack."""
    rows, p_target = [], None
    for tag in pack_tags:
        meta = load_json(exp / tag / "pack" / "pack.json")
        if meta is None:
            continue
        r = load_json(exp / tag / "pack" / "calibration_eval.json")
        if r is None:
            why = meta["provenance"].get("calibration_error", "none trained")
            rows.append(f"| `{tag}/pack` | no calibration: {why} | | | | | |")
            continue
        p_target = meta["threshold"]["p_target"]
        cells = [metric_cell(r, key, 3) for key in ("mindcf_p0.05", "actdcf_p0.05",
                                                   "mindcf_p0.01", "actdcf_p0.01",
                                                   "min_cllr", "cllr")]
        rows.append(f"| `{tag}/pack` | {meta['threshold']['llr']:.2f} | " + " | ".join(cells)
                    + " |")
    if not rows:
        return ""
    trained = "" if p_target is None else f" (trained at p_target {p_target})"
    return f"""## Packed models and their calibration (stage 9)

Each pack (`exp/<tag>/pack`: `xmodal verify`, `xmodal.load`) scores by the cosine after
subtracting the unlabelled ssl_train sample's mean (Table 3's meansub column) and turns it
into a log-likelihood ratio by a linear calibration{trained} trained on the held-out
calibration speakers (`spk_cal`: in no training set). Below, the calibrated scores of the
test trials: actual DCF is the cost of the pack's decisions, minimum DCF the cost at the best
threshold in hindsight; Cllr and minCllr the same for the whole LLR scale. The gaps are what
calibration on a small held-out set loses.

| pack | threshold llr | minDCF p=0.05 | actDCF p=0.05 | minDCF p=0.01 | actDCF p=0.01 | minCllr | Cllr |
|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n\n"


def write_report(exp: Path, tags: list[str], trials: list[str], finetune_tags: list[str],
                 subsets: list[str], probe_tags: list[str], baselines: list[str] = (),
                 utt2spk: Path | None = None, n_boot: int = 1000,
                 recon_tags: list[str] = (), downstream_tags: list[str] = (),
                 downstream_tasks: list[str] = (), facegen_tags: list[str] = (),
                 pack_tags: list[str] = ()) -> str:
    """Write ``exp/RESULTS.md``, ``exp/det.png`` and ``exp/<tag>/curves.png``; return the md.

    ``tags`` are the cross-modal models (Nagrani et al.), ``recon_tags`` the reconstruction
    ones (Stafylakis et al.), ``facegen_tags`` the face generators (Shukla et al.), scored on
    the same trials."""
    trial = trials[0]
    baselines = list(baselines)
    recon_tags = list(recon_tags)
    facegen_tags = list(facegen_tags)
    systems = {}
    for tag in tags + recon_tags + facegen_tags + baselines:
        path = exp / tag / "scores" / f"{trial}.scores"
        if path.exists():
            systems[name(tag)] = read_score_file(path)
        if (exp / tag / "train_log.jsonl").exists():
            plot_curves(exp / tag / "train_log.jsonl", exp / tag / "curves.png")
    for tag in finetune_tags + ["supervised"]:
        path = table4_scores(exp, tag, subsets[-1], trial)
        if path.exists():
            label = name(tag) if tag == "supervised" else f"{name(tag)} + FC"
            systems[f"{label} ({budget_label(subsets[-1])})"] = read_score_file(path)
    if systems:
        plot_det(systems, exp / "det.png")
    configs = "\n".join(f"- `{tag}`: `{exp.name}/{tag}/config.yaml`"
                        for tag in tags + recon_tags + facegen_tags)
    recon = recon_section(exp, recon_tags, baselines, trials, utt2spk, n_boot) if recon_tags else ""
    facegen = (generation_section(exp, facegen_tags, name,
                                  table3(exp, facegen_tags + baselines, trials))
               if facegen_tags else "")
    names = {t: name(t) for t in downstream_tags}
    names |= {t: f"Supervised baseline ({budget_label(t.split('supervised_spk_dev_')[1])})"
              for t in downstream_tags if t.startswith("supervised_spk_dev_")}
    downstream = (downstream_section(exp, list(downstream_tags), list(downstream_tasks), names,
                                     n_boot) if downstream_tasks else "")
    md = f"""# Results

Code: commit `{git_commit()}`; machine: {cpu_model()}. Numbers in parentheses are the
paper's (VoxCeleb2 training, VoxCeleb1-O test), for the real recipe; the mini recipe's corpus
and models are far smaller, so compare trends, not values. Brackets hold 95% intervals from
{n_boot} bootstrap replicates: over identities in Table 2 (the batches reuse each identity's
tracks), over speakers in Tables 3-4 (trials that share a speaker are not independent).

## Did every trained loss leave chance? (held-out face-tracks, ssl_test)

{chance_table(exp, tags)}

## Table 2: self-supervised tasks on held-out face-tracks (ssl_test)

{table2(exp, tags)}

### What each embedding still carries (post-hoc leakage meter)

{leakage_table(exp, tags)}

## Table 3: speaker verification with self-supervised identity embeddings (`{trial}`)

Raw cosine scores between embeddings, as the paper scored them; the extra columns subtract
the mean embedding of an unlabelled sample of ssl_train first, and AS-normalise against that
sample. The floors: the same architecture untrained, and the utterance's mean log-mel vector.
Paired comparisons and Table 4 use the raw scores.

{table3(exp, tags + baselines, trials)}

Paired comparisons (same trials, bootstrap over speakers; "no (noise)": the interval of the
difference holds 0, so the two systems cannot be told apart on this test set):

{comparison_table(verification_pairs(exp, tags, baselines, trial), utt2spk, n_boot)}

## Table 4: EER % vs label budget (one FC layer + n-pair loss vs full supervision)

{table4(exp, finetune_tags, subsets, trial)}

Paired comparisons with the supervised baseline trained on the same speakers:

{comparison_table(finetune_pairs(exp, finetune_tags, subsets, trial), utt2spk, n_boot)}

{recon}{facegen}{downstream}{pack_section(exp, list(pack_tags))}## How much of the recording channel each embedding carries (`spk_test`)

A and B of a reconstruction pair share their recording, so encoding the channel is rewarded;
verification trials pair different recordings. Ridge probes predict each channel parameter
of the synthetic corpus (band limits, EQ, reverberation, SNR, noise colour) from the identity
embedding, trained on half the speakers and tested on the other half (R², 1 = all of it,
0 = none; interval over test speakers; the split itself moves R² by about 0.1).

{channel_table(exp, tags + recon_tags + facegen_tags + baselines, trial)}

## Linguistic-content probe (CTC on frozen frame embeddings, unit error rate)

{probe_table(exp, probe_tags)}

## Plots

DET curves: `det.png`; training curves: `<tag>/curves.png`.

## Configs

{configs}
"""
    write_text_atomic(exp / "RESULTS.md", md)
    return md
