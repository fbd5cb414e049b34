"""Split touching objects of a mask by a distance-transform watershed, chunk by chunk."""

from __future__ import annotations

import math
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._arrays import as_labels, parse_spacing_or_unit
from voxelwise.blockwise import label, map_chunks, relabel_sequential

__all__ = ["watershed_split"]


def _footprint(min_distance: float, spacing: tuple[float, ...]) -> np.ndarray:
    radius = [math.floor(min_distance / s) for s in spacing]
    grids = np.ogrid[tuple(slice(-r, r + 1) for r in radius)]
    dist2 = sum((g * s / min_distance) ** 2 for g, s in zip(grids, spacing))
    return np.asarray(dist2 <= 1.0)


def _distance(block: np.ndarray, *, sampling: tuple[float, ...]) -> np.ndarray:
    if block.all():  # no background in reach: as far as the halo allows
        return np.full(block.shape, np.finfo(np.float32).max, dtype=np.float32)
    return ndi.distance_transform_edt(block, sampling=sampling).astype(np.float32)


def _peaks(dist: np.ndarray, *, footprint: np.ndarray) -> np.ndarray:
    top = ndi.maximum_filter(dist, footprint=footprint, mode="constant", cval=0.0)
    return (dist > 0) & (dist == top)


def _flood(
    dist: np.ndarray, markers: np.ndarray, mask: np.ndarray, *, connectivity: int
) -> np.ndarray:
    if not markers.any():
        return np.zeros(markers.shape, dtype=markers.dtype)
    return watershed(-dist, markers, mask=mask, connectivity=connectivity).astype(markers.dtype)


def _merge(
    basins: np.ndarray, components: np.ndarray, mask: np.ndarray, *, offset: int
) -> np.ndarray:
    out = basins.astype(np.uint64)
    lost = mask & (basins == 0)
    out[lost] = components[lost].astype(np.uint64) + np.uint64(offset)
    return out


def watershed_split(
    mask: Any,
    *,
    min_distance: float = 3.0,
    spacing: Any = None,
    connectivity: int = 1,
    halo: Any = None,
    chunks: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """Split touching objects of a mask with a watershed of the distance transform.

    The Euclidean distance to the background (with the voxel spacing) peaks at the centre of
    each roundish object; every local maximum (the highest value within ``min_distance``)
    seeds a basin, and a watershed of the negated distance, restricted to the mask, grows the
    seeds until they meet at the necks between objects.

    Chunk by chunk: the distance, the maxima and the watershed are computed on each chunk
    extended by ``halo``; seeds are numbered over the whole volume (plateaus that cross chunk
    borders are one seed), so a basin keeps one id across chunks. The result equals the
    whole-array watershed when the objects are smaller than the halo; larger objects are
    still fully labelled (mask voxels that no seed reaches within a chunk's halo keep their
    connected-component id) but may be cut at chunk borders.

    Parameters
    ----------
    mask : (Z, Y, X) array of bool or int
        Foreground (non-zero) voxels.
    min_distance : float
        Minimal distance between seeds, in the units of ``spacing`` (voxels without it).
        Larger values merge more; about the radius of the smallest object to keep whole.
    spacing : float or (3,) floats, optional
        Voxel size (z, y, x), so distances are physical on anisotropic data.
    connectivity : {1, 2, 3}
        Neighbourhood of the watershed flood.
    halo : int or (3,) ints, optional
        Voxels of context per side; default ``ceil(4 * min_distance / spacing)`` per axis
        (at least 8 voxels along the finest axis). Raise it for objects larger than that.
    chunks : int or (3,) ints, optional
        Rechunk first.
    scheduler, progress
        For the passes that number the seeds and the objects.

    Returns
    -------
    labels : (Z, Y, X) dask array of uint32
        Objects 1..n, 0 for background. The input is read, and the distance transform
        computed, several times: store the result (or its input) when it is expensive.
    n : int
        The number of objects.

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.ogrid[:20, :20, :36]
    >>> balls = ((z - 10) ** 2 + (y - 10) ** 2 + (x - 10) ** 2 <= 64) | (
    ...     (z - 10) ** 2 + (y - 10) ** 2 + (x - 24) ** 2 <= 64)
    >>> labels, n = watershed_split(balls, min_distance=4)
    >>> n
    2
    """
    arr = as_labels(mask, what="mask", chunks=chunks)
    fg = arr != 0 if arr.dtype != bool else arr
    sp = parse_spacing_or_unit(spacing)
    if isinstance(min_distance, bool) or not (
        isinstance(min_distance, int | float) and math.isfinite(min_distance) and min_distance > 0
    ):
        raise ValueError(f"Expected min_distance > 0 (spacing units), got {min_distance!r}")
    if connectivity not in (1, 2, 3):
        raise ValueError(f"Expected connectivity 1, 2 or 3, got {connectivity!r} instead")
    if halo is None:
        reach = max(4.0 * float(min_distance), 8.0 * min(sp))
        halo = tuple(math.ceil(reach / s) for s in sp)
    footprint = _footprint(float(min_distance), sp)
    radius = tuple(int(r) // 2 for r in footprint.shape)

    dist = map_chunks(
        _distance, fg, halo=halo, boundary="none", dtype=np.float32, sampling=sp, name="vw-edt"
    )
    seeds = map_chunks(
        _peaks,
        dist,
        halo=radius,
        boundary="constant",
        dtype=bool,
        footprint=footprint,
        name="vw-peaks",
    )
    markers, n_seeds = label(seeds, connectivity=3, scheduler=scheduler, progress=progress)
    basins = map_chunks(
        _flood,
        dist,
        markers,
        fg,
        halo=halo,
        boundary="constant",
        dtype=markers.dtype,
        connectivity=connectivity,
        name="vw-watershed",
    )
    components, _ = label(fg, scheduler=scheduler)
    merged = da.map_blocks(
        _merge,
        basins,
        components.rechunk(basins.chunks),
        fg.rechunk(basins.chunks),
        offset=n_seeds,
        dtype=np.uint64,
    )
    return relabel_sequential(merged, scheduler=scheduler, progress=progress)
