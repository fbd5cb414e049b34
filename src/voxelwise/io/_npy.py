"""NumPy ``.npy`` files: lazy reading of the raw voxels and slab-wise writing."""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise._validate import as_volume_shape
from voxelwise.errors import CorruptFileError, InvalidVolumeError
from voxelwise.io._raw import RawPlanes, raw_chunks, write_planes
from voxelwise.io._volume import check_dtype, file_token

__all__ = ["read_npy", "write_npy"]


def read_npy(path: Path) -> dict[str, Any]:
    """Open a ``.npy`` file lazily (C or Fortran order); returns ``data`` (no spacing)."""
    try:
        mm = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "object" in str(e).lower():
            raise InvalidVolumeError(
                f"{path} holds Python objects, not voxels; save a numeric array instead"
            ) from e
        raise CorruptFileError(
            f"The NumPy file {path} is damaged and cannot be read ({e}); it may be truncated"
        ) from e
    except (OSError, EOFError, pickle.UnpicklingError) as e:
        raise CorruptFileError(f"The NumPy file {path} is damaged and cannot be read ({e})") from e
    if not isinstance(mm, np.memmap):  # pragma: no cover - np.load returns memmaps for .npy
        raise CorruptFileError(f"{path} is not a .npy array file")
    shape = tuple(int(s) for s in mm.shape)
    stored = mm.dtype
    offset = int(mm.offset)
    fortran = bool(mm.flags.f_contiguous and not mm.flags.c_contiguous)
    del mm
    check_dtype(stored, path)
    as_volume_shape(shape, what=f"array in {path}")
    # Fortran order is C order of the reversed shape: read that and transpose
    disk = shape[::-1] if fortran else shape
    disk3 = (1, *disk) if len(disk) == 2 else disk
    source = RawPlanes(path, shape=disk3, dtype=stored, offsets=offset, what="NumPy")
    data = source.to_dask(raw_chunks(disk3, stored.itemsize), token=file_token(path))
    if len(disk) == 2:
        data = data[0]
    if fortran:
        data = data.transpose()
    return dict(data=data, spacing=None, unit=None, levels=1, key=None)


def write_npy(
    slabs: Iterable[tuple[int, np.ndarray]],
    path: Path,
    *,
    shape: tuple[int, int, int],
    dtype: np.dtype,
) -> None:
    """Write z-slabs into a new C-order ``.npy`` file (header first, then the planes in place)."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    offset = int(mm.offset)
    del mm  # the file now has its header and full size; nothing was touched in memory
    with open(path, "r+b") as fh:
        for z0, block in slabs:
            write_planes(fh, offset, block, z0)
