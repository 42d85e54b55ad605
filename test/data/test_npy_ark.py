"""NumpyArkWriter writes the bytes kaldiio's numpy writer writes; reading back whole or a window."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from xmodal.data.npy_ark import NumpyArkWriter, read_npy_window

ARRAYS = {
    "faces": np.arange(2 * 5 * 5 * 3, dtype=np.uint8).reshape(2, 5, 5, 3),
    "feats": np.linspace(-1, 1, 24, dtype=np.float32).reshape(6, 4),
    "empty": np.zeros((0, 3), np.float32),
    # Not C-contiguous: written as its C-ordered copy, as np.save does.
    "strided": np.arange(40, dtype=np.int16).reshape(5, 8)[:, ::2],
    # Large enough for a length header of three bytes.
    "large": np.ones((300, 224), np.uint8),
}


def test_same_bytes_as_kaldiio_and_read_back(tmp_path):
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'k.ark'},{tmp_path / 'k.scp'}",
                             write_function="numpy") as reference:
        for key, array in ARRAYS.items():
            reference(key, array)
    with NumpyArkWriter(tmp_path / "o.ark", tmp_path / "o.scp") as writer:
        for key, array in ARRAYS.items():
            writer(key, array)
    assert (tmp_path / "o.ark").read_bytes() == (tmp_path / "k.ark").read_bytes()
    assert ((tmp_path / "o.scp").read_text().replace("o.ark", "k.ark")
            == (tmp_path / "k.scp").read_text())
    loaded = kaldiio.load_scp(str(tmp_path / "o.scp"))
    assert list(loaded) == list(ARRAYS)
    for key, array in ARRAYS.items():
        assert loaded[key].dtype == array.dtype
        np.testing.assert_array_equal(loaded[key], array)


def test_read_window_reads_the_rows(tmp_path):
    with NumpyArkWriter(tmp_path / "o.ark", tmp_path / "o.scp") as writer:
        for key, array in ARRAYS.items():
            writer(key, array)
    specs = dict(line.split() for line in (tmp_path / "o.scp").read_text().splitlines())
    faces = ARRAYS["faces"]
    np.testing.assert_array_equal(read_npy_window(specs["faces"], 1, 1), faces[1:2])
    np.testing.assert_array_equal(read_npy_window(specs["large"], 17, 30), ARRAYS["large"][17:47])
    assert read_npy_window(specs["feats"], 6, 0).shape == (0, 4)
    with pytest.raises(ValueError, match="cannot read rows 5-8 of an array of shape"):
        read_npy_window(specs["feats"], 5, 3)
    offset = int(specs["feats"].rsplit(":", 1)[1])
    with pytest.raises(ValueError, match="not a kaldiio numpy entry"):
        read_npy_window(f"{tmp_path / 'o.ark'}:{offset + 1}", 0, 1)
