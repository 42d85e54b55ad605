"""The Shukla et al. section of RESULTS.md: does each face generator use the audio (held-out
mouth-region L1 against copying the still frame and against another identity's audio), its
sync curve, and its audio encoder scored like every encoder (Table 3 rows)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

BASELINE_NAMES = {"copy_still": "copy the still frame",
                  "shuffled_audio": "another identity's audio"}


def _interval(entry: dict, digits: int = 4) -> str:
    low, high = entry["ci"]
    return f"{entry['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _difference(entry: dict, digits: int = 4) -> str:
    low, high = entry["ci"]
    mark = "yes" if entry["significant"] else "no (noise)"
    return (f"{entry['difference']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}], "
            f"p {entry['p_value']:.3f}: {mark}")


def generation_table(exp: Path, tags: list[str], name: Callable[[str], str]) -> str:
    """One row per generator: mouth L1 of the model and both baselines, the paired
    differences, and whether the sync curve is lowest at shift 0."""
    rows = ["| model | still frame | windows (identities) | mouth L1, model | "
            + " | ".join(f"{b} | model - {b}, significant?" for b in BASELINE_NAMES.values())
            + " | sync minimum at |",
            "|---|---|---|---|" + "---|---|" * len(BASELINE_NAMES) + "---|"]
    for tag in tags:
        path = exp / tag / "generation_eval.json"
        if not path.exists():
            rows.append(f"| {name(tag)} | - | - | - |" + " - | - |" * len(BASELINE_NAMES) + " - |")
            continue
        r = json.loads(path.read_text())
        cells = [name(tag), r["still_frame"].replace("_", " "),
                 f"{r['n_windows']} ({r['n_identities']})",
                 _interval(r["mouth_l1"]["model"])]
        for key in BASELINE_NAMES:
            cells += [_interval(r["mouth_l1"][key]), _difference(r["model_minus"][key])]
        cells.append(f"{r['sync_argmin']:+d}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def sync_table(exp: Path, tags: list[str], name: Callable[[str], str]) -> str:
    """Held-out mouth L1 against the audio shift, per generator, and each shift's paired
    difference from shift 0 (positive: worse than in sync)."""
    results = {t: json.loads((exp / t / "generation_eval.json").read_text())
               for t in tags if (exp / t / "generation_eval.json").exists()}
    if not results:
        return "(no generator evaluated)"
    shifts = [p["shift"] for p in next(iter(results.values()))["sync_curve"]]
    rows = ["| model | " + " | ".join(f"shift {k:+d}" for k in shifts) + " |",
            "|---|" + "---|" * len(shifts)]
    for tag, r in results.items():
        cells = []
        for p in r["sync_curve"]:
            cell = _interval(p)
            if p["minus_shift0"] is not None:
                d = p["minus_shift0"]
                cell += f"; {d['difference']:+.4f}{'*' if d['significant'] else ''}"
            cells.append(cell)
        rows.append(f"| {name(tag)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def generation_section(exp: Path, tags: list[str], name: Callable[[str], str],
                       scores_table: str) -> str:
    """The section: the generators' held-out tests, sync curves, PNGs, and ``scores_table``
    (their audio encoders in Table 3's form)."""
    pngs = ", ".join(f"`{t}/generation.png`" for t in tags)
    return f"""## Shukla et al. 2020: speech representations learnt by generating the face

Does the generator use the audio? Mouth-region L1 of the generated lower face (grey levels in
[0, 1]) on windows of held-out face-tracks (ssl_test identities, never trained on), against
two baselines on the same windows: copying the still frame into every frame, and the
generator driven by a window of another identity's audio. Differences are model minus
baseline (negative: the model is closer to the real mouth), paired by window, intervals and
p-values from a bootstrap over identities; "no (noise)": the interval holds 0.

{generation_table(exp, tags, name)}

Sync curve: the same windows with the audio shifted by k video frames (frame t drawn from
the audio of frame t + k); after each shift's mouth L1, its paired difference from shift 0
(`*`: significant). A generator that follows the audio is lowest at 0.

{sync_table(exp, tags, name)}

Generated frames beside the real ones for held-out tracks, and the sync curve: {pngs}.

Only the audio encoder is kept after training. Its utterance embedding (time-pooled frame
features) scored exactly as Table 3: the identity of the generated face comes from the still
frame, not from the audio, so nothing asks the audio features to tell speakers apart (we
expect weak rows).

{scores_table}

"""
