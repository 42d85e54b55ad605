"""Checkpoints: atomic epoch snapshots of the full training state, discovery and averaging.

A checkpoint holds everything a resumed run needs to continue as if never stopped: model,
optimisers, schedulers, adversaries, RNG states, the epoch and the resolved config. It is
written under a temporary name and renamed, so a crash mid-write never leaves a file that
looks complete (the next save of the same file removes the leftover temporary). Files are
loaded with ``weights_only=True``: no pickled code is executed.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from xmodal.atomic import atomic_path, remove_stale_temporaries

_NAME = re.compile(r"^epoch(\d+)\.pt$")
# How torch's weights-only unpickler names a global it refuses to load.
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not fit the model."""


def checkpoint_path(exp_dir: str | Path, epoch: int) -> Path:
    """Where the checkpoint after ``epoch`` (1-based) lives."""
    return Path(exp_dir) / f"epoch{epoch}.pt"


class _ErrorKeepingFile:
    """A binary file for ``torch.save`` that keeps the ``OSError`` of a failed write.

    ``torch.save`` turns a failed write into "unexpected pos ..."; the kept error says what
    happened ("No space left on device").
    """

    def __init__(self, file):
        self.file, self.error = file, None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.file.flush()


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` atomically, after removing what a killed earlier write of ``path`` left.

    A failed write (full disk, read-only dir) is a ``CheckpointError`` naming ``path``.
    """
    path = Path(path)
    try:
        remove_stale_temporaries(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            sink = _ErrorKeepingFile(file)
            try:
                torch.save(state, sink)
            except RuntimeError:
                if sink.error is None:
                    raise
                raise sink.error from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot write checkpoint ({err.strerror or err})") from None


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, with a clear error if unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated/corrupt files
        unsafe = (_UNSAFE_GLOBAL.search(str(err)) if isinstance(err, pickle.UnpicklingError)
                  else None)
        if unsafe:
            raise CheckpointError(f"{path}: refused: the checkpoint holds a pickled Python "
                                  f"object ({unsafe.group(1)}), not only tensors, and loading "
                                  "it could run code") from None
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(err).__name__}: {err})") from None


def completed_epochs(exp_dir: str | Path) -> list[int]:
    """Epoch numbers with a complete checkpoint in ``exp_dir``, ascending."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for p in exp_dir.iterdir() if (m := _NAME.match(p.name)))


def load_model_weights(model: torch.nn.Module, state_dict: dict, where: str) -> None:
    """Load weights, naming the mismatching keys when the architecture differs."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    if missing or unexpected or shapes:
        detail = "; ".join(f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for what, keys in (("missing", missing), ("unexpected", unexpected),
                                              ("shape differs", shapes)) if keys)
        raise CheckpointError(f"{where}: checkpoint does not fit this model ({detail})")
    model.load_state_dict(state_dict)


def average_model_weights(paths: list[Path]) -> dict:
    """Element-wise mean of the model weights of several checkpoints.

    Floating-point tensors are averaged; integer buffers (e.g. BatchNorm's batch counter)
    are taken from the last checkpoint.
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    states = [load_checkpoint(p)["model"] for p in paths]
    avg = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            avg[key] = sum(s[key].double() for s in states).div(len(states)).to(last.dtype)
        else:
            avg[key] = last.clone()
    return avg
