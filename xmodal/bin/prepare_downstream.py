"""Prepare Kaldi data dirs for downstream evaluation from the CREMA-D, RAVDESS and LRW layouts.

Usage:
  python -m xmodal.bin.prepare_downstream {crema_d,ravdess,lrw} --root ROOT --out-dir DIR
         [--seed S] [--fractions TRAIN VALID TEST] [--split-file FILE] [--with-video]
  python -m xmodal.bin.prepare_downstream speaker_id --data-dir data/spk_dev
         [--data-dir data/spk_test] --out-dir DIR
  python -m xmodal.bin.prepare_downstream exclude_iden_test --data-dir data/spk_dev --out-dir DIR

Writes DIR/{train,valid,test}/ (wav.scp, utt2spk, spk2utt, utt2label[, video.scp]) and, for
CREMA-D and RAVDESS, DIR/split_speakers; DIR is replaced whole. speaker_id: VoxCeleb1
identification (utt2iden_split train/val/test; the label is the speaker);
exclude_iden_test: a data dir without the identification test utterances, for the sets that
train models the speaker-id task then tests.
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.downstream_prep import (CREMA_FRACTIONS, RAVDESS_FRACTIONS, exclude_iden_test,
                                         prepare_crema_d, prepare_lrw, prepare_ravdess,
                                         prepare_speaker_id)

_ROOTS = {"crema_d": "dir holding AudioWAV/ (and VideoFlash/ for --with-video)",
          "ravdess": "dir holding Actor_NN/ (audio-only speech archive) and, for --with-video, "
                     "Video_Speech_Actor_NN/Actor_NN/",
          "lrw": "dir holding lipread_mp4/"}


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpora = parser.add_subparsers(dest="corpus", required=True)
    iden = corpora.add_parser("speaker_id", help="VoxCeleb1 data dirs with utt2iden_split -> "
                              "train/valid/test speaker-identification data dirs")
    iden.add_argument("--data-dir", required=True, action="append",
                      help="VoxCeleb1 data dir with utt2iden_split (repeat for several)")
    iden.add_argument("--out-dir", required=True,
                      help="dir to write {train,valid,test}/ into (replaced whole)")
    exclude = corpora.add_parser("exclude_iden_test", help="a data dir without its "
                                 "identification test utterances (for training sets)")
    exclude.add_argument("--data-dir", required=True, help="data dir with utt2iden_split")
    exclude.add_argument("--out-dir", required=True, help="data dir to write (replaced whole)")
    for corpus, default in (("crema_d", CREMA_FRACTIONS), ("ravdess", RAVDESS_FRACTIONS),
                            ("lrw", None)):
        sub = corpora.add_parser(corpus, help=f"{corpus} -> train/valid/test data dirs")
        sub.add_argument("--root", required=True, help=_ROOTS[corpus])
        sub.add_argument("--out-dir", required=True,
                         help="dir to write {train,valid,test}/ into (replaced whole)")
        sub.add_argument("--with-video", action="store_true", help="add video.scp")
        if default is None:
            continue  # LRW: official splits.
        sub.add_argument("--seed", type=int, default=0, help="seed of the speaker split")
        sub.add_argument("--fractions", type=float, nargs=3, default=default,
                         metavar=("TRAIN", "VALID", "TEST"),
                         help="shares of the speakers per split (default: "
                              f"{' '.join(f'{f:.3g}' for f in default)})")
        sub.add_argument("--split-file",
                         help="'<spk> train|valid|test' lines naming every speaker; overrides "
                              "the seeded split")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.corpus == "speaker_id":
            report = prepare_speaker_id(args.data_dir, args.out_dir)
        elif args.corpus == "exclude_iden_test":
            report = [exclude_iden_test(args.data_dir, args.out_dir)]
        elif args.corpus == "lrw":
            report = prepare_lrw(args.root, args.out_dir, with_video=args.with_video)
        else:
            prepare = prepare_crema_d if args.corpus == "crema_d" else prepare_ravdess
            report = prepare(args.root, args.out_dir, seed=args.seed, fractions=args.fractions,
                             split_file=args.split_file, with_video=args.with_video)
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
