"""The downstream table of RESULTS.md: encoders as rows, tasks as columns, each cell a test
accuracy with its 95% interval over speakers and its paired comparisons with the floors.

Results are ``exp/<tag>/downstream/<task>_<head>.json`` (``xmodal.bin.downstream``). The
floors are the log-mel frames themselves (``mean_logmel``) and the encoder's own architecture
untrained (``random_init`` for the two-stream models, ``random_init_xvector`` for the
x-vectors, same head); the ceiling (``downstream_ceiling``) is a classifier trained end to
end on the log-mel frames with the task's labels. Each encoder is compared with each floor on
the same test utterances by a paired bootstrap over speakers
(``downstream_classifier.paired_accuracy_comparison``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xmodal.config import read_yaml
from xmodal.eval.downstream_classifier import MIN_TEST_SPEAKERS, paired_accuracy_comparison
from xmodal.eval.embedding_sets import HEADS

LOGMEL, CEILING = "mean_logmel", "downstream_ceiling"
RANDOM_INIT = {"reconstruction": "random_init_xvector"}  # other methods: random_init
TASK_NAMES = {"crema_d": "emotion (CREMA-D)", "ravdess": "emotion (RAVDESS)",
              "lrw": "words (LRW)", "speaker_id": "speaker id (VoxCeleb1)"}


def load_result(exp: Path, tag: str, task: str, head: str) -> dict | None:
    """One downstream result, or None if it was not run."""
    path = exp / tag / "downstream" / f"{task}_{head}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def random_init_of(exp: Path, tag: str) -> str:
    """The untrained floor of ``tag``'s architecture."""
    config = exp / tag / "config.yaml"
    method = (read_yaml(config) or {}).get("method", "cross_modal") if config.is_file() else ""
    return RANDOM_INIT.get(method, "random_init")


def compare(a: dict, b: dict | None, n_boot: int) -> str:
    """``+`` (a significantly better than b), ``-`` (worse), ``=`` (no difference shown),
    ``.`` (b not run) or ``?`` (fewer than ``MIN_TEST_SPEAKERS`` test speakers: not tested);
    the same test utterances are required."""
    if b is None:
        return "."
    keys = sorted(a["outcomes"])
    if keys != sorted(b["outcomes"]):
        raise ValueError(f"{a['task']}: the two results were tested on different utterances")
    result = paired_accuracy_comparison(np.array([a["outcomes"][k] for k in keys]),
                                        np.array([b["outcomes"][k] for k in keys]),
                                        [a["speakers"][k] for k in keys], n_boot=n_boot)
    if not result["testable"]:
        return "?"
    if not result["significant"]:
        return "="
    return "+" if result["difference"] > 0 else "-"


def cell(result: dict | None) -> str:
    """``acc [low, high]`` in percent, or ``-``."""
    if result is None:
        return "-"
    low, high = result["ci"]
    return f"{100 * result['accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def downstream_table(exp: Path, tags: list[str], tasks: list[str], names: dict[str, str],
                     n_boot: int = 1000) -> str:
    """The markdown table: the ceiling, every (tag, head) with its marks against the log-mel
    floor and the random-init floor, then the floors themselves and chance."""
    header = "| encoder | head | " + " | ".join(TASK_NAMES.get(t, t) for t in tasks) + " |"
    lines = [header, "|---|---|" + "---|" * len(tasks)]

    def row(label: str, head: str, results: list[dict | None], marks: list[str]) -> None:
        cells = [cell(r) + (f" {m}" if m else "") for r, m in zip(results, marks)]
        lines.append(f"| {label} | {head} | " + " | ".join(cells) + " |")

    ceiling = [load_result(exp, CEILING, t, "content") for t in tasks]
    if any(ceiling):
        row("supervised end to end (ceiling)", "-", ceiling, [""] * len(tasks))
    untrained_floors = ("random_init", *RANDOM_INIT.values())
    floors = {(b, h): [load_result(exp, b, t, h) for t in tasks]
              for b in untrained_floors for h in HEADS}
    logmel = [load_result(exp, LOGMEL, t, "content") for t in tasks]
    for tag in tags:
        if tag in untrained_floors:  # their own rows, below
            continue
        untrained = random_init_of(exp, tag)
        for head in HEADS:
            results = [load_result(exp, tag, t, head) for t in tasks]
            if not any(results):
                continue
            marks = [f"{compare(r, f, n_boot)}{compare(r, u, n_boot)}" if r else ""
                     for r, f, u in zip(results, logmel, floors[(untrained, head)])]
            row(names.get(tag, tag), head, results, marks)
    for (base, head), results in floors.items():
        if any(results):
            row(names.get(base, f"{base} (floor)"), head, results, [""] * len(tasks))
    if any(logmel):
        row("log-mel frames (floor)", "-", logmel, [""] * len(tasks))
    first = [r for r in (ceiling + logmel) if r]
    by_task = {r["task"]: r for r in first}
    lines.append("| chance (majority class) | - | " + " | ".join(
        f"{100 * by_task[t]['chance']:.1f}" if t in by_task else "-" for t in tasks) + " |")
    return "\n".join(lines)


def downstream_section(exp: Path, tags: list[str], tasks: list[str], names: dict[str, str],
                       n_boot: int = 1000) -> str:
    """The RESULTS.md section: what was run, the table and how to read its marks."""
    normalised = sorted({t for tag in tags + [LOGMEL] for t in tasks
                         for head in HEADS
                         if (load_result(exp, tag, t, head) or {}).get("speaker_normalised")})
    per_speaker = (f" Speaker-normalised ({', '.join(TASK_NAMES.get(t, t) for t in normalised)}):"
                   " each speaker's features are standardised with the mean and deviation of"
                   " that speaker's own utterances in the split, labels unused, since an"
                   " emotion is a change from the speaker's own neutral voice."
                   if normalised else "")
    return f"""## Downstream tasks: what each frozen encoder's features hold

Test accuracy % [95% interval over speakers] of a classifier trained on each encoder's frozen
frame features (`xmodal.bin.downstream`; the classifier and its early stopping on the
validation split: `conf/downstream.yaml`), on speaker-disjoint splits. After each cell, two
marks from a paired bootstrap over speakers on the same test utterances: the first against
the log-mel floor, the second against the same architecture untrained; `+` significantly
better, `-` significantly worse, `=` not told apart (noise), `.` floor not run, `?` not
tested (fewer than {MIN_TEST_SPEAKERS} test speakers: a bootstrap over so few cannot
estimate the spread, and its interval is not to be read either).{per_speaker}

{downstream_table(exp, tags, tasks, names, n_boot)}

"""
