"""Training samples from annotations, chunk by chunk: annotated voxels, a class-balanced capped
sample, and feature values at those voxels (read only from the chunks that hold them).

Voxels are addressed by their flat index ``(z * Y + y) * X + x`` (int64). The sample is
deterministic and stable: each voxel gets a fixed pseudo-random priority from its index, and a
class keeps its ``max_per_class`` voxels of lowest priority. Adding strokes therefore changes
the sample only by the new voxels that win a place, so a :class:`PointCache` can reuse the
feature values of every voxel it has already read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, compute

__all__ = ["PointCache", "annotated_voxels", "balanced_sample", "priority", "read_points"]


def _nonzero_block(
    block: np.ndarray, *, origin: tuple[int, int, int], shape: tuple[int, ...]
) -> Any:
    idx = np.flatnonzero(block)
    if idx.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    z, y, x = np.unravel_index(idx, block.shape)
    flat = ((z + origin[0]) * shape[1] + (y + origin[1])) * shape[2] + (x + origin[2])
    return flat.astype(np.int64), block.ravel()[idx].astype(np.int64)


def _origins(arr: da.Array) -> list[tuple[tuple[int, ...], tuple[int, int, int]]]:
    starts = [np.r_[0, np.cumsum(c)[:-1]] for c in arr.chunks]
    return [
        (idx, tuple(int(starts[a][i]) for a, i in enumerate(idx)))  # type: ignore[misc]
        for idx in np.ndindex(*arr.numblocks)
    ]


def annotated_voxels(
    labels: da.Array, *, scheduler: Scheduler = None, progress: ProgressCallback | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (sorted) and values of every non-zero voxel of a (Z, Y, X) label array.

    Memory is O(annotated voxels); each chunk is read once.
    """
    shape = tuple(int(s) for s in labels.shape)
    blocks = labels.to_delayed()
    tasks = [
        dask.delayed(_nonzero_block)(blocks[idx], origin=origin, shape=shape)
        for idx, origin in _origins(labels)
    ]
    parts = compute(*tasks, scheduler=scheduler, progress=progress)
    flat = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    values = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    order = np.argsort(flat, kind="stable")
    return flat[order], values[order]


def priority(flat: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random uint64 per flat index (splitmix64 of index and seed)."""
    with np.errstate(over="ignore"):
        z = flat.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def balanced_sample(
    flat: np.ndarray, classes: np.ndarray, *, max_per_class: int | None, seed: int = 0
) -> np.ndarray:
    """Positions (into ``flat``) of at most ``max_per_class`` voxels per class, sorted.

    Classes with fewer voxels keep them all; class weights then balance the rest.
    """
    if max_per_class is None:
        return np.arange(flat.size)
    keep = []
    prio = priority(flat, seed)
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        if members.size > max_per_class:
            order = np.argpartition(prio[members], max_per_class - 1)[:max_per_class]
            members = members[order]
        keep.append(members)
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, np.int64)


def _take_block(*blocks: np.ndarray, local: np.ndarray) -> np.ndarray:
    out = np.empty((local.size, len(blocks)), dtype=np.float64)
    for j, b in enumerate(blocks):
        out[:, j] = np.asarray(b).ravel()[local]
    return out


def read_points(
    arrays: Sequence[Any],
    flat: np.ndarray,
    shape: Sequence[int],
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Values of each (Z, Y, X) array at sorted flat indices, as an (N, F) float64 array.

    Only chunks (of the first array's grid) that hold points are read, once each, with all
    arrays' blocks of that chunk in one task.
    """
    shape = tuple(int(s) for s in shape)
    if len(arrays) == 0 or flat.size == 0:
        return np.empty((flat.size, len(arrays)), dtype=np.float64)
    lazy = [a if isinstance(a, da.Array) else da.from_array(a, asarray=True) for a in arrays]
    first = lazy[0]
    lazy = [first] + [a.rechunk(first.chunks) for a in lazy[1:]]
    z, y, x = np.unravel_index(flat, shape)
    bounds = [np.r_[0, np.cumsum(c)] for c in first.chunks]
    bz = np.searchsorted(bounds[0], z, side="right") - 1
    by = np.searchsorted(bounds[1], y, side="right") - 1
    bx = np.searchsorted(bounds[2], x, side="right") - 1
    nb = first.numblocks
    block_of = (bz * nb[1] + by) * nb[2] + bx
    order = np.argsort(block_of, kind="stable")
    sorted_blocks = block_of[order]
    cuts = np.flatnonzero(np.diff(sorted_blocks)) + 1
    groups = np.split(order, cuts)
    # unoptimised: features computed together (one filter group) stay shared between arrays
    delayed = [a.to_delayed(optimize_graph=False) for a in lazy]
    tasks = []
    for members in groups:
        b = int(block_of[members[0]])
        idx = np.unravel_index(b, nb)
        size = tuple(int(first.chunks[a][idx[a]]) for a in range(3))
        local = np.ravel_multi_index(
            (
                z[members] - bounds[0][idx[0]],
                y[members] - bounds[1][idx[1]],
                x[members] - bounds[2][idx[2]],
            ),
            size,
        )
        tasks.append(dask.delayed(_take_block)(*(d[idx] for d in delayed), local=local))
    parts = compute(*tasks, scheduler=scheduler, progress=progress)
    out = np.empty((flat.size, len(arrays)), dtype=np.float64)
    for members, part in zip(groups, parts):
        out[members] = part
    return out


class PointCache:
    """Feature values already read at flat indices, for one fixed list of feature arrays.

    ``key`` identifies the features (e.g. the layers' storage directories); a cache asked for
    another key starts afresh.
    """

    def __init__(self) -> None:
        self.key: Any = None
        self.flat = np.empty(0, np.int64)
        self.rows = np.empty((0, 0), np.float64)

    def read(
        self,
        key: Any,
        arrays: Sequence[Any],
        flat: np.ndarray,
        shape: Sequence[int],
        *,
        scheduler: Scheduler = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, int]:
        """Rows for sorted ``flat``; returns ``(rows, number of voxels read now)``."""
        if key != self.key:
            self.key = key
            self.flat = np.empty(0, np.int64)
            self.rows = np.empty((0, len(arrays)), np.float64)
        pos = np.searchsorted(self.flat, flat)
        if self.flat.size == 0:
            known = np.zeros(flat.size, dtype=bool)
        else:
            known = self.flat[np.minimum(pos, self.flat.size - 1)] == flat
        missing = flat[~known]
        fresh = read_points(arrays, missing, shape, scheduler=scheduler, progress=progress)
        rows = np.empty((flat.size, len(arrays)), np.float64)
        rows[known] = self.rows[pos[known]]
        rows[~known] = fresh
        merged = np.concatenate([self.flat, missing])
        order = np.argsort(merged, kind="stable")
        self.flat = merged[order]
        self.rows = np.concatenate([self.rows, fresh])[order]
        return rows, int(missing.size)
