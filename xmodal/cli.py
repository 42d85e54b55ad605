"""The ``xmodal`` command: use a trained model (a pack or an experiment dir) on its own.

  xmodal embed  --model PACK [--wav-scp wav.scp | FILE...] --out emb.ark|emb.npy
  xmodal verify --model PACK A B [--p-target P] [--json]
  xmodal export --model PACK --format onnx|torchscript [--out FILE]
  xmodal score   ...   (= python -m xmodal.bin.score)
  xmodal metrics ...   (= python -m xmodal.bin.compute_metrics)

``embed`` writes a Kaldi ark with its scp (keys: the wav.scp keys, or the file names as given)
or a ``.npy`` matrix (rows in input order); nothing is written unless every recording embeds.
``verify`` prints ``<a> <b> <score> <llr> same|different`` (score and llr as stage 6 and the
pack's calibration compute them); without a calibration, ``<a> <b> <score>``. Errors name
the file (and the wav.scp line) and exit with status 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from xmodal.atomic import atomic_path
from xmodal.data.datadir import DataDirError, numbered_lines
from xmodal.data.vector_ark import vector_writer
from xmodal.pack.format import PackError
from xmodal.pack.model import InputError, load_model

# Subcommands that are the recipe tools under another name: their arguments pass through.
ALIASES = {"score": "xmodal.bin.score", "metrics": "xmodal.bin.compute_metrics"}


def read_wav_scp(path: Path) -> tuple[list[str], list[str], list[str]]:
    """Keys, media specs and ``path:line`` of each entry of a wav.scp; a line without a value or
    a repeated key is a ``DataDirError`` naming the line."""
    keys, specs, wheres, seen = [], [], [], {}
    for lineno, line in numbered_lines(path):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise DataDirError(f"{path}:{lineno}: expected '<key> <file or command |>'")
        if parts[0] in seen:
            raise DataDirError(f"{path}:{lineno}: key '{parts[0]}' repeats line {seen[parts[0]]}")
        seen[parts[0]] = lineno
        keys.append(parts[0])
        specs.append(parts[1])
        wheres.append(f"{path}:{lineno}")
    return keys, specs, wheres


def write_embeddings(out: Path, keys: list[str], matrix: np.ndarray) -> list[Path]:
    """``out`` ending in ``.ark`` (with ``.scp`` beside it) or ``.npy``, written atomically."""
    if out.suffix == ".npy":
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, matrix)
        return [out]
    if out.suffix != ".ark":
        raise ValueError(f"--out {out}: name a Kaldi archive (.ark, with its .scp beside it) or "
                         "a .npy file")
    out.parent.mkdir(parents=True, exist_ok=True)
    scp = out.with_suffix(".scp")
    with vector_writer(out, scp) as write:
        for key, vector in zip(keys, matrix):
            write(key, vector)
    return [out, scp]


def cmd_embed(args) -> int:
    """Embed files or a wav.scp into an ark/scp or .npy."""
    if bool(args.wav_scp) == bool(args.files):
        raise ValueError("give --wav-scp or files to embed, not both")
    if args.wav_scp:
        keys, specs, wheres = read_wav_scp(Path(args.wav_scp))
    else:
        keys, specs, wheres = list(args.files), list(args.files), [""] * len(args.files)
        spaced = [key for key in keys if any(c.isspace() for c in key)]
        if spaced and not str(args.out).endswith(".npy"):
            raise ValueError(f"'{spaced[0]}': a Kaldi key cannot hold whitespace; use a "
                             "wav.scp or --out .npy")
    model = load_model(args.model, args.device)
    matrix = model.embed_batch(specs, wheres)
    written = write_embeddings(Path(args.out), keys, matrix)
    print(f"xmodal embed: {len(keys)} recording(s), dimension {matrix.shape[1]} -> "
          f"{', '.join(map(str, written))}", file=sys.stderr)
    return 0


def cmd_verify(args) -> int:
    """Compare two recordings."""
    model = load_model(args.model, args.device)
    result = model.verify(args.a, args.b, args.p_target)
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, **result.__dict__}))
    elif result.llr is None:
        print(f"{args.a} {args.b} {result.score:.6f}")
        print(f"xmodal verify: {model.source} has no calibration: score only",
              file=sys.stderr)
    else:
        print(f"{args.a} {args.b} {result.score:.6f} {result.llr:.4f} "
              f"{'same' if result.same else 'different'}")
        print(f"xmodal verify: 'same' when llr >= {result.threshold_llr:.4f}, the Bayes "
              f"threshold at p_target {result.p_target:g}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    """Export the utterance-embedding graph and print its parity with PyTorch."""
    # Imported here: onnxruntime and the exporters take seconds to import.
    from xmodal.pack.export import ExportError, export_model

    model = load_model(args.model, args.device)
    out = Path(args.out) if args.out else (
        model.source / "export" / ("embedder.onnx" if args.format == "onnx" else "embedder.pt"))
    try:
        report = export_model(model, args.format, out)
    except ExportError as err:
        raise ValueError(str(err)) from None
    for line in report:
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The subcommands and their options (``score`` and ``metrics`` pass theirs through)."""
    parser = argparse.ArgumentParser(prog="xmodal", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ALIASES:
        sub.add_parser(name, help=f"python -m {ALIASES[name]} (same arguments)", add_help=False)

    def with_model(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--model", required=True, help="pack dir, or experiment dir")
        p.add_argument("--device", default="cpu")
        return p

    p = with_model("embed", "identity embeddings of recordings")
    p.add_argument("files", nargs="*", help="audio or video files (any container ffmpeg reads)")
    p.add_argument("--wav-scp", help="Kaldi wav.scp (files or 'command |' pipes) instead")
    p.add_argument("--out", required=True, help="output: .ark (+ .scp) or .npy")
    p.set_defaults(run=cmd_embed)
    p = with_model("verify", "score two recordings: cosine, calibrated llr, decision")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--p-target", type=float, help="prior probability of 'same' that the "
                   "decision is for (default: the pack's; threshold llr log((1-p)/p))")
    p.add_argument("--json", action="store_true", help="one JSON object instead of a line")
    p.set_defaults(run=cmd_verify)
    p = with_model("export", "ONNX or TorchScript file of the embedding graph")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("--out", help="output file (default: MODEL/export/embedder.onnx|.pt)")
    p.set_defaults(run=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ALIASES:
        import importlib

        return importlib.import_module(ALIASES[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (PackError, InputError, DataDirError, ValueError) as err:
        print(f"xmodal {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
