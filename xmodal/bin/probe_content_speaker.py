"""Speaker probe of a decoder content input: ``python -m xmodal.bin.probe_content_speaker``.

Usage: python -m xmodal.bin.probe_content_speaker --data-dir DUMP/ssl_test
           --content phones|noisy|phone_posteriors [--phone-error-rate 0.2]
           --out speaker_probe.json [--seed 0] [--n-boot 1000]
Logistic regression from each utterance's content statistics to its speaker, trained on one
video per speaker and tested on the others (``xmodal.eval.content_speaker_probe``); writes
the accuracy, its 95% speaker-bootstrap interval and chance as json; prints one line.
"""
from __future__ import annotations

import argparse
import json
import sys

from xmodal.atomic import write_text_atomic
from xmodal.eval.content_speaker_probe import (CONTENTS, format_result,
                                               probe_content_speaker_dir)


def build_parser() -> argparse.ArgumentParser:
    """Data dir, content kind, error rate, output, seed and bootstrap replicates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="data or dump dir with utt2spk, "
                        "phones.txt and frame_phones (or phone_post.scp)")
    parser.add_argument("--content", required=True, choices=CONTENTS,
                        help="the decoder's content input to probe")
    parser.add_argument("--phone-error-rate", type=float,
                        help="content noisy: the simulated recogniser's phone error rate "
                        "(default: 0.2)")
    parser.add_argument("--out", required=True, help="json file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training-video "
                        "choice, the noisy corruption (the training seed) and the bootstrap")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.phone_error_rate is not None and args.content != "noisy":
        parser.error("--phone-error-rate applies to --content noisy only")
    options = {} if args.phone_error_rate is None else {"phone_error_rate": args.phone_error_rate}
    try:
        result = probe_content_speaker_dir(args.data_dir, args.content, seed=args.seed,
                                           n_boot=args.n_boot, **options)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(format_result(args.data_dir, result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
