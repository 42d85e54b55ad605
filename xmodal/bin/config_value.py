"""One setting of training configs, defaults applied: ``python -m xmodal.bin.config_value``.

Usage: python -m xmodal.bin.config_value --key data.content conf/recon_phones.yaml ...

Prints the value of ``--key`` (dotted path into the checked config) of each config, one per
line, so a recipe can ask what a config needs (e.g. which content inputs to prepare) without
parsing yaml itself.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.config import ConfigError
from xmodal.methods import load_run_config


def build_parser() -> argparse.ArgumentParser:
    """The key and the configs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True, help="dotted key, e.g. data.content")
    parser.add_argument("configs", nargs="*", help="training yaml files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        for path in args.configs:
            value = load_run_config(path)[1]
            for part in args.key.split("."):
                if not hasattr(value, part):
                    raise ConfigError(f"{path}: no key '{args.key}' (method "
                                      f"{load_run_config(path)[0].name})")
                value = getattr(value, part)
            print(value)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
