"""Reading the arrays of a Kaldi scp (features, face frames, embeddings) with clear errors.

kaldiio fails on a bad scp entry with whatever its parser hits: a bare ``AssertionError`` for
an offset past the end of the ark, a ``UnicodeDecodeError`` for an offset that is not the
start of a matrix, a ``FileNotFoundError`` that names neither the scp nor the key.
``ScpReader`` checks the scp's lines when it opens it (``read_table``: one ``<key> <ark:offset>``
per line, keys unique) and turns every failure to load an entry into a ``DataDirError`` naming
``scp:line``, the key and what is wrong with the ark.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

import kaldiio
import numpy as np

from xmodal.data.datadir import DataDirError, read_table


def _is_pickled(spec: str) -> bool:
    """Whether the ``ark:offset`` entry ``spec`` holds a kaldiio pickle (``[\\0B]PKL``)."""
    ark, sep, offset = spec.rpartition(":")
    if not (sep and offset.isdigit()) or not os.path.isfile(ark):
        return False  # a pipe or a bad entry: kaldiio's own error path reports it
    with open(ark, "rb") as f:
        f.seek(int(offset))
        head = f.read(5)
    return head[head.startswith(b"\0B") * 2:][:3] == b"PKL"


def _ark_problem(spec: str, err: Exception) -> str:
    """Why ``spec`` (``ark:offset``, or another kaldiio rxspecifier) could not be loaded."""
    ark, sep, offset = spec.rpartition(":")
    if not (sep and offset.isdigit()):
        return f"cannot read '{spec}' ({type(err).__name__}: {err})"
    if not os.path.isfile(ark):
        return f"ark '{ark}' does not exist"
    size = os.path.getsize(ark)
    if int(offset) >= size:
        return f"offset {offset} is past the end of ark '{ark}' ({size} bytes)"
    return (f"no readable Kaldi matrix at offset {offset} of ark '{ark}' ({size} bytes; "
            f"{type(err).__name__}: {err})")


class ScpReader(Mapping):
    """Random access to the arrays of an scp file: ``reader[key]`` loads one entry.

    Entries are loaded on demand, one ``kaldiio.load_mat`` each; ``where(key)`` is the entry's
    ``scp:line``. Keys need not be sorted (``require_sorted``: they must, as in a data dir).
    """

    def __init__(self, path: str | os.PathLike, require_sorted: bool = False):
        self.path = Path(path)
        self._specs = read_table(self.path, require_sorted=require_sorted)
        self._lines = {key: lineno for lineno, key in enumerate(self._specs, 1)}

    def where(self, key: str) -> str:
        """``scp:line`` of ``key``'s entry."""
        return f"{self.path}:{self._lines[key]}"

    def spec(self, key: str) -> str:
        """``key``'s entry as the scp gives it (e.g. ``ark:offset``), for readers of its own."""
        return self._specs[key]

    def __getitem__(self, key: str) -> np.ndarray:
        spec = self._specs[key]
        if _is_pickled(spec):
            # kaldiio would unpickle it, which can run arbitrary code.
            raise DataDirError(f"{self.where(key)}: key '{key}': refused: the entry is a pickled "
                               "Python object (kaldiio 'PKL'), not an array")
        try:
            return kaldiio.load_mat(spec)
        except Exception as err:  # kaldiio raises many kinds for a bad entry (see above)
            raise DataDirError(f"{self.where(key)}: key '{key}': "
                               f"{_ark_problem(spec, err)}") from None

    def __contains__(self, key: object) -> bool:
        # Mapping's default would load the entry to find out.
        return key in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)
