"""The completion marker of a generated corpus: a JSON summary written last, whose ``spec``
records what was generated. Both generators (the VoxCeleb-layout corpus and the downstream
corpora) share one root when asked to, so each clears only its own parts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence


def finished_summary(marker: Path, spec: dict) -> dict | None:
    """The summary in ``marker`` if it records a finished generation of exactly ``spec``."""
    if not marker.is_file():
        return None
    summary = json.loads(marker.read_text())
    return summary if summary["spec"] == spec else None


def begin_generation(root: Path, marker_name: str, spec: dict, parts: Sequence[str],
                     what: str, force: bool) -> dict | None:
    """Before generating ``what`` from ``spec`` under ``root``: the finished summary if there
    is one of this spec (nothing to do, unless ``force``); otherwise ``parts`` and the marker
    are removed (an interrupted run starts again from scratch) and None is returned. A
    marker of another spec is refused unless ``force``: it is someone's finished corpus."""
    marker = root / marker_name
    summary = finished_summary(marker, spec)
    if summary is not None and not force:
        return summary
    if marker.exists() and not force:
        raise FileExistsError(f"{root} holds {what} generated with other arguments "
                              f"(see {marker}); pass --force or choose another directory")
    for name in (*parts, marker_name):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    return None
