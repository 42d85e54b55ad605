"""SIGKILL during ``python -m xmodal.bin.extract``, then a rerun.

The kill comes at a deterministic moment: the feats.scp entry of a seeded-random utterance
is a Kaldi pipe (kaldiio runs it with ``sh``) that SIGKILLs its parent, the extraction, with
the output arks open.
"""
from __future__ import annotations

import random
import shutil
import signal
import subprocess
from pathlib import Path

from xmodal.eval.embedding_sets import is_done
from xmodal.eval.extract import extract_embeddings
from xmodal.methods import load_pretrained


def test_sigkill_then_rerun_gives_the_uninterrupted_embeddings(tiny_dump: Path, tiny_exp: Path,
                                                               tmp_path: Path, faults,
                                                               one_thread):
    reference = tmp_path / "reference"
    extract_embeddings(load_pretrained(tiny_exp)[0], tiny_dump / "ssl_train", reference)
    feats = tmp_path / "feats"
    feats.mkdir()
    shutil.copy(tiny_dump / "ssl_train" / "utt2spk", feats)
    feats_scp = (tiny_dump / "ssl_train" / "feats.scp").read_text()
    lines = feats_scp.splitlines()
    victim = random.Random(7).randrange(len(lines))
    killer = lines[:victim] + [f"{lines[victim].split()[0]} kill -9 $PPID |"] + lines[victim + 1:]
    (feats / "feats.scp").write_text("".join(f"{line}\n" for line in killer))
    out = tmp_path / "emb"
    extract = faults.module_cmd("xmodal.bin.extract", "--exp-dir", str(tiny_exp),
                                "--feats-dir", str(feats), "--out-dir", str(out))

    killed = subprocess.run(extract, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert not is_done(out)
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []

    (feats / "feats.scp").write_text(feats_scp)
    rerun = subprocess.run(extract, capture_output=True, text=True)  # no --force needed
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert is_done(out)
    assert faults.file_bytes(out).keys() == faults.file_bytes(reference).keys()
    for name, data in faults.file_bytes(reference).items():
        if name.endswith(".scp"):
            data = data.replace(str(reference).encode(), str(out).encode())
        assert (out / name).read_bytes() == data, name
