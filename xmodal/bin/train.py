"""Train the cross-modal model: ``python -m xmodal.bin.train --config C --train-dir D ...``.

Run directly for one process, or under ``torchrun --nproc_per_node=K -m xmodal.bin.train``
(same arguments) for DistributedDataParallel on K processes or several nodes.

``--resume`` continues from the last complete checkpoint, and does nothing when the run is
finished (``model.pt`` of all configured epochs). To train again, use a new --output-dir.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from xmodal.config import ConfigError, load_config
from xmodal.train.checkpoint import CheckpointError, completed_epochs
from xmodal.train.config import TrainConfig
from xmodal.train.trainer import train


def is_finished(output_dir: str | Path, cfg: TrainConfig) -> bool:
    """Whether ``output_dir`` holds the final model of all ``cfg.optim.epochs`` epochs.

    ``model.json``, written after ``model.pt``, lists the epochs averaged into it: they must
    be the last ``cfg.average_last`` checkpoints, ending with the configured last epoch.
    """
    output_dir = Path(output_dir)
    try:
        averaged = json.loads((output_dir / "model.json").read_text())["averaged_epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    expected = completed_epochs(output_dir)[-max(1, cfg.average_last):]
    return ((output_dir / "model.pt").is_file() and averaged == expected
            and expected[-1:] == [cfg.optim.epochs])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="training yaml (see egs/*/v1/conf/ssl_*.yaml)")
    parser.add_argument("--train-dir", required=True, help="dump dir of ssl_train")
    parser.add_argument("--valid-dir", required=True, help="dump dir of ssl_test (validation)")
    parser.add_argument("--output-dir", required=True, help="experiment dir exp/<tag>")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, help="override the config's seed (recorded in the "
                        "run's config.yaml): the same config trained from other initial weights "
                        "and batches")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = load_config(args.config, TrainConfig)
        if args.seed is not None:
            cfg = dataclasses.replace(cfg, seed=args.seed)
        if args.resume and is_finished(args.output_dir, cfg):
            print(f"{args.output_dir} is complete (model.pt of epoch {cfg.optim.epochs}); "
                  "skipping", file=sys.stderr)
            return 0
        train(cfg, args.train_dir, args.valid_dir, args.output_dir, args.resume, args.device)
    except (ConfigError, CheckpointError, FileExistsError, ValueError, OSError,
            FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
