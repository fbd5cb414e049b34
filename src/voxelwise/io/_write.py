"""Write a volume to TIFF, HDF5, MRC, Zarr, OME-Zarr or NumPy without holding it in memory.

Zarr and OME-Zarr are written chunk by chunk by the scheduler's workers. Single-file formats
(TIFF, HDF5, MRC, ``.npy``) are written by the calling process one z-slab at a time, each slab
computed in parallel, so memory stays bounded by one slab. Everything is written to a hidden
temporary sibling first and moved into place at the end: a failed or cancelled write leaves
nothing behind, and writing over the input file never destroys it while it is being read.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import (
    ProgressCallback,
    Scheduler,
    compute,
    is_distributed,
    store_chunks,
)
from voxelwise._validate import as_volume_shape, parse_chunks, parse_spacing
from voxelwise.errors import FormatNotSupportedError, OutputExistsError
from voxelwise.io._open import WRITE_FORMATS, formats_help
from voxelwise.io._volume import Volume, check_dtype, normalize_unit

__all__ = ["write_volume"]

_SLAB_BYTES = 64 << 20
_ALIASES = {
    "tif": "tiff",
    "tiff": "tiff",
    "bigtiff": "tiff",
    "h5": "hdf5",
    "hdf5": "hdf5",
    "mrc": "mrc",
    "zarr": "zarr",
    "ome-zarr": "ome-zarr",
    "ome.zarr": "ome-zarr",
    "omezarr": "ome-zarr",
    "ngff": "ome-zarr",
    "npy": "npy",
    "numpy": "npy",
}
_WRITE_SUFFIXES = {
    ".tif": "tiff",
    ".tiff": "tiff",
    ".btf": "tiff",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".mrc": "mrc",
    ".rec": "mrc",
    ".map": "mrc",
    ".zarr": "zarr",
    ".npy": "npy",
}


def _output_format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = _ALIASES.get(str(format).lower().strip("."))
        if fmt is None:
            raise FormatNotSupportedError(
                f"Cannot write format {format!r}; voxelwise writes {formats_help(write=True)}"
            )
        return fmt
    if path.name.lower().endswith(".ome.zarr"):
        return "ome-zarr"
    fmt = _WRITE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise FormatNotSupportedError(
            f"Cannot tell which format to write from the name {path.name!r}; use one of "
            f"{formats_help(write=True)}, or pass format= (one of {', '.join(WRITE_FORMATS)})"
        )
    return fmt


def _as_dask(image: Any, chunks: Any) -> da.Array:
    if isinstance(image, da.Array):
        data = image
    elif isinstance(image, np.ndarray) or (
        hasattr(image, "shape") and hasattr(image, "dtype") and hasattr(image, "__getitem__")
    ):
        shape = tuple(int(s) for s in image.shape)
        shape3 = as_volume_shape(shape)
        c3 = parse_chunks(chunks, shape3)
        data = da.from_array(image, chunks=c3[1:] if len(shape) == 2 else c3)
    else:
        raise TypeError(
            f"Expected image as a numpy or dask array or a Volume, got {type(image).__name__} "
            "instead"
        )
    as_volume_shape(data.shape)
    if data.ndim == 2:
        data = data[None]
    check_dtype(data.dtype, "the image")
    if data.dtype == bool:
        data = data.astype(np.uint8)
    return data


def slab_bounds(
    data: da.Array, *, align: int = 1, max_bytes: int = _SLAB_BYTES
) -> list[tuple[int, int]]:
    """Split z into slabs of at most ``max_bytes`` (at least one plane).

    Slab ends fall on multiples of ``align`` (the output's chunk depth) when ``align > 1`` and
    a slab that deep fits, otherwise on the source's chunk boundaries, so no source chunk is
    computed twice unless a single chunk is deeper than the budget.
    """
    nz = int(data.shape[0])
    plane = int(np.prod(data.shape[1:])) * data.dtype.itemsize
    depth = max(1, max_bytes // max(plane, 1))
    if align > 1 and depth >= align:
        depth = (depth // align) * align
        ends = sorted({*range(align, nz, align), nz})
    else:
        ends = sorted({*np.cumsum(data.chunks[0]).tolist(), nz})
    bounds = []
    z0 = 0
    while z0 < nz:
        fitting = [e for e in ends if z0 < e <= z0 + depth]
        z1 = max(fitting) if fitting else min(nz, z0 + depth)
        bounds.append((z0, z1))
        z0 = z1
    return bounds


def _slabs(
    data: da.Array,
    bounds: list[tuple[int, int]],
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> Iterator[tuple[int, np.ndarray]]:
    for i, (z0, z1) in enumerate(bounds):
        piece = data[z0:z1]
        if is_distributed(scheduler):
            (block,) = compute(piece, scheduler=scheduler)
            block = np.ascontiguousarray(block)
        else:  # chunks land in one buffer as they finish: no second copy of the slab
            block = np.empty(piece.shape, piece.dtype)
            store_chunks(piece, block, scheduler=scheduler)
        yield z0, block
        del block  # release this slab before the next one is computed
        if progress is not None:
            progress(i + 1, len(bounds))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _replace(tmp: Path, path: Path) -> None:
    if not (path.exists() or path.is_symlink()):
        os.replace(tmp, path)
        return
    old = path.with_name(f".{path.name}.vw-old-{uuid.uuid4().hex[:8]}")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old, path)
        raise
    _remove(old)


def _check_target(path: Path, overwrite: bool) -> None:
    from voxelwise.io._zarr import is_zarr

    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise OutputExistsError(
            f"{path} exists already; pass overwrite=True to replace it (the new data are written "
            "beside it first, so replacing the file being read is safe)"
        )
    if path.is_dir() and not is_zarr(path) and any(path.iterdir()):
        raise OutputExistsError(
            f"{path} is a folder that is not a zarr store; voxelwise will not delete it even "
            "with overwrite=True. Choose another output path or remove the folder yourself"
        )


def write_volume(
    image: Any,
    path: str | os.PathLike[str],
    *,
    chunks: Any = None,
    spacing: Any = None,
    unit: str | None = None,
    format: str | None = None,
    key: str | None = None,
    overwrite: bool = False,
    levels: int | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write a 3D (or 2D) image to a file, streaming it so any size fits in memory.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) ndarray, dask array, array-like, or Volume
        A Volume also gives the default ``spacing`` and ``unit``. bool is written as uint8.
    path : str or Path
        Output; the format follows the name (``.tif``, ``.h5``, ``.mrc``, ``.zarr``,
        ``.ome.zarr``, ``.npy``) unless ``format`` is given. Missing parent folders are created.
    chunks : int or (3,) ints, optional
        Storage chunks for HDF5, Zarr and OME-Zarr (default about 64 x 256 x 256). TIFF, MRC and
        NumPy store contiguous planes and ignore it.
    spacing : float or (3,) floats, optional
        Voxel size (z, y, x) in ``unit``; stored where the format can (TIFF resolution and
        ImageJ/JSON metadata, HDF5 and Zarr attributes, MRC header in angstrom, NGFF scale).
    unit : str, optional
        Unit of ``spacing``, e.g. "nanometer" ("nm", "um", "micron" are understood).
    format : str, optional
        One of :func:`supported_formats` ``(write=True)``.
    key : str, optional
        Dataset path in HDF5 (default "data"), array path in a Zarr group, image group in an
        OME-Zarr store.
    overwrite : bool
        Replace an existing output. The output is written beside it first and swapped in at the
        end, so the input is never destroyed even when it is the same path.
    levels : int, optional
        OME-Zarr only: number of pyramid levels (default: down to about 64 voxels).
    scheduler, progress
        Where chunks are computed (None/"threads", "sync", a "tcp://" address or a
        ``distributed.Client``) and a ``progress(done, total)`` callback that may raise
        :class:`~voxelwise.errors.CancelledError`.

    Returns
    -------
    Path
        The written file or folder.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    FormatNotSupportedError
        The format cannot be told from the name, or is not one voxelwise writes.
    InvalidVolumeError
        The image is not 2D/3D grayscale, or its dtype cannot be stored in the format.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((4, 32, 32), np.uint8)
    >>> write_volume(image, tmp / "vol.ome.zarr", spacing=(50, 4, 4), unit="nm")  # doctest: +SKIP
    """
    from voxelwise.io._hdf5 import write_hdf5
    from voxelwise.io._mrc import mrc_dtype, write_mrc
    from voxelwise.io._npy import write_npy
    from voxelwise.io._tiffmeta import write_tiff
    from voxelwise.io._zarr import write_ome_zarr, write_zarr

    path = Path(os.fspath(path)).expanduser()
    if isinstance(image, Volume):
        if spacing is None and image.spacing is not None:
            spacing, unit = image.spacing, unit or image.unit
        image = image.data
    data = _as_dask(image, chunks)
    fmt = _output_format(path, format)
    if levels is not None and fmt != "ome-zarr":
        raise ValueError(f"levels= applies to OME-Zarr output only, not {fmt}; drop it")
    if key is not None and fmt not in ("hdf5", "zarr", "ome-zarr"):
        raise ValueError(f"key= applies to HDF5 and Zarr output only, not {fmt}; drop it")
    spacing = parse_spacing(spacing) if spacing is not None else None
    unit = normalize_unit(unit)
    if fmt == "mrc":
        mrc_dtype(data.dtype, path)
    shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
    _check_target(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.vw-tmp-{uuid.uuid4().hex[:8]}")
    try:
        if fmt in ("zarr", "ome-zarr"):
            if fmt == "zarr":
                write_zarr(
                    data,
                    tmp,
                    chunks=chunks,
                    key=key,
                    spacing=spacing,
                    unit=unit,
                    scheduler=scheduler,
                    progress=progress,
                )
            else:
                name = path.name.removesuffix(".zarr").removesuffix(".ome")
                write_ome_zarr(
                    data,
                    tmp,
                    chunks=chunks,
                    key=key,
                    spacing=spacing,
                    unit=unit,
                    levels=levels,
                    name=name,
                    scheduler=scheduler,
                    progress=progress,
                )
        elif fmt == "hdf5":
            chunk_shape = parse_chunks(chunks, shape)
            slabs = _slabs(data, slab_bounds(data, align=chunk_shape[0]), scheduler, progress)
            write_hdf5(
                slabs,
                tmp,
                shape=shape,
                dtype=data.dtype,
                chunks=chunk_shape,
                key=(key or "data").strip("/"),
                spacing=spacing,
                unit=unit,
            )
        else:
            slabs = _slabs(data, slab_bounds(data), scheduler, progress)
            if fmt == "tiff":
                write_tiff(
                    slabs,
                    tmp,
                    shape=shape,
                    dtype=data.dtype,
                    spacing=spacing,
                    unit=unit,
                )
            elif fmt == "mrc":
                write_mrc(slabs, tmp, shape=shape, dtype=data.dtype, spacing=spacing, unit=unit)
            else:
                write_npy(slabs, tmp, shape=shape, dtype=data.dtype)
        _replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path
