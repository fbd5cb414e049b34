"""Object tables and reading boxes out of core: only each object's region is ever read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis import Table, measure
from voxelwise.objects._errors import ObjectsError

__all__ = ["Box", "batches", "bbox_of", "clip_box", "object_table", "read_boxes", "select_ids"]

Box = tuple[slice, slice, slice]


def object_table(
    labels: Any,
    image: Any = None,
    *,
    spacing: Any = None,
    surface: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Table:
    """One row per object of an instance volume (:func:`voxelwise.analysis.measure`).

    Bounding boxes and centroids place the patches; with ``image`` the table also has the
    ``intensity_*`` statistics, and with ``surface`` the surface area and sphericity, which
    the random forest uses. One chunked pass; memory O(number of objects).
    """
    return measure(
        labels,
        None if image is None else {"intensity": image},
        spacing=spacing,
        surface=surface,
        scheduler=scheduler,
        progress=progress,
    )


def select_ids(table: Table, ids: Any = None) -> np.ndarray:
    """Row indices of ``ids`` in ``table`` (all rows when None); unknown ids raise."""
    known = np.asarray(table["id"], dtype=np.int64)
    if ids is None:
        return np.arange(known.size)
    wanted = np.atleast_1d(np.asarray(ids, dtype=np.int64))
    pos = np.searchsorted(known, wanted)
    pos = np.minimum(pos, max(known.size - 1, 0))
    bad = wanted[(known.size == 0) | (known[pos] != wanted)] if wanted.size else wanted
    if bad.size:
        raise ObjectsError(
            f"No object with id {', '.join(map(str, bad[:10].tolist()))} in the instance "
            f"volume ({known.size} objects, ids {_id_range(known)}); pick ids it holds"
        )
    return pos


def _id_range(ids: np.ndarray) -> str:
    return f"{int(ids.min())}..{int(ids.max())}" if ids.size else "none"


def bbox_of(table: Table, row: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` voxel corners (z, y, x) of one row's bounding box (hi exclusive)."""
    lo = np.array([int(table[f"bbox_{a}0"][row]) for a in "zyx"], dtype=np.int64)
    hi = np.array([int(table[f"bbox_{a}1"][row]) for a in "zyx"], dtype=np.int64)
    return lo, hi


def clip_box(
    lo: Sequence[int] | np.ndarray, hi: Sequence[int] | np.ndarray, shape: Sequence[int]
) -> tuple[Box, list[tuple[int, int]]]:
    """The part of the box ``[lo, hi)`` inside ``shape`` and the padding that restores it."""
    inner = []
    pad = []
    for a, b, n in zip(lo, hi, shape):
        s0, s1 = max(int(a), 0), min(int(b), int(n))
        if s1 <= s0:
            raise ObjectsError(
                f"The box {list(lo)}..{list(hi)} lies outside the volume of shape "
                f"{tuple(shape)}; patches must overlap the volume"
            )
        inner.append(slice(s0, s1))
        pad.append((s0 - int(a), int(b) - s1))
    return (inner[0], inner[1], inner[2]), pad


def read_boxes(
    array: Any, boxes: Sequence[Box], *, scheduler: Scheduler = None
) -> list[np.ndarray]:
    """The values of ``array`` in each box, as NumPy arrays.

    Stored arrays (zarr, HDF5, NumPy) are sliced directly, so only the chunks under each box
    are read; a dask array is sliced lazily and all boxes are computed in one graph, so a chunk
    shared by several boxes is computed once.
    """
    if isinstance(array, da.Array):
        if not boxes:
            return []
        parts = _compute.compute(*[array[b] for b in boxes], scheduler=scheduler)
        return [np.asarray(p) for p in parts]
    return [np.asarray(array[b]) for b in boxes]


def batches(n: int, size: int) -> Iterator[range]:
    """Consecutive index ranges of at most ``size`` items covering ``range(n)``."""
    for start in range(0, n, max(1, size)):
        yield range(start, min(n, start + size))
