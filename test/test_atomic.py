"""Atomic writes leave either the old file or the complete new one, never a partial file."""
import os

import pytest

from xmodal.atomic import atomic_path, write_lines_atomic


def test_failure_keeps_previous_content(tmp_path):
    target = tmp_path / "wav.scp"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["wav.scp"]


def test_success_replaces_with_normal_permissions(tmp_path):
    write_lines_atomic(tmp_path / "sub" / "utt2spk", ["a x", "b y"])
    path = tmp_path / "sub" / "utt2spk"
    assert path.read_text() == "a x\nb y\n"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
