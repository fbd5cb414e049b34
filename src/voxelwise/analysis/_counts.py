"""Voxel counts of value pairs (truth x prediction, region x class), per chunk and combined."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler

__all__ = ["Cross", "cross_counts", "pair_table"]

# (a values, b values, counts) of the distinct pairs present, as three equal-length arrays
Cross = tuple[np.ndarray, np.ndarray, np.ndarray]


def _distinct(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of a 1D array and each element's index among them."""
    if x.size and x.dtype.kind in "iub":
        lo, hi = int(x.min()), int(x.max())
        if hi - lo <= 4 * x.size + 1024:  # dense range: counting beats sorting
            shifted = (x.astype(np.int64) - lo).astype(np.intp)
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            rank = np.cumsum(present) - 1
            return (np.flatnonzero(present) + lo).astype(np.int64), rank[shifted]
    values, inverse = np.unique(x, return_inverse=True)
    return values.astype(np.int64), inverse.ravel()


def _chunk_pairs(a: np.ndarray, b: np.ndarray, *, ignore: np.ndarray, skip_zero: bool) -> Cross:
    keep = np.ones(a.shape, dtype=bool)
    if ignore.size:
        keep &= ~np.isin(a, ignore)
    if skip_zero:
        keep &= (a != 0) | (b != 0)
    av, bv = a[keep], b[keep]
    if av.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    a_ids, a_inv = _distinct(av)
    b_ids, b_inv = _distinct(bv)
    code = a_inv.astype(np.int64) * b_ids.size + b_inv
    if a_ids.size * b_ids.size <= 4 * code.size + 1024:
        counts = np.bincount(code, minlength=a_ids.size * b_ids.size)
        present = np.flatnonzero(counts)
        codes, n = present, counts[present]
    else:
        codes, n = np.unique(code, return_counts=True)
    return a_ids[codes // b_ids.size], b_ids[codes % b_ids.size], n.astype(np.int64)


def _combine(parts: list[Cross]) -> Cross:
    a = np.concatenate([p[0] for p in parts] + [np.empty(0, np.int64)])
    b = np.concatenate([p[1] for p in parts] + [np.empty(0, np.int64)])
    n = np.concatenate([p[2] for p in parts] + [np.empty(0, np.int64)])
    if a.size == 0:
        return a, b, n
    pairs, inverse = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), n, minlength=len(pairs)).astype(np.int64)
    return pairs[:, 0], pairs[:, 1], counts


def cross_counts(
    a: da.Array,
    b: da.Array,
    *,
    ignore: Any = None,
    skip_zero: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Cross:
    """Counts of every (a value, b value) pair over two equally chunked arrays.

    Voxels where ``a`` is in ``ignore`` are left out; with ``skip_zero``, so are voxels where
    both are 0. Memory: the distinct pairs of one chunk, then of the whole volume.
    """
    ign = np.atleast_1d(np.asarray([] if ignore is None else ignore, dtype=np.int64))
    tasks = [
        dask.delayed(_chunk_pairs)(x, y, ignore=ign, skip_zero=skip_zero)
        for x, y in zip(a.to_delayed().ravel(), b.to_delayed().ravel())
    ]
    parts = _compute.compute(*tasks, scheduler=scheduler, progress=progress)
    return _combine(list(parts))


def pair_table(cross: Cross) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dense matrix of a :data:`Cross`: (a values, b values, counts[a index, b index])."""
    a, b, n = cross
    a_ids, b_ids = np.unique(a), np.unique(b)
    matrix = np.zeros((a_ids.size, b_ids.size), dtype=np.int64)
    np.add.at(matrix, (np.searchsorted(a_ids, a), np.searchsorted(b_ids, b)), n)
    return a_ids, b_ids, matrix
