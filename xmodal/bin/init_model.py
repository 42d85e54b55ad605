"""An untrained model as an experiment dir: the "random init" floor of the recipes.

Usage: python -m xmodal.bin.init_model --config conf/ssl_identity.yaml --output-dir exp/random_init
           [--seed N] [--force]
Writes ``config.yaml`` and ``model.pt`` holding the weights ``xmodal.bin.train`` starts from
with the same config and seed; stages 5-6 then embed and score it like a trained model. An
existing ``model.pt`` is kept unless --force.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from xmodal.config import ConfigError
from xmodal.methods import load_run_config
from xmodal.train.trainer import write_initial_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training yaml whose model to build")
    parser.add_argument("--output-dir", required=True, help="experiment dir to write")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    parser.add_argument("--force", action="store_true", help="overwrite an existing model.pt")
    args = parser.parse_args(argv)
    if (Path(args.output_dir) / "model.pt").exists() and not args.force:
        print(f"init_model: {args.output_dir}/model.pt exists; skipping", file=sys.stderr)
        return 0
    try:
        method, cfg = load_run_config(args.config)
        if args.seed is not None:
            cfg = dataclasses.replace(cfg, seed=args.seed)
        write_initial_model(method, cfg, args.output_dir)
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
