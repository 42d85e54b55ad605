"""Typed yaml configs: unknown keys and wrong types are errors that name the key."""
from dataclasses import dataclass, field

import pytest
import yaml

from xmodal.config import ConfigError, load_config, save_config


@dataclass
class Optim:
    lr: float = 0.01
    momentum: float = 0.9


@dataclass
class Train:
    batch_size: int
    name: str = "x"
    optim: Optim = field(default_factory=Optim)
    losses: list[str] = field(default_factory=lambda: ["content"])


def write(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_nested_values_and_int_for_float(tmp_path):
    cfg = load_config(write(tmp_path, {"batch_size": 4, "optim": {"lr": 1}}), Train)
    assert cfg.batch_size == 4 and cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.momentum == 0.9 and cfg.losses == ["content"]


def test_unknown_nested_key_is_named(tmp_path):
    path = write(tmp_path, {"batch_size": 4, "optim": {"lr": 0.1, "momentun": 0.5}})
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'optim\.momentun'"):
        load_config(path, Train)


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match="key 'batch_size' has a wrong type"):
        load_config(write(tmp_path, {"batch_size": "four"}), Train)
    with pytest.raises(ConfigError, match="key 'losses' has a wrong type"):
        load_config(write(tmp_path, {"batch_size": 1, "losses": ["a", 3]}), Train)


def test_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match="missing required key 'batch_size'"):
        load_config(write(tmp_path, {"name": "y"}), Train)


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid yaml"):
        load_config(bad, Train)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml", Train)


def test_save_round_trip(tmp_path):
    cfg = Train(batch_size=3, optim=Optim(lr=0.5))
    save_config(cfg, tmp_path / "out" / "resolved.yaml")
    assert load_config(tmp_path / "out" / "resolved.yaml", Train) == cfg
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["resolved.yaml"]
