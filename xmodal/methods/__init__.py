"""Training methods, and the registry that a config's ``method:`` key names.

Every method runs on the one trainer (``xmodal.train.trainer``) through the interface of
``xmodal.train.method``. A config without a ``method`` key is a cross-modal one (the
configs written before there were other methods).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from xmodal.config import ConfigError, from_dict, read_yaml
from xmodal.methods import cross_modal, face_generation, reconstruction, supervised
from xmodal.train.checkpoint import load_checkpoint, load_model_weights
from xmodal.train.config import RunConfig
from xmodal.train.method import Method

METHODS: dict[str, Method] = {m.name: m for m in (cross_modal.METHOD, supervised.METHOD,
                                                  reconstruction.METHOD,
                                                  face_generation.METHOD)}
DEFAULT_METHOD = cross_modal.METHOD.name


def get_method(name: str, where: str = "") -> Method:
    """The registered method ``name``; a ``ConfigError`` naming the known ones otherwise."""
    if name not in METHODS:
        raise ConfigError(f"{where or 'config'}: unknown method {name!r} "
                          f"(known: {', '.join(sorted(METHODS))})")
    return METHODS[name]


def _old_supervised_format(data: dict, path: Path) -> ConfigError | None:
    """The error for a supervised yaml of the format before the one trainer, if it is one."""
    moved = [key for key in supervised.OLD_KEYS if key in data and key != "loss"]
    if "method" in data or not moved:
        return None
    where = ", ".join(f"{key} -> {supervised.OLD_KEYS[key]}" for key in supervised.OLD_KEYS
                      if key in data)
    return ConfigError(f"{path}: a supervised baseline config of the old format: add "
                       f"'method: supervised' and move its keys into sections ({where})")


def load_run_config(path: str | os.PathLike) -> tuple[Method, RunConfig]:
    """The method a training yaml names and its config, checked (unknown keys are errors)."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: '<top>' must be a mapping, got {type(data).__name__}")
    old = _old_supervised_format(data, path)
    if old is not None:
        raise old
    name = data.get("method", DEFAULT_METHOD)
    if not isinstance(name, str):
        raise ConfigError(f"{path}: key 'method' must be a string, got {type(name).__name__}")
    method = get_method(name, str(path))
    return method, from_dict(method.config_class, data, source=str(path))


def load_pretrained(exp_dir: str | os.PathLike, device: str | torch.device = "cpu",
                    weights: str = "model.pt") -> tuple[torch.nn.Module, RunConfig]:
    """The encoder of experiment ``exp_dir`` (in eval mode) and its training config.

    Tools read the resolved config saved beside the weights (``config.yaml``), so no
    inference script re-declares the training options.
    """
    exp_dir = Path(exp_dir)
    method, cfg = load_run_config(exp_dir / "config.yaml")
    model = method.encoder(cfg)
    path = exp_dir / weights
    load_model_weights(model, load_checkpoint(path)["model"], str(path))
    return model.to(device).eval(), cfg
