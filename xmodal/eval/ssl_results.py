"""Table 2 results as numbers people read: cells with intervals, the table, chance checks.

Pure functions of the dict ``ssl_tasks.ssl_task_accuracies`` writes to ``ssl_eval.json``; no
torch, so reports and checks start in a fraction of a second.
"""
from __future__ import annotations

EMBEDDINGS = ("identity", "content")


def chance_failures(result: dict, content_trained: bool, identity_trained: bool) -> list[str]:
    """What a trained loss failed to learn: its task, scored with its own embedding, whose
    95% interval still reaches chance. Empty when every trained task left chance."""
    failures = []
    for task, trained in (("content", content_trained), ("identity", identity_trained)):
        low, high = result[f"{task}_acc_{task}_ci"]
        chance = result[f"chance_{task}"]
        if trained and low <= chance:
            failures.append(f"the {task} loss was trained, but held-out {task} accuracy with "
                            f"the {task} embedding, {100 * result[f'{task}_acc_{task}']:.1f}% "
                            f"[{100 * low:.1f}, {100 * high:.1f}], is within its 95% interval "
                            f"of chance ({100 * chance:.1f}%)")
    return failures


def accuracy_cell(result: dict, key: str) -> str:
    """``acc [low, high]`` in percent, one decimal (no interval if the result has none)."""
    cell = f"{100 * result[key]:.1f}"
    if f"{key}_ci" in result:
        low, high = result[f"{key}_ci"]
        cell += f" [{100 * low:.1f}, {100 * high:.1f}]"
    return cell


def format_table(results: dict[str, dict], trained: dict[str, set[str]] | None = None) -> str:
    """Paper Table 2 layout: one row per (model, embedding), content and identity accuracy.

    ``trained`` names, per model, the embeddings whose head was trained (default: all); the
    rows of the others are "-", as in the paper, since an untrained head measures nothing.
    """
    lines = ["| model | embedding | content (sync) acc % | identity acc % | track EER % |",
             "|---|---|---|---|---|"]
    for tag, r in results.items():
        for emb in EMBEDDINGS:
            if trained is not None and emb not in trained.get(tag, set()):
                lines.append(f"| {tag} | {emb} | - | - | - |")
                continue
            eer = f"{r[f'track_eer_{emb}']:.1f}" if f"track_eer_{emb}" in r else ""
            lines.append(f"| {tag} | {emb} | {accuracy_cell(r, f'content_acc_{emb}')} | "
                         f"{accuracy_cell(r, f'identity_acc_{emb}')} | {eer} |")
    if results:
        r = next(iter(results.values()))
        lines.append(f"| chance | | {100 * r['chance_content']:.1f} | "
                     f"{100 * r['chance_identity']:.1f} | 50 |")
    return "\n".join(lines)
