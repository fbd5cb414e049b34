"""MRC / REC / MAP (cryo-EM, tomography): lazy reading and slab-wise writing, voxel size in angstrom.

The header is parsed with mrcfile (memory-mapped, so opening costs nothing); voxels are then
read with positioned reads of just the rows a chunk needs. Mode 0 files flagged unsigned by
IMOD read as uint8. uint8 volumes are written widened to uint16 (mode 6), as mrcfile does,
because MRC mode 0 is signed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise._validate import as_volume_shape
from voxelwise.errors import CorruptFileError, InvalidVolumeError
from voxelwise.io._raw import RawPlanes, raw_chunks, write_planes
from voxelwise.io._volume import channel_error, check_dtype, file_token, unit_factor

__all__ = ["MRC_DTYPES", "mrc_dtype", "read_mrc", "write_mrc"]

_IMOD_STAMP = 1146047817
MRC_DTYPES = ("int8", "int16", "uint16", "float16", "float32")


def read_mrc(path: Path) -> dict[str, Any]:
    """Open an MRC file lazily; returns ``data``, ``spacing`` (angstrom), ``unit``."""
    import mrcfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with mrcfile.mmap(path, mode="r", permissive=False) as mrc:
                header = mrc.header
                mode = int(header.mode)
                data = mrc.data
                if data is None:
                    raise CorruptFileError(f"The MRC file {path} has a header but no data")
                shape = tuple(int(s) for s in data.shape)
                stored = data.dtype
                offset = int(data.offset)
                vs = mrc.voxel_size
                spacing_xyz = (float(vs.x), float(vs.y), float(vs.z))
                extra = bytes(header.extra2)[40:48]
                order = header.mode.dtype.byteorder
                del data
    except (ValueError, OSError, EOFError) as e:
        if isinstance(e, CorruptFileError):
            raise
        raise CorruptFileError(
            f"The MRC file {path} is damaged and cannot be read ({e}); it may be truncated or "
            "still being copied"
        ) from e
    if mode == 16:
        raise channel_error(path, "MRC mode 16 (RGB)")
    if mode == 0 and len(extra) == 8:
        stamp, flags = np.frombuffer(extra, dtype=np.dtype(np.int32).newbyteorder(order))
        if int(stamp) == _IMOD_STAMP and int(flags) & 1:
            stored = np.dtype(np.uint8)
    check_dtype(stored, path)
    vshape = as_volume_shape(shape, what=f"MRC data in {path}")
    source = RawPlanes(path, shape=vshape, dtype=stored, offsets=offset, what="MRC")
    data3 = source.to_dask(raw_chunks(vshape, stored.itemsize), token=file_token(path))
    spacing = None
    if all(math.isfinite(v) and v > 0 for v in spacing_xyz):
        spacing = (spacing_xyz[2], spacing_xyz[1], spacing_xyz[0])
    return dict(
        data=data3[0] if len(shape) == 2 else data3,
        spacing=spacing,
        unit="angstrom" if spacing else None,
        levels=1,
        key=None,
    )


def mrc_dtype(dtype: np.dtype, path: Path | str) -> np.dtype:
    """The dtype an MRC file stores ``dtype`` as (uint8/bool widen to uint16); others raise."""
    if dtype in (np.dtype(np.uint8), np.dtype(bool)):
        return np.dtype(np.uint16)
    if dtype.name not in MRC_DTYPES:
        raise InvalidVolumeError(
            f"MRC files store {', '.join(MRC_DTYPES)} voxels, got {dtype} for {path}; convert "
            "first (e.g. image.astype(np.float32)) or write another format such as OME-Zarr"
        )
    return dtype


def write_mrc(
    slabs: Iterable[tuple[int, np.ndarray]],
    path: Path,
    *,
    shape: tuple[int, int, int],
    dtype: np.dtype,
    spacing: tuple[float, float, float] | None,
    unit: str | None,
) -> None:
    """Write z-slabs into a new MRC file; header statistics are accumulated while streaming.

    ``spacing`` is converted to angstrom when ``unit`` is a length, else stored as given.
    """
    import mrcfile

    stored = mrc_dtype(dtype, path)
    mode = mrcfile.utils.mode_from_dtype(stored)
    with mrcfile.new_mmap(path, shape=shape, mrc_mode=mode, overwrite=True) as mrc:
        offset = int(mrc.data.offset)
        if spacing is not None:
            factor = unit_factor(unit, "angstrom") or 1.0
            mrc.voxel_size = (spacing[2] * factor, spacing[1] * factor, spacing[0] * factor)
    lo, hi, total, squares, count = math.inf, -math.inf, 0.0, 0.0, 0
    with open(path, "r+b") as fh:
        for z0, block in slabs:
            block = block.astype(stored, copy=False)
            write_planes(fh, offset, block, z0)
            for plane in block:  # statistics plane by plane: no float64 copy of the slab
                values = plane.astype(np.float64).ravel()
                if stored.kind == "f":
                    values = values[np.isfinite(values)]
                if values.size:
                    lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
                    total += float(values.sum())
                    squares += float(values @ values)
                    count += values.size
    if count == 0:
        lo = hi = 0.0
    with mrcfile.mmap(path, mode="r+") as mrc:
        mean = total / max(count, 1)
        mrc.header.dmin, mrc.header.dmax, mrc.header.dmean = lo, hi, mean
        mrc.header.rms = math.sqrt(max(0.0, squares / max(count, 1) - mean * mean))
