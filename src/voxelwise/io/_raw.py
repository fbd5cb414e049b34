"""Uncompressed voxels at known byte offsets (TIFF pages, MRC, NumPy ``.npy``): read and write.

Blocks are read with positioned reads (``os.preadv``) into the output buffer, so reading is
thread-safe without a lock, touches only the bytes asked for, and leaves no memory-mapped
pages behind in the process (a memory map would count every page read in the resident size).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from voxelwise.errors import CorruptFileError
from voxelwise.io._volume import Box, LazySource

__all__ = ["RawPlanes", "raw_chunks", "write_planes"]

# dask chunks of uncompressed data line up with the default storage chunks (64 x 256 x 256),
# widened in x (by whole 256-column steps) up to this many bytes
_CHUNK_BYTES = 8 << 20
# a block narrower than the row is read as a band of full rows and cropped, unless that
# reads more than this many times the bytes needed (then row by row)
_MAX_BAND_WASTE = 8


def raw_chunks(shape: Sequence[int], itemsize: int) -> tuple[int, int, int]:
    """Chunk shape for uncompressed (Z, Y, X) data: 64 x 256 x (256 * k) voxels, ~8 MiB.

    The chunks nest inside the default storage chunks of Zarr/OME-Zarr output, so converting
    only splits them: no chunk waits for another, and memory stays a few chunks per thread.
    """
    z, y, x = (int(s) for s in shape)
    cz, cy = min(z, 64), min(y, 256)
    steps = max(1, _CHUNK_BYTES // max(1, cz * cy * 256 * itemsize))
    cx = min(x, 256 * steps)
    return (cz, cy, cx)


class RawPlanes(LazySource):
    """Lazy (Z, Y, X) C-order planes, plane ``z`` starting at byte ``offsets[z]`` of ``path``.

    Parameters
    ----------
    path : Path
    shape : (3,) ints
    dtype : numpy dtype as stored (any byte order); blocks come back in native byte order.
    offsets : int or (Z,) ints
        Start of the whole C-order block (int), or of each plane.
    what : str
        Name of the file kind for error messages ("TIFF", "MRC", ...).
    """

    def __init__(
        self,
        path: Path,
        *,
        shape: Sequence[int],
        dtype: Any,
        offsets: int | Sequence[int],
        what: str = "file",
    ) -> None:
        stored = np.dtype(dtype)
        super().__init__(shape, stored.newbyteorder("="))
        self.path = Path(path)
        self.stored = stored
        self.what = what
        plane = self.shape[1] * self.shape[2] * stored.itemsize
        if isinstance(offsets, int | np.integer):
            self.offsets = np.arange(self.shape[0], dtype=np.int64) * plane + int(offsets)
        else:
            self.offsets = np.asarray(offsets, dtype=np.int64)
        self.contiguous = bool(np.all(np.diff(self.offsets) == plane))
        self._hfd: int | None = None
        self._hlock = threading.Lock()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hfd = None
        self._hlock = threading.Lock()

    def __del__(self) -> None:
        fd = getattr(self, "_hfd", None)
        if fd is not None:
            os.close(fd)

    def _fd(self) -> int:
        if self._hfd is None:
            with self._hlock:
                if self._hfd is None:
                    try:
                        self._hfd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    except FileNotFoundError as e:
                        raise CorruptFileError(
                            f"{self.path} disappeared while being read; open it again"
                        ) from e
        return self._hfd

    def _pread(self, buf: np.ndarray, offset: int) -> None:
        view = buf.data.cast("B")
        fd = self._fd()
        got = 0
        while got < len(view):
            if hasattr(os, "preadv"):
                n = os.preadv(fd, [view[got:]], offset + got)
            else:  # pragma: no cover - Windows has no positioned reads
                with self._hlock:
                    os.lseek(fd, offset + got, os.SEEK_SET)
                    chunk = os.read(fd, len(view) - got)
                    n = len(chunk)
                    view[got : got + n] = chunk
            if n == 0:
                raise CorruptFileError(
                    f"The {self.what} file {self.path} is damaged: it ends at byte "
                    f"{offset + got} but the voxels run to byte {offset + len(view)} "
                    "(truncated or still being copied?)"
                )
            got += n

    def read(self, box: Box) -> np.ndarray:
        zs, ys, xs = box
        _, ny_all, nx_all = self.shape
        item = self.stored.itemsize
        row = nx_all * item
        nz, ny, nx = zs.stop - zs.start, ys.stop - ys.start, xs.stop - xs.start
        full_rows = xs.start == 0 and xs.stop == nx_all
        out = np.empty((nz, ny, nx), self.stored)
        if full_rows and ys.start == 0 and ys.stop == ny_all and self.contiguous:
            self._pread(out, int(self.offsets[zs.start]))
        elif full_rows:
            for i, z in enumerate(range(zs.start, zs.stop)):
                self._pread(out[i], int(self.offsets[z]) + ys.start * row)
        elif nx_all <= _MAX_BAND_WASTE * nx:  # read whole rows into one band buffer, crop
            band = np.empty((ny, nx_all), self.stored)
            for i, z in enumerate(range(zs.start, zs.stop)):
                self._pread(band, int(self.offsets[z]) + ys.start * row)
                out[i] = band[:, xs]
        else:  # narrow block of very long rows: row by row
            for i, z in enumerate(range(zs.start, zs.stop)):
                base = int(self.offsets[z]) + ys.start * row + xs.start * item
                for j in range(ny):
                    self._pread(out[i, j], base + j * row)
        return out if self.stored.isnative else out.astype(self.dtype)


def write_planes(fh: BinaryIO, offset: int, block: np.ndarray, z0: int) -> None:
    """Write ``block`` (planes ``z0 ...`` of a C-order volume whose data start at ``offset``)."""
    plane = block.shape[1] * block.shape[2] * block.dtype.itemsize
    fh.seek(offset + z0 * plane)
    fh.write(np.ascontiguousarray(block).data)
