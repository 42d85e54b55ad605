"""kaldiio's numpy-format arks: writing without copies in memory, reading a window of rows.

The bytes are exactly those of ``kaldiio.WriteHelper("ark,scp:A,S", write_function="numpy")``:
per entry ``<key> `` then ``NPY``, the length of the ``.npy`` data (one byte giving how many
little-endian bytes follow, then those), then the ``.npy`` data; the scp line points just past
the key. ``kaldiio.load_scp`` reads them back. kaldiio builds every entry in memory first
(``np.save`` into a BytesIO, then a copy out of it), three copies of each array before the
write; for 224 px faces (3.8 MB per second of video) that was a fifth of a dump job's CPU time.
``read_npy_window`` reads rows ``[start, start + n)`` of an entry and nothing else: a training
window of 30 face frames from a track of hundreds, where ``kaldiio.load_mat`` reads the track.
``NpyBytes`` reads byte ranges of a 1-D uint8 entry (a blob such as a track of JPEG frames,
``xmodal.data.face_store``) without loading the rest of it.
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


def _open_entry(spec: str):
    """The ark of ``spec`` (``ark:offset``) opened at the entry's data; and its .npy header.

    Returns ``(file, shape, dtype)``; a Fortran-order array is refused (rows not contiguous).
    """
    ark, sep, offset = spec.rpartition(":")
    if not (sep and offset.isdigit()):
        raise ValueError(f"{spec}: not an 'ark:offset' entry")
    f = open(ark, "rb")
    try:
        f.seek(int(offset))
        if f.read(3) != b"NPY":
            raise ValueError(f"{spec}: not a kaldiio numpy entry")
        f.seek(f.read(1)[0], os.SEEK_CUR)  # the .npy length: not needed
        try:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0
                           }[np.lib.format.read_magic(f)]
            shape, fortran_order, dtype = read_header(f)
        except (KeyError, ValueError) as err:
            raise ValueError(f"{spec}: no readable .npy header ({err})") from None
        if fortran_order:
            raise ValueError(f"{spec}: a Fortran-order array of shape {shape}")
        return f, shape, dtype
    except BaseException:
        f.close()
        raise


def read_npy_window(spec: str, start: int, n: int) -> np.ndarray:
    """Rows ``[start, start + n)`` of the array at ``spec`` (``ark:offset``, as in an scp).

    Reads the entry's headers and those rows' bytes only, straight into the returned array.
    """
    f, shape, dtype = _open_entry(spec)
    with f:
        if not shape or not 0 <= start <= start + n <= shape[0]:
            raise ValueError(f"{spec}: cannot read rows {start}-{start + n} of an array of "
                             f"shape {shape}")
        out = np.empty((n, *shape[1:]), dtype)
        f.seek(start * (out.nbytes // n if n else 0), os.SEEK_CUR)
        if f.readinto(out.reshape(-1).view(np.uint8).data) != out.nbytes:
            raise ValueError(f"{spec}: the ark ends inside the array")
    return out


class NpyBytes:
    """Byte ranges of the 1-D uint8 array at ``spec`` (``ark:offset``), read on demand.

    ``read(start, stop)`` returns the array's bytes ``[start, stop)``; ``size`` is its length.
    The ark stays open until ``close()`` (or the end of a ``with`` block).
    """

    def __init__(self, spec: str):
        self.spec = spec
        self._file, shape, dtype = _open_entry(spec)
        if len(shape) != 1 or dtype != np.uint8:
            self._file.close()
            raise ValueError(f"{spec}: not a 1-D uint8 array (shape {shape}, {dtype})")
        self.size = shape[0]
        self._data = self._file.tell()

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the array."""
        if not 0 <= start <= stop <= self.size:
            raise ValueError(f"{self.spec}: cannot read bytes {start}-{stop} of an array of "
                             f"{self.size}")
        self._file.seek(self._data + start)
        data = self._file.read(stop - start)
        if len(data) != stop - start:
            raise ValueError(f"{self.spec}: the ark ends inside the array")
        return data

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> NpyBytes:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
