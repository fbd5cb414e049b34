"""Turn user input (NumPy, dask, zarr, h5py) into chunked dask arrays, validating the shape."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np

from voxelwise._validate import parse_chunks
from voxelwise.errors import InvalidVolumeError

__all__ = ["as_dask", "label_dtype", "parse_size"]


def parse_size(value: Any, name: str, *, minimum: int = 1) -> tuple[int, int, int]:
    """Normalise one int or three ints (z, y, x), each >= ``minimum``, for parameter ``name``."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        values: tuple[Any, ...] = (value, value, value)
    elif isinstance(value, tuple | list) and len(value) == 3:
        values = tuple(value)
    else:
        raise TypeError(
            f"Expected {name} as one int or three ints (z, y, x), got {value!r} instead"
        )
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        raise TypeError(f"Expected {name} as whole numbers (z, y, x), got {value!r} instead")
    if any(int(v) < minimum for v in values):
        raise ValueError(f"Expected {name} >= {minimum} on every axis, got {value!r} instead")
    return (int(values[0]), int(values[1]), int(values[2]))


def as_dask(
    image: Any,
    *,
    chunks: Any = None,
    what: str = "image",
    channels_ok: bool = False,
) -> da.Array:
    """Wrap ``image`` as a dask array of shape (Z, Y, X), or (C, Z, Y, X) when ``channels_ok``.

    A dask array keeps its chunks unless ``chunks`` is given. A zarr or HDF5 array is wrapped
    lazily on its own stored chunk grid (or ``chunks``); anything else (NumPy) is wrapped without
    a copy on ``chunks`` or :func:`voxelwise._validate.parse_chunks`'s default. A leading channel
    axis is always one chunk.
    """
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise TypeError(
            f"Expected the {what} as an array (NumPy, dask, zarr), got {type(image).__name__} "
            "instead; convert it with numpy.asarray first"
        )
    ndim = len(image.shape)
    allowed = (3, 4) if channels_ok else (3,)
    if ndim not in allowed:
        layout = "(Z, Y, X) or (C, Z, Y, X)" if channels_ok else "(Z, Y, X)"
        hint = " (for a 2D image use image[None] to make it one slice)" if ndim == 2 else ""
        raise InvalidVolumeError(
            f"Expected the {what} as a {layout} array, got {ndim}D data of shape "
            f"{tuple(image.shape)} instead{hint}"
        )
    if any(int(s) == 0 for s in image.shape):
        raise InvalidVolumeError(
            f"The {what} has a zero-size dimension: shape {tuple(image.shape)}; nothing to process"
        )
    spatial = tuple(int(s) for s in image.shape[-3:])
    lead = tuple(int(s) for s in image.shape[:-3])
    if isinstance(image, da.Array):
        arr = image
        if chunks is not None:
            arr = arr.rechunk(lead + parse_chunks(chunks, spatial))
    else:
        stored = getattr(image, "chunks", None)
        if chunks is None and isinstance(stored, tuple) and len(stored) == ndim:
            spatial_chunks = tuple(int(c) for c in stored[-3:])
        else:
            spatial_chunks = parse_chunks(chunks, spatial)
        arr = da.from_array(image, chunks=lead + spatial_chunks, asarray=True)
    if lead and arr.numblocks[0] != 1:
        arr = arr.rechunk({0: -1})
    return arr


def label_dtype(n: int) -> np.dtype:
    """The dtype for labels 0..n: uint32, or uint64 when ``n`` does not fit."""
    return np.dtype(np.uint32) if n < 2**32 else np.dtype(np.uint64)
