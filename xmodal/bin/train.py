"""Train any method: ``python -m xmodal.bin.train --config C --train-dir D --output-dir E``.

The config's ``method:`` (``xmodal.methods``; none means ``cross_modal``) chooses what is
trained; the one trainer runs it. Run directly for one process, or under
``torchrun --nproc_per_node=K -m xmodal.bin.train`` (same arguments) for
DistributedDataParallel on K processes or several nodes.

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

from xmodal.config import ConfigError
from xmodal.data.datadir import DataDirError
from xmodal.methods import load_run_config
from xmodal.train.checkpoint import CheckpointError, completed_epochs
from xmodal.train.config import RunConfig
from xmodal.train.method import TrainingData
from xmodal.train.trainer import train


def is_finished(output_dir: str | Path, cfg: RunConfig) -> bool:
    """Whether ``output_dir`` holds the final model of all ``cfg.optim.epochs`` epochs.

    ``model.json``, written after ``model.pt``, lists the epochs averaged into it: they must
    be the last ``cfg.average_last`` checkpoints, ending with the configured last epoch.
    """
    output_dir = Path(output_dir)
    try:
        averaged = json.loads((output_dir / "model.json").read_text())["averaged_epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    expected = completed_epochs(output_dir)[-cfg.average_last:]
    return ((output_dir / "model.pt").is_file() and averaged == expected
            and expected[-1:] == [cfg.optim.epochs])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="training yaml (egs/*/v1/conf/*.yaml)")
    parser.add_argument("--train-dir", required=True, help="dump dir of the training set")
    parser.add_argument("--valid-dir", help="dump dir scored after each epoch (cross_modal: "
                        "ssl_test)")
    parser.add_argument("--utt2spk", help="labels, and the utterances trained on (supervised: "
                        "of --train-dir; reconstruction with data.labels labelled: of "
                        "--labelled-dir)")
    parser.add_argument("--labelled-dir", help="dump dir of a separate labelled set (the "
                        "semi-supervised reconstruction configs; other methods ignore it)")
    parser.add_argument("--output-dir", required=True, help="experiment dir exp/<tag>")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--seed", type=int, help="override the config's seed (recorded in the "
                        "run's config.yaml): the same config trained from other initial weights "
                        "and batches")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        method, cfg = load_run_config(args.config)
        if args.seed is not None:
            cfg = dataclasses.replace(cfg, seed=args.seed)
        if args.resume and is_finished(args.output_dir, cfg):
            print(f"{args.output_dir} is complete (model.pt of epoch {cfg.optim.epochs}); "
                  "skipping", file=sys.stderr)
            return 0
        data = TrainingData(Path(args.train_dir),
                            Path(args.valid_dir) if args.valid_dir else None,
                            Path(args.utt2spk) if args.utt2spk else None,
                            Path(args.labelled_dir) if args.labelled_dir else None)
        train(method, cfg, data, args.output_dir, args.resume, args.device)
    except (ConfigError, CheckpointError, DataDirError, FileExistsError, ValueError, OSError,
            FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
