"""Atomic file output: write under a temporary name in the same directory, then rename.

A crash or an error part-way leaves the previous file (or no file), never a half-written one.
A process killed part-way (SIGKILL, power loss) cannot remove its temporary file, named
``.<name>.<random>.tmp``; ``remove_stale_temporaries`` does, for paths with a single writer.
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import Iterator


_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_SUFFIX)
    os.close(fd)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_temporaries(path: str | os.PathLike) -> None:
    """Delete the temporary files that killed ``atomic_path(path)`` writes left behind.

    Only for a path that no other process is writing at the same time (e.g. the checkpoints
    of a run, which rank 0 alone writes): its temporary file would go too.
    """
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*{_SUFFIX}"):
        stale.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_lines_atomic(path: str | os.PathLike, lines: list[str]) -> None:
    """Write one line per item (newline-terminated) to ``path`` atomically."""
    write_text_atomic(path, "".join(f"{line}\n" for line in lines))
