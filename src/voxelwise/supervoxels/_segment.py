"""Supervoxels of a volume, chunk by chunk: SLIC or seeded watershed, ids unique over the volume."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import as_volume_shape, parse_chunks
from voxelwise.blockwise import map_chunks
from voxelwise.errors import InvalidVolumeError
from voxelwise.supervoxels._chunk import finish_block, slic_block, watershed_block
from voxelwise.supervoxels._params import (
    MIN_SIZE_FACTOR,
    SLIC_ITERATIONS,
    Grid,
    parse_compactness,
    parse_intensity_range,
    parse_positive,
    plan_grid,
)

__all__ = ["as_volume", "intensity_range_of", "seeded_watershed", "segment", "slic"]


def as_volume(image: Any, *, chunks: Any = None, what: str = "image") -> da.Array:
    """Wrap a (Z, Y, X) NumPy, dask or zarr array as a dask array, keeping stored chunks."""
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise TypeError(
            f"Expected the {what} as an array (NumPy, dask, zarr), got {type(image).__name__} "
            "instead"
        )
    if len(image.shape) != 3:
        as_volume_shape(image.shape, what=what)  # raises a helpful error for 4D/RGB/1D
        raise InvalidVolumeError(
            f"Expected the {what} as a (Z, Y, X) array, got shape {tuple(image.shape)} instead; "
            "use image[None] for a single 2D section"
        )
    as_volume_shape(image.shape, what=what)
    shape = tuple(int(s) for s in image.shape)
    if isinstance(image, da.Array):
        return image if chunks is None else image.rechunk(parse_chunks(chunks, shape))
    stored = getattr(image, "chunks", None)
    if chunks is None and isinstance(stored, tuple) and len(stored) == 3:
        grid = tuple(int(c) for c in stored)
    else:
        grid = parse_chunks(chunks, shape)
    return da.from_array(image, chunks=grid, asarray=True)


def intensity_range_of(
    image: da.Array, *, scheduler: Scheduler = None, progress: ProgressCallback | None = None
) -> tuple[float, float]:
    """The 0.1 and 99.9 percentiles of ``image`` (chunk by chunk), the default normalisation."""
    from voxelwise.workspace import compute_stats

    stats = compute_stats(image, scheduler=scheduler, progress=progress)
    return range_from_stats(stats)


def range_from_stats(stats: dict[str, Any]) -> tuple[float, float]:
    """(low, high) from stored layer statistics: the 0.1 and 99.9 percentiles, else min/max."""
    pct = stats.get("percentiles") or {}
    lo, hi = pct.get("0.1"), pct.get("99.9")
    if lo is None or hi is None or not hi > lo:
        lo, hi = stats.get("min"), stats.get("max")
    if lo is None or hi is None:
        return (0.0, 1.0)
    return (float(lo), float(hi))


def _check_mask(mask: Any, shape: tuple[int, ...], chunks: tuple[tuple[int, ...], ...]) -> da.Array:
    if not hasattr(mask, "shape") or not hasattr(mask, "dtype"):
        raise TypeError(
            f"Expected mask as a boolean array of the image's shape {shape}, got "
            f"{type(mask).__name__} instead"
        )
    if tuple(int(s) for s in mask.shape) != shape:
        raise ValueError(
            f"Expected a mask of the image's shape {shape} (z, y, x), got shape "
            f"{tuple(mask.shape)} instead; crop or resample the mask to the image first"
        )
    if np.dtype(mask.dtype).kind not in "biu":
        raise TypeError(
            f"Expected a boolean (or 0/1 integer) mask, got dtype {mask.dtype} instead; "
            "threshold it first, e.g. mask=probability > 0.5"
        )
    arr = mask if isinstance(mask, da.Array) else da.from_array(mask, chunks=chunks, asarray=True)
    return arr.rechunk(chunks).astype(bool)


def _write_block(
    block: np.ndarray, target: Any, block_info: dict[Any, Any] | None = None
) -> np.ndarray:
    """Write one chunk of per-chunk ids into ``target`` and return its number of regions."""
    loc = block_info[0]["array-location"]  # type: ignore[index]
    target[tuple(slice(a, b) for a, b in loc)] = block
    return np.full((1, 1, 1), int(block.max()) if block.size else 0, dtype=np.int64)


def _add_offset(
    block: np.ndarray, offsets: np.ndarray, dtype: np.dtype, block_id: tuple[int, ...] = (0, 0, 0)
) -> np.ndarray:
    out = block.astype(dtype, copy=True)
    out[out > 0] += dtype.type(offsets[block_id])
    return out


def _open_out(out: Any, shape: tuple[int, ...], chunks: tuple[int, int, int]) -> Any:
    """The array holding per-chunk ids: NumPy (None), a new zarr array (path), or ``out``."""
    if out is None:
        return np.zeros(shape, dtype=np.uint32)
    if isinstance(out, str | os.PathLike):
        import zarr

        return zarr.create_array(
            store=str(Path(out)), shape=shape, chunks=chunks, dtype=np.uint32, fill_value=0
        )
    if tuple(int(s) for s in out.shape) != shape:
        raise ValueError(f"Expected out of shape {shape}, got {tuple(out.shape)} instead")
    stored = getattr(out, "shards", None) or getattr(out, "chunks", None)
    if stored is not None and any(c % s for c, s in zip(chunks, stored)):
        raise ValueError(
            f"The chunks of out ({tuple(stored)}) must divide the processing chunks {chunks}, so "
            "no two tasks write one stored chunk; create it with chunks equal to the image's"
        )
    return out


def segment(
    image: Any,
    block_func: Callable[..., np.ndarray],
    *,
    grid_kwargs: dict[str, Any],
    func_kwargs: dict[str, Any],
    mask: Any = None,
    chunks: Any = None,
    intensity_range: Any = None,
    out: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int, Grid]:
    """Run ``block_func`` chunk by chunk, store per-chunk ids in ``out``, return merged ids."""
    arr = as_volume(image, chunks=chunks)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Expected a real-valued image, got dtype {arr.dtype} instead")
    shape = tuple(int(s) for s in arr.shape)
    if not all(all(c == axis[0] for c in axis[:-1]) and axis[-1] <= axis[0] for axis in arr.chunks):
        arr = arr.rechunk(arr.chunksize)  # a regular grid, so stored chunks line up with tasks
    grid = plan_grid(shape, chunks=arr.chunks, **grid_kwargs)
    if _compute.is_distributed(scheduler) and (out is None or isinstance(out, np.ndarray)):
        raise ValueError(
            "With a distributed scheduler the per-chunk results must go to storage the workers "
            "share: pass out= a path or zarr array on a shared filesystem"
        )
    inputs = [arr]
    if mask is not None:
        inputs.append(_check_mask(mask, shape, arr.chunks))
    if intensity_range is None:
        lo, hi = intensity_range_of(arr, scheduler=scheduler)
    else:
        lo, hi = parse_intensity_range(intensity_range)
    local = map_chunks(
        block_func,
        *inputs,
        halo=grid.halo,
        boundary="none",
        dtype=np.uint32,
        name="vw-supervoxels",
        steps=grid.steps,
        spacing=grid.spacing,
        slab=grid.slab,
        lo=lo,
        hi=hi,
        **func_kwargs,
    )
    min_size = func_kwargs.get("min_size_factor", MIN_SIZE_FACTOR) * grid.volume
    token = tokenize(local.name, min_size, grid.slab)
    local = da.map_blocks(
        finish_block,
        local,
        min_size=min_size,
        slab=grid.slab,
        dtype=np.uint32,
        name=f"vw-supervoxels-finish-{token}",
    )
    chunk_shape = tuple(int(c[0]) for c in local.chunks)
    target = _open_out(out, shape, chunk_shape)  # type: ignore[arg-type]
    counts = da.map_blocks(
        _write_block,
        local,
        target=target,
        dtype=np.int64,
        chunks=tuple((1,) * n for n in local.numblocks),
        meta=np.empty((0, 0, 0), dtype=np.int64),
        name=f"vw-supervoxels-store-{tokenize(local.name, id(target))}",
    )
    (per_chunk,) = _compute.compute(counts, scheduler=scheduler, progress=progress)
    per_chunk = np.asarray(per_chunk, dtype=np.int64)
    n = int(per_chunk.sum())
    offsets = (np.cumsum(per_chunk.ravel()) - per_chunk.ravel()).reshape(per_chunk.shape)
    dtype = np.dtype(np.uint32) if n < 2**32 else np.dtype(np.uint64)
    stored = da.from_array(
        target, chunks=local.chunks, asarray=True, name=f"vw-supervoxels-local-{counts.name}"
    )
    merged = da.map_blocks(
        functools.partial(_add_offset, offsets=offsets, dtype=dtype),
        stored,
        dtype=dtype,
        name=f"vw-supervoxels-ids-{tokenize(stored.name, offsets)}",
    )
    return merged, n, grid


_COMMON_DOC = """
    Parameters
    ----------
    image : (Z, Y, X) array
        NumPy, dask or zarr array of any real dtype. Chunks of a dask or zarr array are the
        processing chunks (else ``chunks``).
    size : float
        Target supervoxel edge in voxels along the finest axis (>= 1). Coarser axes get
        ``size * finest_spacing / spacing`` voxels (at least 1), so supervoxels are about cubic in
        physical units. Where the z step is at most 2/3 of the in-plane step (serial-section EM:
        ``size=10`` at spacing (50, 4.6, 4.6) gives 1 x 10 x 10 voxels) supervoxels are slabs of
        whole sections.
    spacing : float or (3,) floats, optional
        Voxel size (z, y, x) in any unit; default isotropic.
    mask : (Z, Y, X) bool array, optional
        Only voxels inside get supervoxels; the rest is 0.
    sigma : float
        Gaussian smoothing, in voxels of the finest axis, before clustering (SLIC) or of the
        gradient (watershed).
    halo : int or (3,) ints, optional
        Context voxels around each chunk; default half a seed step (none across slabs), capped at
        the chunk size.
    chunks : int or (3,) ints, optional
        Rechunk the image first.
    intensity_range : (low, high), optional
        Intensities mapped to 0..1 (clipped) before segmenting; default the 0.1 and 99.9
        percentiles of the image (one pass over it). Makes ``compactness`` independent of dtype.
    out : zarr array or path, optional
        Where the first pass keeps per-chunk ids (uint32; chunks must divide the processing
        chunks); a path creates a zarr array there. Default: a NumPy array (4 bytes per voxel).
        The returned labels read it, so keep it while they are in use.
    scheduler, progress
        Where to run and ``progress(done, total)``; see :func:`voxelwise.blockwise.compute`.

    Returns
    -------
    labels : (Z, Y, X) dask array of uint32 (uint64 beyond 2**32 - 1 supervoxels)
        Ids 1..n, consecutive, each one 6-connected region; 0 outside ``mask``. Lazy: it adds
        per-chunk offsets to ``out`` as it is computed or stored.
    n : int
        The number of supervoxels.

    Notes
    -----
    Each chunk (with its halo) is segmented on its own and the halo trimmed off, so supervoxels
    never cross chunk faces; pieces cut apart by the trim get their own ids and slivers smaller
    than a quarter of the target size join a neighbour. Results depend on the chunking.
"""


def slic(
    image: Any,
    *,
    size: float = 10,
    compactness: float | None = None,
    spacing: Any = None,
    mask: Any = None,
    sigma: float = 1.5,
    max_num_iter: int = SLIC_ITERATIONS,
    min_size_factor: float = MIN_SIZE_FACTOR,
    halo: Any = None,
    chunks: Any = None,
    intensity_range: Any = None,
    out: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """SLIC supervoxels of a volume larger than memory, chunk by chunk.

    Runs :func:`skimage.segmentation.slic` on every chunk (with a halo) on intensities
    normalised to 0..100, so the SLIC compactness keeps its usual meaning for any dtype: larger
    values give more regular, cube-like supervoxels, smaller ones follow edges more closely
    (default 7). ``max_num_iter`` (default 5, which follows edges as well as skimage's 10 in
    half the time) and ``min_size_factor`` are passed to skimage (segments below
    ``min_size_factor`` of the target size are merged).
    {common}
    Examples
    --------
    >>> from voxelwise.data import synthetic_em
    >>> vol = synthetic_em((8, 64, 64), rng=0)
    >>> labels, n = slic(vol.image, size=8)
    >>> labels.shape, labels.dtype.name, int(labels.max()) == n
    ((8, 64, 64), 'uint32', True)
    """
    method_kwargs = {
        "compactness": parse_compactness(compactness, "slic"),
        "sigma": parse_positive(sigma, "sigma", strict=False),
        "max_num_iter": int(parse_positive(max_num_iter, "max_num_iter", minimum=1, strict=False)),
        "min_size_factor": parse_positive(min_size_factor, "min_size_factor", strict=False),
    }
    labels, n, _ = segment(
        image,
        slic_block,
        grid_kwargs={"size": size, "spacing": spacing, "halo": halo},
        func_kwargs=method_kwargs,
        mask=mask,
        chunks=chunks,
        intensity_range=intensity_range,
        out=out,
        scheduler=scheduler,
        progress=progress,
    )
    return labels, n


def seeded_watershed(
    image: Any,
    *,
    size: float = 10,
    compactness: float | None = None,
    spacing: Any = None,
    mask: Any = None,
    sigma: float = 1.5,
    gradient: bool = True,
    halo: Any = None,
    chunks: Any = None,
    intensity_range: Any = None,
    out: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """Supervoxels by compact watershed from one seed per grid cell: faster than SLIC.

    Seeds sit at the lowest gradient point of each cell of a grid with the supervoxel size;
    :func:`skimage.segmentation.watershed` floods the Gaussian gradient magnitude of the
    normalised image (0..100 units), or the image itself with ``gradient=False`` (for a layer
    that is already an edge map: a gradient or membrane probability). ``compactness`` weighs
    the distance to the seed (default 0: a plain watershed, the fastest).
    {common}
    Examples
    --------
    >>> from voxelwise.data import synthetic_em
    >>> vol = synthetic_em((8, 64, 64), rng=0)
    >>> labels, n = seeded_watershed(vol.image, size=8)
    >>> int(labels.max()) == n
    True
    """
    if not isinstance(gradient, bool | np.bool_):
        raise TypeError(f"Expected gradient as True or False, got {gradient!r} instead")
    method_kwargs = {
        "compactness": parse_compactness(compactness, "watershed"),
        "sigma": parse_positive(sigma, "sigma", strict=False),
        "gradient": bool(gradient),
    }
    labels, n, _ = segment(
        image,
        watershed_block,
        grid_kwargs={"size": size, "spacing": spacing, "halo": halo},
        func_kwargs=method_kwargs,
        mask=mask,
        chunks=chunks,
        intensity_range=intensity_range,
        out=out,
        scheduler=scheduler,
        progress=progress,
    )
    return labels, n


slic.__doc__ = (slic.__doc__ or "").replace("{common}", _COMMON_DOC)
seeded_watershed.__doc__ = (seeded_watershed.__doc__ or "").replace("{common}", _COMMON_DOC)
