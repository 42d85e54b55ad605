"""Vector ark/scp pairs appear whole or not at all, and other Kaldi readers read them."""
from __future__ import annotations

from pathlib import Path

import kaldi_io
import kaldiio
import numpy as np
import pytest

from xmodal.data.vector_ark import vector_writer


def test_written_pair_is_read_by_two_readers(tmp_path: Path):
    ark, scp = tmp_path / "e.ark", tmp_path / "e.scp"
    vectors = {"a": np.arange(3, dtype=np.float32), "b": np.ones(3, dtype=np.float32)}
    with vector_writer(ark, scp) as write:
        for key, vector in vectors.items():
            write(key, vector)
    assert sorted(tmp_path.iterdir()) == [ark, scp]  # no temporary names left
    for key, vector in kaldiio.load_scp(str(scp)).items():
        np.testing.assert_array_equal(vector, vectors[key])
    for key, vector in kaldi_io.read_vec_flt_scp(str(scp)):
        np.testing.assert_array_equal(vector, vectors[key])


def test_failure_leaves_the_previous_pair_untouched(tmp_path: Path):
    ark, scp = tmp_path / "e.ark", tmp_path / "e.scp"
    with vector_writer(ark, scp) as write:
        write("old", np.zeros(2, dtype=np.float32))
    before = (ark.read_bytes(), scp.read_bytes())
    with pytest.raises(RuntimeError), vector_writer(ark, scp) as write:
        write("new", np.ones(2, dtype=np.float32))
        raise RuntimeError("killed mid-write")
    assert (ark.read_bytes(), scp.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.ark", "e.scp"]
