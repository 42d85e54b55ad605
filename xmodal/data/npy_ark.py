"""kaldiio's numpy-format arks: writing without copies in memory, reading a window of rows.

The bytes are exactly those of ``kaldiio.WriteHelper("ark,scp:A,S", write_function="numpy")``:
per entry ``<key> `` then ``NPY``, the length of the ``.npy`` data (one byte giving how many
little-endian bytes follow, then those), then the ``.npy`` data; the scp line points just past
the key. ``kaldiio.load_scp`` reads them back. kaldiio builds every entry in memory first
(``np.save`` into a BytesIO, then a copy out of it), three copies of each array before the
write; for 224 px faces (3.8 MB per second of video) that was a fifth of a dump job's CPU time.
``read_npy_window`` reads rows ``[start, start + n)`` of an entry and nothing else: a training
window of 30 face frames from a track of hundreds, where ``kaldiio.load_mat`` reads the track.
"""
from __future__ import annotations

import io
import os

import numpy as np


def npy_header(array: np.ndarray) -> bytes:
    """The ``.npy`` header (format 1.0, as ``np.save`` writes it) of a C-contiguous array."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return header.getvalue()


def read_npy_window(spec: str, start: int, n: int) -> np.ndarray:
    """Rows ``[start, start + n)`` of the array at ``spec`` (``ark:offset``, as in an scp).

    Reads the entry's headers and those rows' bytes only, straight into the returned array.
    """
    ark, _, offset = spec.rpartition(":")
    with open(ark, "rb") as f:
        f.seek(int(offset))
        if f.read(3) != b"NPY":
            raise ValueError(f"{spec}: not a kaldiio numpy entry")
        f.seek(f.read(1)[0], os.SEEK_CUR)  # the .npy length: not needed
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}[np.lib.format.read_magic(f)]
        shape, fortran_order, dtype = read_header(f)
        if fortran_order or not shape or not 0 <= start <= start + n <= shape[0]:
            raise ValueError(f"{spec}: cannot read rows {start}-{start + n} of an array of "
                             f"shape {shape}{' (Fortran order)' if fortran_order else ''}")
        out = np.empty((n, *shape[1:]), dtype)
        f.seek(start * (out.nbytes // n if n else 0), os.SEEK_CUR)
        if f.readinto(out.reshape(-1).view(np.uint8).data) != out.nbytes:
            raise ValueError(f"{spec}: the ark ends inside the array")
    return out


class NumpyArkWriter:
    """``writer(key, array)`` appends an entry to ``ark`` and its line to ``scp``."""

    def __init__(self, ark: str | os.PathLike, scp: str | os.PathLike):
        self.ark_name = str(ark)
        self._ark = open(ark, "wb")
        try:
            self._scp = open(scp, "w", encoding="utf-8")
        except OSError:
            self._ark.close()
            raise

    def __call__(self, key: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        header = npy_header(array)
        length = len(header) + array.nbytes
        n_bytes = (length.bit_length() + 7) // 8
        self._ark.write(f"{key} ".encode("utf-8"))
        offset = self._ark.tell()
        self._ark.write(b"NPY" + bytes([n_bytes]) + length.to_bytes(n_bytes, "little") + header)
        # The array's own memory goes to the file: a buffered writer passes a large block on.
        self._ark.write(array.reshape(-1).view(np.uint8).data)
        self._scp.write(f"{key} {self.ark_name}:{offset}\n")

    def close(self) -> None:
        self._ark.close()
        self._scp.close()

    def __enter__(self) -> NumpyArkWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
