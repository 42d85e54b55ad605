"""NumpyArkWriter writes the bytes kaldiio's numpy writer writes, and kaldiio reads them back."""
from __future__ import annotations

import kaldiio
import numpy as np

from xmodal.data.npy_ark import NumpyArkWriter

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
