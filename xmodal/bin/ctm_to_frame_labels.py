"""Per-frame phone labels of a data dir from a phone CTM: writes DIR/frame_phones, DIR/phones.txt.

Usage: python -m xmodal.bin.ctm_to_frame_labels --ctm CTM --data-dir DIR [--frame-shift 0.01]

Every utterance of DIR/utt2spk must have phones in the CTM; see ``xmodal.data.frame_labels``
for the formats.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import PHONE_TABLE_FILE, DataDir, DataDirError, read_table
from xmodal.data.frame_labels import ctm_frame_labels, write_frame_labels, write_phone_table


def build_parser() -> argparse.ArgumentParser:
    """The CTM, the data dir and the frame shift."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ctm", required=True,
                        help="phone CTM: <utt> <channel> <start_s> <duration_s> <phone>")
    parser.add_argument("--data-dir", required=True, help="data dir to add the labels to")
    parser.add_argument("--frame-shift", type=float, default=0.01,
                        help="seconds between feature frames")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data_dir = DataDir(args.data_dir)
    try:
        utts = read_table(data_dir.utt2spk)
        symbols, labels = ctm_frame_labels(args.ctm, utts, args.frame_shift)
        # The table first: frame_phones is never left indexing a table that is not there.
        write_phone_table(data_dir.file(PHONE_TABLE_FILE), symbols)
        write_frame_labels(data_dir.file("frame_phones"), labels)
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"ctm_to_frame_labels: {len(labels)} utterances, {len(symbols)} phones, "
          f"{sum(len(ids) for ids in labels.values())} frames -> {data_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
