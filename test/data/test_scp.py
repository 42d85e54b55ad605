"""ScpReader: kaldiio arrays by key, scp lines checked, every load error naming scp:line."""
from __future__ import annotations

import re

import kaldiio
import numpy as np
import pytest

from xmodal.data.datadir import DataDirError
from xmodal.data.scp import ScpReader


@pytest.fixture
def scp(tmp_path):
    """Three vectors written by kaldiio, keys deliberately not in C order."""
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/e.ark,{tmp_path}/e.scp") as writer:
        for i, key in enumerate(("c10", "c2", "a")):
            writer(key, np.full(3, i, dtype=np.float32))
    return tmp_path / "e.scp"


def test_reads_what_kaldiio_wrote(scp):
    reader = ScpReader(scp)
    assert list(reader) == ["c10", "c2", "a"] and len(reader) == 3
    assert "c2" in reader and "zz" not in reader
    np.testing.assert_array_equal(reader["c2"], [1, 1, 1])
    assert reader.where("a") == f"{scp}:3"
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:3: key 'a' is out of order")):
        ScpReader(scp, require_sorted=True)


def test_duplicate_key_anywhere_is_named(scp):
    with open(scp, "a") as f:
        f.write(scp.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:4: key 'c10' is a duplicate")):
        ScpReader(scp)


def test_entry_inside_a_matrix_is_named(scp):
    lines = scp.read_text().splitlines()
    ark, offset = lines[1].split()[1].rsplit(":", 1)
    lines[1] = f"c2 {ark}:{int(offset) + 3}"
    scp.write_text("\n".join(lines) + "\n")
    reader = ScpReader(scp)
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:2: key 'c2': no readable Kaldi "
                                                     f"matrix at offset {int(offset) + 3} of "
                                                     f"ark '{ark}'")):
        reader["c2"]


class Payload:
    """Unpickling this runs code: what a crafted ark entry could do."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').touch()",))


def test_a_pickled_entry_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scp = tmp_path / "p.scp"
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'p.ark'},{scp}",
                             write_function="pickle") as writer:
        writer("evil", Payload())
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:1: key 'evil': refused: the entry "
                                                     "is a pickled Python object")):
        ScpReader(scp)["evil"]
    assert not (tmp_path / "PWNED").exists()
