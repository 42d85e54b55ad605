"""Writing Kaldi ark/scp pairs of float32 vectors so that no reader ever sees half of one."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

import kaldiio
import numpy as np

from xmodal.atomic import write_lines_atomic


@contextlib.contextmanager
def vector_writer(ark: Path, scp: Path) -> Iterator[Callable[[str, np.ndarray], None]]:
    """Yield ``write(key, vector)``; on success the ark and scp appear under their final names.

    Both are written under temporary names; the scp (rewritten to point at the final ark) is
    renamed last, so a killed writer never leaves a pair that looks complete.
    """
    tmp_ark, tmp_scp = (path.with_name(f".{path.name}.tmp") for path in (ark, scp))
    try:
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as writer:
            yield lambda key, vector: writer(key, np.asarray(vector, dtype=np.float32))
        lines = []
        for line in tmp_scp.read_text(encoding="utf-8").splitlines():
            key, _, location = line.partition(" ")
            lines.append(f"{key} {ark}:{location.rsplit(':', 1)[1]}")
        scp.unlink(missing_ok=True)  # an old scp must never point into the new ark
        os.replace(tmp_ark, ark)
        write_lines_atomic(scp, lines)
    finally:
        tmp_ark.unlink(missing_ok=True)
        tmp_scp.unlink(missing_ok=True)
