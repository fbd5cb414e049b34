"""Patches of a volume sampled at points, read out of core (only each patch's box)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import Scheduler
from voxelwise.points._errors import PointsError
from voxelwise.points._points import Points

__all__ = ["parse_patch_size", "read_boxes", "sample_patches"]


def read_boxes(
    array: Any, boxes: Sequence[tuple[slice, ...]], *, scheduler: Scheduler = None
) -> list[np.ndarray]:
    """The values of ``array`` in each box (stored arrays sliced directly; a dask array in one
    graph, so shared chunks are computed once)."""
    if isinstance(array, da.Array):
        if not boxes:
            return []
        return [
            np.asarray(p) for p in _compute.compute(*[array[b] for b in boxes], scheduler=scheduler)
        ]
    return [np.asarray(array[b]) for b in boxes]


def parse_patch_size(size: Any) -> tuple[int, int, int]:
    """A patch size (z, y, x) in voxels from one int or three (z = 1 gives 2D patches)."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        values = [int(size)] * 3
    elif isinstance(size, Sequence) and len(size) == 3:
        values = [int(v) for v in size]
    else:
        raise PointsError(f"Expected the patch size as one or three whole numbers, got {size!r}")
    if min(values) < 1:
        raise PointsError(f"Expected a patch size >= 1 voxel per axis, got {size!r}")
    return (values[0], values[1], values[2])


def sample_patches(
    image: Any,
    points: Points,
    size: Any,
    *,
    bin: Any = 1,
    batch: int = 256,
    scheduler: Scheduler = None,
) -> np.ndarray:
    """Patches of ``size`` voxels centred on each point (rounded), padded with edge values.

    Parameters
    ----------
    image : (Z, Y, X) array
        NumPy, dask or zarr.
    size : int or (3,) ints
        Patch size (z, y, x) in voxels before binning.
    bin : int or (3,) ints
        Block-mean factors (each must divide the size).

    Returns
    -------
    (N, Z, Y, X) ndarray of float32
        ``size // bin`` per patch.
    """
    if not hasattr(image, "shape") or len(image.shape) != 3:
        raise PointsError("Expected the image as a (Z, Y, X) array")
    shape = np.asarray(image.shape, dtype=np.int64)
    psize = np.asarray(parse_patch_size(size), dtype=np.int64)
    factors = np.asarray(parse_patch_size(bin), dtype=np.int64)
    if (psize % factors).any():
        raise PointsError(f"Expected bin factors {factors.tolist()} that divide the size {psize}")
    centres = np.rint(points.zyx).astype(np.int64)
    if ((centres < 0) | (centres >= shape)).any():
        raise PointsError(
            "Some points lie outside the image; skip them first (read_points_csv(..., shape=))"
        )
    starts = centres - psize // 2
    out = np.empty((len(points), *(psize // factors)), dtype=np.float32)
    for first in range(0, len(points), max(1, int(batch))):
        rows = range(first, min(len(points), first + int(batch)))
        lo = np.maximum(starts[first : rows.stop], 0)
        hi = np.minimum(starts[first : rows.stop] + psize, shape)
        boxes = [
            tuple(slice(int(a), int(b)) for a, b in zip(lo[k], hi[k])) for k in range(len(rows))
        ]
        blocks = read_boxes(image, boxes, scheduler=scheduler)
        for k, i in enumerate(rows):
            before = lo[k] - starts[i]
            after = starts[i] + psize - hi[k]
            block = np.asarray(blocks[k], dtype=np.float32)
            if before.any() or after.any():
                block = np.pad(block, list(zip(before.tolist(), after.tolist())), mode="edge")
            shp = []
            for n, f in zip(block.shape, factors):
                shp += [int(n // f), int(f)]
            out[i] = block.reshape(shp).mean(axis=(1, 3, 5))
    return out
