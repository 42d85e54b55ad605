"""Prepare Kaldi data dirs from the official VoxCeleb1/VoxCeleb2 layouts.

Usage:
  python -m xmodal.bin.prepare_voxceleb vox2 --root VOX2 --subset {dev,test} --out-dir DIR
         [--audio {path,pipe,wav} [--wav-dir DIR] [--nj N]] [--text FILE]
         [--fraction F] [--num-speakers N] [--seed S]
  python -m xmodal.bin.prepare_voxceleb vox1 --root VOX1 --dev-dir DIR --test-dir DIR
         [--trials O E H ...] [--optional-trials O_orig ...] [--meta vox1_meta.csv]
         [--iden-split iden_split.txt] [--text FILE]
"""
from __future__ import annotations

import argparse
import sys

from xmodal.data.datadir import DataDirError
from xmodal.data.voxceleb_lists import OFFICIAL_TRIALS
from xmodal.data.voxceleb_prep import AUDIO_FORMS, VOX2_SUBSETS, prepare_vox1, prepare_vox2
from xmodal.data.wav_convert import ConversionError

_SETS = ", ".join(f"{name} ({file})" for name, file in OFFICIAL_TRIALS.items())


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpora = parser.add_subparsers(dest="corpus", required=True)
    vox2 = corpora.add_parser("vox2", help="one VoxCeleb2 subset -> data dir with video.scp")
    vox2.add_argument("--root", required=True,
                      help="dir holding {dev,test}/{aac,mp4}[/txt] and vox2_meta.csv")
    vox2.add_argument("--subset", required=True, choices=VOX2_SUBSETS)
    vox2.add_argument("--out-dir", required=True, help="data dir to write")
    vox2.add_argument("--audio", default="path", choices=AUDIO_FORMS,
                      help="wav.scp holds the m4a path, an ffmpeg pipe, or a 16 kHz wav copy "
                           "made under --wav-dir (default: path)")
    vox2.add_argument("--wav-dir", help="where --audio wav writes <spk>/<ytid>/<NNNNN>.wav")
    vox2.add_argument("--nj", type=int, default=1, help="parallel conversions for --audio wav")
    vox2.add_argument("--text", help="transcripts '<utt> words...' to add as 'text'")
    vox2.add_argument("--fraction", type=float, default=1.0,
                      help="share of each speaker's face-tracks to keep, by count (default: 1)")
    vox2.add_argument("--num-speakers", type=int, default=0,
                      help="speakers to keep (default 0: all; more than there are: all)")
    vox2.add_argument("--seed", type=int, default=0, help="seed of both samples")
    vox1 = corpora.add_parser("vox1", help="VoxCeleb1 -> dev and test data dirs, trials")
    vox1.add_argument("--root", required=True,
                      help="dir holding wav/, vox1_meta.csv, iden_split.txt and trial lists")
    vox1.add_argument("--dev-dir", required=True, help="data dir for the dev speakers")
    vox1.add_argument("--test-dir", required=True,
                      help="data dir for the test speakers and the utterances the trials name")
    vox1.add_argument("--trials", nargs="*", default=["O"],
                      help=f"required trial lists: set names {_SETS}, or files under --root; "
                           "the first is also written as 'trials' (default: O)")
    vox1.add_argument("--optional-trials", nargs="*", default=[], metavar="SET",
                      help="set names converted when present and covered by the test dir")
    vox1.add_argument("--meta", default="vox1_meta.csv", help="meta file under --root")
    vox1.add_argument("--text", help="transcripts '<utt> words...' to add as 'text'")
    vox1.add_argument("--iden-split", default="iden_split.txt",
                      help="identification split under --root (skipped when absent)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.corpus == "vox2":
            report = prepare_vox2(args.root, args.subset, args.out_dir, audio=args.audio,
                                  text_file=args.text, fraction=args.fraction,
                                  num_speakers=args.num_speakers, seed=args.seed,
                                  wav_dir=args.wav_dir, nj=args.nj)
        else:
            report = prepare_vox1(args.root, args.dev_dir, args.test_dir, args.trials,
                                  meta=args.meta, optional_trials=args.optional_trials,
                                  iden_split=args.iden_split, text_file=args.text)
    except (DataDirError, ConversionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
