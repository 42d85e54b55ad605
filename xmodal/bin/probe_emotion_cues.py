"""How strongly the synthetic corpus' emotions show in voice and face:
``python -m xmodal.bin.probe_emotion_cues``.

Usage: python -m xmodal.bin.probe_emotion_cues [--seed 0] [--speakers 200]
           [--utts-per-speaker 16] [--n-boot 1000] [--out cues.json]
A probe on the generator's own parameters (``xmodal.synth.emotion_cues``): speaker-disjoint
emotion accuracy of a logistic regression on each modality's cue values, as rendered
(``absolute``) and as changes from the speaker's neutral (``relative``), with 95% intervals
from resampling the test speakers. Renders nothing: seconds on a CPU.
"""
from __future__ import annotations

import argparse
import json

from xmodal.atomic import write_text_atomic
from xmodal.synth.corpus import CorpusSpec
from xmodal.synth.emotion_cues import MODALITIES, READINGS, probe


def build_parser() -> argparse.ArgumentParser:
    """Corpus seed, identities, utterances each, bootstrap replicates and an optional json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--speakers", type=int, default=200, help="identities (ssl_train pool)")
    parser.add_argument("--utts-per-speaker", type=int, default=16)
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--out", help="also write the result as json here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.speakers < 4 or args.utts_per_speaker < 1:
        raise SystemExit("error: --speakers must be >= 4 and --utts-per-speaker >= 1")
    result = probe(CorpusSpec(seed=args.seed, vox2_dev_speakers=args.speakers),
                   n_speakers=args.speakers, utts_per_speaker=args.utts_per_speaker,
                   n_boot=args.n_boot)
    print(f"emotion from the generator's cues: {result['n_test']} utterances of "
          f"{result['n_test_speakers']} held-out speakers, chance {result['chance']:.2f}")
    print("| cues | as rendered (absolute) | change from the speaker's neutral (relative) |")
    print("|---|---|---|")
    for modality in MODALITIES:
        cells = []
        for reading in READINGS:
            r = result["accuracy"][modality][reading]
            cells.append(f"{r['accuracy']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]")
        print(f"| {modality} | {' | '.join(cells)} |")
    if args.out:
        write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
