"""``exp/RESULTS.md``: the paper's Tables 2-4 laid out as in the paper, ours beside theirs.

Reads what stages 4-8 wrote (``ssl_eval.json``, ``scores/*.metrics.json``, fine-tuning and
supervised-baseline metrics, ``probe.json``); draws the DET curves of every system and the
training curves of every SSL run. A missing result is shown as "-" (stage not run yet),
never invented.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from xmodal.atomic import atomic_path, write_text_atomic  # noqa: E402
from xmodal.eval.det_plot import plot_det  # noqa: E402
from xmodal.eval.scoring import read_score_file  # noqa: E402

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
PAPER_TABLE4_SUBSETS = ("100", "250", "500", "all")
PAPER_TABLE4 = {"ssl_identity": (15.05, 13.00, 11.16, 9.85),
                "ssl_id_content_dis": (14.33, 12.69, 10.94, 9.43),
                "supervised": (19.84, 13.60, 11.35, 7.28)}
NAMES = {"ssl_content": "Content loss only", "ssl_identity": "Identity loss only",
         "ssl_id_content": "Con. and Id. loss", "ssl_id_content_dis": "Con., Id. and Dis. loss",
         "supervised": "Fully supervised"}


def _load(path: Path) -> dict | None:
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[0]) if len(lines) == 1 else json.loads(path.read_text())


def _pct(value: float | None, scale: float = 100.0) -> str:
    return "-" if value is None else f"{value * scale:.1f}"


def _paper(value: float | None) -> str:
    return "" if value is None else f" ({value:.1f})"


def table2(exp: Path, tags: list[str]) -> str:
    """Self-supervised tasks: rows per (embedding, model) as in the paper."""
    lines = ["| embedding | model | content N-way acc % | identity B-way acc % | track EER % |",
             "|---|---|---|---|---|"]
    chance = None
    for emb in ("content", "identity"):
        for tag in tags:
            r = _load(exp / tag / "ssl_eval.json")
            paper = PAPER_TABLE2.get((tag, emb), (None, None, None))
            if r is None:
                cells = ["-", "-", "-"]
            else:
                chance = r
                cells = [_pct(r[f"content_acc_{emb}"]), _pct(r[f"identity_acc_{emb}"]),
                         _pct(r.get(f"track_eer_{emb}"), 1.0)]
            lines.append(f"| {emb} | {NAMES.get(tag, tag)} | " + " | ".join(
                c + _paper(p) for c, p in zip(cells, paper)) + " |")
    if chance is not None:
        lines.append(f"| random | | {_pct(chance['chance_content'])} | "
                     f"{_pct(chance['chance_identity'])} | 50.0 |")
    return "\n".join(lines)


def table3(exp: Path, tags: list[str], trials: list[str]) -> str:
    """Verification of the self-supervised identity embeddings, no labels at all."""
    head = " | ".join(f"{t} EER % | {t} minDCF(0.01) | {t} minDCF(0.05)" for t in trials)
    lines = [f"| model | {head} |", "|---|" + "---|" * (3 * len(trials))]
    for tag in tags:
        cells = []
        for t in trials:
            m = _load(exp / tag / "scores" / f"{t}.metrics.json")
            paper = _paper(PAPER_TABLE3.get(tag)) if t == trials[0] else ""
            cells += (["-", "-", "-"] if m is None else
                      [f"{m['eer']:.2f}{paper}", f"{m['mindcf_p0.01']:.3f}",
                       f"{m['mindcf_p0.05']:.3f}"])
        lines.append(f"| {NAMES.get(tag, tag)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table4(exp: Path, finetune_tags: list[str], subsets: list[str], trial: str) -> str:
    """EER vs number of labelled speakers: FC layer on SSL embeddings vs full supervision."""
    lines = ["| model | " + " | ".join(f"{n} spk" for n in subsets) + " |",
             "|---|" + "---|" * len(subsets)]
    rows = [(tag, lambda n, tag=tag: exp / tag / "finetune" / f"spk_dev_{n}" / "scores")
            for tag in finetune_tags]
    rows.append(("supervised", lambda n: exp / f"supervised_spk_dev_{n}" / "scores"))
    for tag, where in rows:
        cells = []
        for n in subsets:
            m = _load(where(n) / f"{trial}.metrics.json")
            paper_row = PAPER_TABLE4.get(tag)
            paper = (_paper(paper_row[PAPER_TABLE4_SUBSETS.index(n)])
                     if paper_row and n in PAPER_TABLE4_SUBSETS else "")
            cells.append("-" if m is None else f"{m['eer']:.2f}{paper}")
        lines.append(f"| {NAMES.get(tag, tag)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def probe_table(exp: Path, tags: list[str]) -> str:
    """Unit error rate of a CTC probe on frozen frame embeddings (lower = more content)."""
    lines = ["| model | content head UER % | identity head UER % | chance UER % |",
             "|---|---|---|---|"]
    for tag in tags:
        r = _load(exp / tag / "probe.json")
        if r is None:
            lines.append(f"| {NAMES.get(tag, tag)} | - | - | - |")
            continue
        lines.append(f"| {NAMES.get(tag, tag)} | {_pct(r['content']['uer'])} | "
                     f"{_pct(r['identity']['uer'])} | {_pct(r['chance_uer'])} |")
    return "\n".join(lines)


def plot_curves(train_log: Path, out: Path) -> None:
    """Training losses and validation accuracies per epoch of one SSL run."""
    entries = [json.loads(line) for line in train_log.read_text().splitlines() if line.strip()]
    epochs = [e["epoch"] for e in entries]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in sorted(entries[0]["train"]):
        if key.endswith("_loss") or key == "loss":
            left.plot(epochs, [e["train"][key] for e in entries], marker="o", label=f"train {key}")
    for key in sorted(entries[0]["valid"]):
        if key.endswith("_acc"):
            right.plot(epochs, [100 * e["valid"][key] for e in entries], marker="o",
                       label=f"valid {key}")
    left.set(xlabel="epoch", ylabel="loss", title=train_log.parent.name)
    right.set(xlabel="epoch", ylabel="accuracy %", title="validation (ssl_test)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
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


def write_report(exp: Path, tags: list[str], trials: list[str], finetune_tags: list[str],
                 subsets: list[str], probe_tags: list[str]) -> str:
    """Write ``exp/RESULTS.md``, ``exp/det.png`` and ``exp/<tag>/curves.png``; return the md."""
    trial = trials[0]
    systems = {}
    for tag in tags:
        path = exp / tag / "scores" / f"{trial}.scores"
        if path.exists():
            systems[NAMES.get(tag, tag)] = read_score_file(path)
        if (exp / tag / "train_log.jsonl").exists():
            plot_curves(exp / tag / "train_log.jsonl", exp / tag / "curves.png")
    for tag in finetune_tags:
        path = exp / tag / "finetune" / f"spk_dev_{subsets[-1]}" / "scores" / f"{trial}.scores"
        if path.exists():
            systems[f"{NAMES.get(tag, tag)} + FC ({subsets[-1]} spk)"] = read_score_file(path)
    path = exp / f"supervised_spk_dev_{subsets[-1]}" / "scores" / f"{trial}.scores"
    if path.exists():
        systems[f"Fully supervised ({subsets[-1]} spk)"] = read_score_file(path)
    if systems:
        plot_det(systems, exp / "det.png")
    configs = "\n".join(f"- `{tag}`: `{exp.name}/{tag}/config.yaml`" for tag in tags)
    md = f"""# Results

Code: commit `{git_commit()}`. Numbers in parentheses are the paper's (VoxCeleb2 training,
VoxCeleb1-O test), for the real recipe; the mini recipe's corpus and models are far smaller,
so compare trends, not values.

## Table 2: self-supervised tasks on held-out face-tracks (ssl_test)

{table2(exp, tags)}

## Table 3: speaker verification with self-supervised identity embeddings (`{trial}`)

{table3(exp, tags, trials)}

## Table 4: EER % vs labelled speakers (one FC layer + n-pair loss vs full supervision)

{table4(exp, finetune_tags, subsets, trial)}

## Linguistic-content probe (CTC on frozen frame embeddings, unit error rate)

{probe_table(exp, probe_tags)}

## Plots

DET curves: `det.png`; training curves: `<tag>/curves.png`.

## Configs

{configs}
"""
    write_text_atomic(exp / "RESULTS.md", md)
    return md
