"""YAML configs loaded into typed dataclasses.

Every config is a (possibly nested) dataclass. Loading checks each value's type with
typeguard and rejects keys the dataclass does not declare, naming the offending key by its
dotted path and the file it came from, so a typo never passes as a silent default.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, TypeVar

import typeguard
import yaml

from xmodal.atomic import write_text_atomic

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is missing, unknown or of the wrong type."""


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def from_dict(cls: type[T], data: Any, where: str = "", source: str = "<dict>") -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and types recursively."""
    prefix = f"{where}." if where else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where or '<top>'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{prefix}{unknown[0]}' (allowed: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        key = f"{prefix}{name}"
        if _is_dataclass_type(tp):
            value = from_dict(tp, value, key, source)
        else:
            if tp is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # yaml writes 1 for 1.0; accept it for float fields
            try:
                typeguard.check_type(
                    value, tp,
                    collection_check_strategy=typeguard.CollectionCheckStrategy.ALL_ITEMS)
            except typeguard.TypeCheckError as err:
                raise ConfigError(f"{source}: key '{key}' has a wrong type: {err}") from None
        kwargs[name] = value
    missing = [n for n, f in fields.items() if n not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{source}: missing required key '{prefix}{missing[0]}'")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {where or '<top>'}: {err}") from None


def read_yaml(path: str | os.PathLike) -> Any:
    """The contents of yaml file ``path`` (safe loader; an empty file is ``{}``)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid yaml: {err}") from None
    return {} if data is None else data


def load_config(path: str | os.PathLike, cls: type[T]) -> T:
    """Load yaml file ``path`` (safe loader) into dataclass ``cls``."""
    return from_dict(cls, read_yaml(path), source=str(path))


def to_dict(obj: Any) -> dict:
    """A dataclass config as plain dicts/lists, ready for yaml."""
    return dataclasses.asdict(obj)


def save_config(obj: Any, path: str | os.PathLike) -> None:
    """Write a resolved config as yaml, atomically (temporary name, then rename)."""
    write_text_atomic(path, yaml.safe_dump(to_dict(obj), sort_keys=False))
