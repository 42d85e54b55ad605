"""Prepare Kaldi data dirs from the official VoxCeleb1/VoxCeleb2 layouts.

Usage:
  python -m xmodal.bin.prepare_voxceleb vox2 --root VOX2 --subset {dev,test} --out-dir DIR
         [--audio {path,pipe}] [--text FILE]
  python -m xmodal.bin.prepare_voxceleb vox1 --root VOX1 --dev-dir DIR --test-dir DIR
         [--trials veri_test2.txt ...] [--meta vox1_meta.csv]
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.voxceleb_prep import AUDIO_FORMS, VOX2_SUBSETS, prepare_vox1, prepare_vox2


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpora = parser.add_subparsers(dest="corpus", required=True)
    vox2 = corpora.add_parser("vox2", help="one VoxCeleb2 subset -> data dir with video.scp")
    vox2.add_argument("--root", required=True, help="dir holding {dev,test}/{aac,mp4}")
    vox2.add_argument("--subset", required=True, choices=VOX2_SUBSETS)
    vox2.add_argument("--out-dir", required=True, help="data dir to write")
    vox2.add_argument("--audio", default="path", choices=AUDIO_FORMS,
                      help="wav.scp holds the m4a path or an ffmpeg pipe (default: path)")
    vox2.add_argument("--text", help="transcripts '<utt> words...' to add as 'text'")
    vox1 = corpora.add_parser("vox1", help="VoxCeleb1 -> dev and test data dirs, trials")
    vox1.add_argument("--root", required=True, help="dir holding wav/ and vox1_meta.csv")
    vox1.add_argument("--dev-dir", required=True, help="data dir for the dev speakers")
    vox1.add_argument("--test-dir", required=True, help="data dir for the test speakers")
    vox1.add_argument("--trials", nargs="+", default=["veri_test2.txt"],
                      help="official trial lists under --root; the first becomes 'trials'")
    vox1.add_argument("--meta", default="vox1_meta.csv", help="meta file under --root")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.corpus == "vox2":
            n = prepare_vox2(args.root, args.subset, args.out_dir, audio=args.audio,
                             text_file=args.text)
            print(f"{args.out_dir}: {n} utterances")
        else:
            n_dev, n_test = prepare_vox1(args.root, args.dev_dir, args.test_dir, args.trials,
                                         meta=args.meta)
            print(f"{args.dev_dir}: {n_dev} utterances; {args.test_dir}: {n_test} utterances")
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
