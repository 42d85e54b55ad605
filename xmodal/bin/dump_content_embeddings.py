"""Frozen content embeddings of a cross-modal model into dump dirs:
``python -m xmodal.bin.dump_content_embeddings``.

Usage: python -m xmodal.bin.dump_content_embeddings --exp-dir exp/ssl_id_content_dis
           --dump-dirs "dump/ssl_train dump/ssl_test" [--head content] [--num-threads 2]

Writes ``content_emb.{ark,scp}`` and ``content_emb.source`` into each dump dir
(``xmodal.data.content_embeddings``): the reconstruction method's ``content_embedding``
input. A dir already holding the embeddings of the same experiment is skipped; one holding
another experiment's is rewritten.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from xmodal.atomic import write_text_atomic
from xmodal.config import ConfigError
from xmodal.data.content_embeddings import CONTENT_EMB_ARK, CONTENT_EMB_SCP, CONTENT_EMB_SOURCE
from xmodal.data.datadir import DataDirError, read_table, sorted_keys
from xmodal.data.vector_ark import vector_writer
from xmodal.eval.probe import ProbeError, frame_embeddings
from xmodal.methods import load_pretrained
from xmodal.models.two_stream import TwoStreamModel
from xmodal.train.checkpoint import CheckpointError

# Utterances embedded between progress lines.
CHUNK = 200


def build_parser() -> argparse.ArgumentParser:
    """Experiment, dump dirs, head and threads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp-dir", required=True,
                        help="trained cross-modal experiment (config.yaml, model.pt)")
    parser.add_argument("--dump-dirs", required=True, help="space-separated dump dirs")
    parser.add_argument("--head", default="content", choices=("content", "identity"),
                        help="audio head whose per-step outputs are written")
    parser.add_argument("--num-threads", type=int, default=2, help="torch CPU threads")
    return parser


def write_dir(model: TwoStreamModel, dump_dir: Path, head: str, source: str) -> int:
    """Embed every utterance of ``dump_dir/feats.scp``; returns how many."""
    keys = sorted_keys(read_table(dump_dir / "feats.scp"))
    start = time.monotonic()
    with vector_writer(dump_dir / CONTENT_EMB_ARK, dump_dir / CONTENT_EMB_SCP) as write:
        for first in range(0, len(keys), CHUNK):
            chunk = keys[first:first + CHUNK]
            for key, emb in frame_embeddings(model, dump_dir / "feats.scp", chunk,
                                             head).items():
                write(key, emb.numpy())
            print(f"dump_content_embeddings: {dump_dir}: {first + len(chunk)}/{len(keys)} "
                  f"utterances ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    write_text_atomic(dump_dir / CONTENT_EMB_SOURCE, source + "\n")
    return len(keys)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.num_threads)
    source = str(Path(args.exp_dir).resolve())
    try:
        model, cfg = load_pretrained(args.exp_dir)
        if not isinstance(model, TwoStreamModel):
            raise ConfigError(f"{args.exp_dir}/config.yaml: method {cfg.method!r} has no "
                              "cross-modal content head (method: cross_modal is needed)")
        for dump_dir in map(Path, args.dump_dirs.split()):
            done = dump_dir / CONTENT_EMB_SOURCE
            if (done.is_file() and (dump_dir / CONTENT_EMB_SCP).is_file()
                    and done.read_text(encoding="utf-8").strip() == source):
                continue
            done.unlink(missing_ok=True)  # the embeddings are another model's until rewritten
            n = write_dir(model, dump_dir, args.head, source)
            print(f"dump_content_embeddings: {n} utterances of {dump_dir} from {source}",
                  file=sys.stderr)
    except (ConfigError, CheckpointError, DataDirError, ProbeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
