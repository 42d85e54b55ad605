"""Small real data for the benchmarks, built with the project's own CLIs (as test/conftest.py).

Not a benchmark itself (``run_all`` skips modules starting with ``_``). A benchmark given no
data path builds a synthetic VoxCeleb2-style corpus here, prepares its data dir and dumps it,
so ``make bench`` runs on a fresh clone.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def run_module(module: str, *args: str) -> None:
    """``python -m module args``; raise with its stderr if it fails."""
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def make_data_dir(root: Path, size: int = 224, speakers: int = 16, seed: int = 3) -> Path:
    """A corpus of ``2 * speakers`` VoxCeleb2 dev tracks at ``size`` px and its data dir.

    Two videos per speaker and sentences of 8-12 words give tracks of 2.5-5 s, all longer than
    one 30-frame window, so a batch of 30 distinct tracks needs ``speakers`` >= 15.
    """
    corpus = root / "corpus"
    run_module("xmodal.bin.make_synth_corpus", "--out-dir", str(corpus), "--nj", "2",
               "--seed", str(seed), "--size", str(size), "--vox2-dev-speakers", str(speakers),
               "--vox2-test-speakers", "0", "--vox1-dev-speakers", "0",
               "--vox1-test-speakers", "0", "--videos-per-speaker", "2",
               "--utts-per-video", "1", "--min-words", "8", "--max-words", "12")
    data = root / "data" / "dev"
    run_module("xmodal.bin.prepare_voxceleb", "vox2", "--root", str(corpus / "voxceleb2"),
               "--subset", "dev", "--out-dir", str(data))
    return data.resolve()


def subset(data_dir: Path, out_dir: Path, speakers: int) -> Path:
    """The utterances of ``speakers`` speakers of ``data_dir`` (seeded choice), as a data dir.

    Changes the working directory to where the data dir's relative media paths resolve.
    """
    data_dir, out_dir = data_dir.resolve(), out_dir.resolve()
    enter_scp_root(data_dir / "wav.scp")
    run_module("xmodal.bin.subset_data_dir", "--num-spk", str(speakers), str(data_dir),
               str(out_dir))
    return out_dir


def add_data_options(parser: argparse.ArgumentParser, speakers: int) -> None:
    """``--data-dir`` (a real data dir to measure on) and ``--speakers`` (how many of it)."""
    parser.add_argument("--data-dir", type=Path,
                        help="VoxCeleb2-style data dir with video.scp (default: build one)")
    parser.add_argument("--speakers", type=int, default=speakers,
                        help="speakers of --data-dir (or of the built corpus) used")


def data_dir_from_options(args: argparse.Namespace, root: Path, size: int = 224) -> Path:
    """A ``--speakers`` subset of ``--data-dir``, or without one a corpus built under ``root``.

    A subset changes the working directory (see ``subset``).
    """
    if args.data_dir:
        return subset(args.data_dir, root / "data", args.speakers)
    return make_data_dir(root, size=size, speakers=args.speakers)


def dump(data_dir: Path, out_dir: Path, face_size: int, face_format: str = "raw",
         jpeg_quality: int = 90) -> Path:
    """Stage 2 (``xmodal.bin.dump`` + ``merge_dump``, one job) at ``face_size``; the dump dir."""
    conf = out_dir.parent / f"dump{face_size}_{face_format}.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"face_size: {face_size}\nface_gray: false\nface_format: {face_format}\n"
                    f"jpeg_quality: {jpeg_quality}\nn_mels: 40\nav_tolerance_s: 0.1\n")
    # Absolute paths: the scps then name absolute arks, readable from any working directory.
    out_dir = out_dir.resolve()
    run_module("xmodal.bin.dump", "--config", str(conf), "--data-dir", str(data_dir),
               "--out-dir", str(out_dir), "--job", "1")
    run_module("xmodal.bin.merge_dump", "--data-dir", str(data_dir), "--out-dir", str(out_dir),
               "--num-jobs", "1")
    return out_dir


def enter_scp_root(table: Path) -> None:
    """chdir to where the relative paths in ``table`` (an scp) resolve.

    Recipes write scps with paths relative to the recipe directory (``dump/x/feats.1.ark``);
    it is the nearest ancestor of the table in which the first path exists.
    """
    table = table.resolve()
    first = table.read_text(encoding="utf-8").split("\n", 1)[0].split(maxsplit=1)[1]
    target = first.rsplit(":", 1)[0] if table.name.startswith(("feats", "faces")) else first
    if os.path.isabs(target):
        return
    for base in table.parents:
        if (base / target).exists():
            os.chdir(base)
            return
    raise FileNotFoundError(f"{table}: '{target}' is not found relative to any parent directory")
