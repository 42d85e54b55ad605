"""Per-frame phone posteriors of a trained recogniser into a dump dir:
``python -m xmodal.bin.phone_posteriors``.

Usage: python -m xmodal.bin.phone_posteriors --model-dir EXP/phone_recogniser --dump-dir DUMP
           [--num-threads 1]

Writes ``phone_post.ark``/``phone_post.scp`` (float32 ``(T, P)``, one row per frame of
``DUMP/feats.scp``) and ``phone_post.txt`` (the recogniser's phone table, id 0 ``sil``): the
reconstruction method's ``phone_posteriors`` content input (``xmodal.data.frame_labels``).
The scp is renamed into place last, after the ark and the table, so it exists only beside a
complete ark; a dump dir whose scp covers every utterance of ``feats.scp`` and whose table is
the recogniser's is skipped.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from xmodal.data.datadir import DataDirError, read_table
from xmodal.data.frame_labels import (POSTERIOR_TABLE_FILE, read_phone_table,
                                      write_phone_table)
from xmodal.data.scp import ScpReader
from xmodal.data.vector_ark import vector_writer
from xmodal.recogniser.ctc_phones import PhoneRecogniser, RecogniserError

POSTERIOR_SCP = "phone_post.scp"
POSTERIOR_ARK = "phone_post.ark"
# Utterances between progress lines.
CHUNK = 500


def build_parser() -> argparse.ArgumentParser:
    """Model dir, dump dir and threads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True,
                        help="trained recogniser (final.pt; xmodal.bin.train_phone_recogniser)")
    parser.add_argument("--dump-dir", required=True, help="dump dir with feats.scp")
    parser.add_argument("--num-threads", type=int, default=1, help="torch CPU threads")
    return parser


def is_complete(dump_dir: Path, feats: ScpReader, phones: list[str]) -> bool:
    """Whether ``dump_dir`` already holds these phones' posteriors of every utterance."""
    scp, table = dump_dir / POSTERIOR_SCP, dump_dir / POSTERIOR_TABLE_FILE
    if not (scp.is_file() and table.is_file() and (dump_dir / POSTERIOR_ARK).is_file()):
        return False
    return (read_phone_table(table) == phones
            and set(read_table(scp, require_sorted=False)) == set(feats))


def write_posteriors(recogniser: PhoneRecogniser, dump_dir: Path, feats: ScpReader) -> None:
    """The posteriors of every utterance of ``feats`` and the phone table into ``dump_dir``."""
    # Without an scp the posteriors count as absent until all three files are written.
    (dump_dir / POSTERIOR_SCP).unlink(missing_ok=True)
    write_phone_table(dump_dir / POSTERIOR_TABLE_FILE, recogniser.phones)
    start = time.monotonic()
    with vector_writer(dump_dir / POSTERIOR_ARK, dump_dir / POSTERIOR_SCP) as write:
        for n, key in enumerate(feats, 1):
            write(key, recogniser.posteriors(feats[key], f"{feats.where(key)}: key '{key}'"))
            if n % CHUNK == 0 or n == len(feats):
                print(f"phone_posteriors: {dump_dir}: {n}/{len(feats)} utterances "
                      f"({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.num_threads)
    dump_dir = Path(args.dump_dir)
    try:
        recogniser = PhoneRecogniser.load(args.model_dir)
        feats = ScpReader(dump_dir / "feats.scp")
        if is_complete(dump_dir, feats, recogniser.phones):
            print(f"phone_posteriors: {dump_dir / POSTERIOR_SCP} is complete; not written "
                  "again", file=sys.stderr)
            return 0
        write_posteriors(recogniser, dump_dir, feats)
    except (DataDirError, RecogniserError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
