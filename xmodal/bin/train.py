"""Train the cross-modal model: ``python -m xmodal.bin.train --config C --train-dir D ...``.

Run directly for one process, or under ``torchrun --nproc_per_node=K -m xmodal.bin.train``
(same arguments) for DistributedDataParallel on K processes or several nodes.
"""
from __future__ import annotations

import argparse
import logging
import sys

from xmodal.config import ConfigError, load_config
from xmodal.train.checkpoint import CheckpointError
from xmodal.train.config import TrainConfig
from xmodal.train.trainer import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="training yaml (see egs/*/v1/conf/ssl_*.yaml)")
    parser.add_argument("--train-dir", required=True, help="dump dir of ssl_train")
    parser.add_argument("--valid-dir", required=True, help="dump dir of ssl_test (validation)")
    parser.add_argument("--output-dir", required=True, help="experiment dir exp/<tag>")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config, TrainConfig)
        train(cfg, args.train_dir, args.valid_dir, args.output_dir, args.resume, args.device)
    except (ConfigError, CheckpointError, FileExistsError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
