"""The coupling study: cross-modal identity learning against how much faces tell of voices.

Each point of the sweep is one corpus (``make_synth_corpus --coupling c``, the same voices,
sentences and scenes at every c) and one identity-trained model. This reads, per point, the
held-out identity B-way accuracy (stage 4) and the verification EER of the model and of its
floors (stage 6), and writes a table and a plot: at c = 0 a face says nothing about its voice,
so no model can match them on unseen people; the curve shows how much shared identity the
task needs before it is learnt.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from xmodal.atomic import atomic_path, write_text_atomic  # noqa: E402
from xmodal.eval.report import cpu_model, git_commit, load_json, metric_cell, name  # noqa: E402
from xmodal.eval.ssl_results import accuracy_cell  # noqa: E402


def sweep_rows(points: dict[float, Path], tag: str, floors: list[str], trial: str
               ) -> list[dict]:
    """Per coupling: the model's ssl_eval.json and each system's metrics.json (or None)."""
    return [{"coupling": c, "ssl": load_json(exp / tag / "ssl_eval.json"),
             "metrics": {t: load_json(exp / t / "scores" / f"{trial}.metrics.json")
                         for t in [tag] + floors}}
            for c, exp in sorted(points.items())]


def plot_sweep(rows: list[dict], tag: str, out: Path) -> None:
    """Identity accuracy and EER (with their 95% intervals) against coupling."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    done = [r for r in rows if r["ssl"] is not None]
    if done:
        x = [r["coupling"] for r in done]
        acc = [100 * r["ssl"]["identity_acc_identity"] for r in done]
        ci = [[100 * r["ssl"]["identity_acc_identity_ci"][i] for r in done] for i in (0, 1)]
        left.errorbar(x, acc, yerr=[[a - lo for a, lo in zip(acc, ci[0])],
                                    [hi - a for a, hi in zip(acc, ci[1])]],
                      marker="o", capsize=3, label=name(tag))
        left.axhline(100 * done[0]["ssl"]["chance_identity"], color="grey", ls="--",
                     label="chance")
    for system in [tag] + [t for t in rows[0]["metrics"] if t != tag] if rows else []:
        pts = [(r["coupling"], r["metrics"][system]) for r in rows if r["metrics"][system]]
        if pts:
            x, m = zip(*pts)
            eer = [v["eer"] for v in m]
            err = [[e - v.get("eer_ci", [e, e])[0] for e, v in zip(eer, m)],
                   [v.get("eer_ci", [e, e])[1] - e for e, v in zip(eer, m)]]
            right.errorbar(x, eer, yerr=err, marker="o", capsize=3, label=name(system))
    left.set(xlabel="face-voice coupling", ylabel="held-out identity B-way accuracy %",
             title="cross-modal identity task")
    right.set(xlabel="face-voice coupling", ylabel="EER %", title="speaker verification")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_sweep_report(out: Path, points: dict[float, Path], tag: str = "ssl_identity",
                       floors: list[str] = (), trial: str = "trials") -> str:
    """Write ``out`` (markdown) and the plot beside it (same name, .png); return the md."""
    floors = list(floors)
    rows = sweep_rows(points, tag, floors, trial)
    plot = out.with_suffix(".png")
    plot_sweep(rows, tag, plot)
    head = " | ".join(f"{name(t)} EER %" for t in [tag] + floors)
    lines = [f"| coupling | identity B-way % [95% CI] | chance % | {head} |",
             "|---|---|---|" + "---|" * (1 + len(floors))]
    for r in rows:
        ssl = r["ssl"]
        cells = ["-", "-"] if ssl is None else [accuracy_cell(ssl, "identity_acc_identity"),
                                                f"{100 * ssl['chance_identity']:.2f}"]
        cells += [metric_cell(r["metrics"][t], "eer", 2) for t in [tag] + floors]
        lines.append(f"| {r['coupling']:g} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    md = f"""# Coupling study: {name(tag)} against face-voice coupling

Code: commit `{git_commit()}`; machine: {cpu_model()}. One corpus per coupling (a
development corpus, never the test corpus of the recipe), one model each; brackets are 95%
intervals (bootstrap over identities, over speakers for EER).

{table}

![identity accuracy and EER against coupling]({plot.name})
"""
    write_text_atomic(out, md)
    return md
