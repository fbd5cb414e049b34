"""Per-supervoxel statistics of many feature volumes in one chunked pass.

:func:`voxelwise.supervoxels.region_features` measures stored layers one by one; here all the
features of a model are reduced together, one task per chunk receiving the supervoxel block
and every feature block. Features computed on the fly (several outputs of one filter group
share their smoothing) are thus evaluated once per chunk, and only the statistics asked for
are accumulated (sums and sums of squares; minima and maxima only when needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from voxelwise._compute import ProgressCallback, Scheduler, compute

__all__ = ["supervoxel_statistics"]


def _dense_index(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo <= 4 * flat.size + 1024:
        idx = flat.astype(np.int64) - lo
        present = np.bincount(idx, minlength=hi - lo + 1) > 0
        remap = np.cumsum(present) - 1
        return np.flatnonzero(present) + lo, remap[idx]
    ids, inverse = np.unique(flat, return_inverse=True)
    return ids, inverse.ravel()


def _chunk(labels: np.ndarray, *features: np.ndarray, extremes: bool) -> np.ndarray:
    flat = labels.ravel()
    part: dict[str, Any] = {"id": np.empty(0, np.int64)}
    keep = flat != 0
    if keep.any():
        ids, inv = _dense_index(flat[keep])
        k = ids.size
        part["id"] = ids.astype(np.int64)
        part["n"] = np.bincount(inv, minlength=k).astype(np.float64)
        sums, squares, lows, highs = [], [], [], []
        for block in features:
            v = block.ravel()[keep].astype(np.float64)
            sums.append(np.bincount(inv, v, minlength=k))
            squares.append(np.bincount(inv, v * v, minlength=k))
            if extremes:
                lo = np.full(k, np.inf)
                hi = np.full(k, -np.inf)
                np.minimum.at(lo, inv, v)
                np.maximum.at(hi, inv, v)
                lows.append(lo)
                highs.append(hi)
        part["sum"] = np.stack(sums, axis=1) if sums else np.empty((k, 0))
        part["sq"] = np.stack(squares, axis=1) if squares else np.empty((k, 0))
        if extremes:
            part["min"] = np.stack(lows, axis=1) if lows else np.empty((k, 0))
            part["max"] = np.stack(highs, axis=1) if highs else np.empty((k, 0))
    out = np.empty((1, 1, 1), dtype=object)
    out[0, 0, 0] = part
    return out


def supervoxel_statistics(
    supervoxels: Any,
    features: Sequence[Any],
    statistics: Sequence[str] = ("mean", "std"),
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Statistics of every feature over every supervoxel.

    Parameters
    ----------
    supervoxels : (Z, Y, X) integer array
        Ids (0 is ignored).
    features : sequence of (Z, Y, X) arrays
        Real-valued volumes of the same shape (NumPy, dask or zarr).
    statistics : sequence of {"mean", "std", "min", "max"}
        ``std`` is the population standard deviation.

    Returns
    -------
    ids : (n,) int64
        Supervoxel ids, sorted.
    x : (n, F * S) float64
        Column ``f * S + s`` holds statistic ``s`` of feature ``f``.
    size : (n,) int64
        Voxels per supervoxel.
    """
    sv = (
        supervoxels
        if isinstance(supervoxels, da.Array)
        else da.from_array(supervoxels, asarray=True)
    )
    arrays = [
        (f if isinstance(f, da.Array) else da.from_array(f, asarray=True)).rechunk(sv.chunks)
        for f in features
    ]
    for i, f in enumerate(arrays):
        if f.shape != sv.shape:
            raise ValueError(f"Feature #{i} has shape {f.shape}, the supervoxels {sv.shape}")
    extremes = any(s in ("min", "max") for s in statistics)
    parts = da.map_blocks(
        _chunk,
        sv,
        *arrays,
        extremes=extremes,
        dtype=object,
        chunks=tuple((1,) * n for n in sv.numblocks),
        meta=np.empty((0, 0, 0), dtype=object),
        name=f"vw-learn-svstats-{tokenize(sv, *arrays, extremes)}",
    )
    (result,) = compute(parts, scheduler=scheduler, progress=progress)
    chunks = [p for p in np.asarray(result).ravel() if p["id"].size]
    nf = len(arrays)
    if not chunks:
        return np.empty(0, np.int64), np.empty((0, nf * len(statistics))), np.empty(0, np.int64)
    ids, inv = np.unique(np.concatenate([p["id"] for p in chunks]), return_inverse=True)
    inv = inv.ravel()
    k = ids.size
    n = np.bincount(inv, np.concatenate([p["n"] for p in chunks]), minlength=k)

    def total(key: str) -> np.ndarray:
        values = np.concatenate([p[key] for p in chunks])
        return np.stack([np.bincount(inv, values[:, j], minlength=k) for j in range(nf)], axis=1)

    cols: dict[str, np.ndarray] = {}
    mean = total("sum") / n[:, None] if nf else np.empty((k, 0))
    cols["mean"] = mean
    if "std" in statistics:
        cols["std"] = np.sqrt(np.maximum(total("sq") / n[:, None] - mean**2, 0.0))
    for key, fn in (("min", np.minimum), ("max", np.maximum)):
        if key in statistics:
            values = np.concatenate([p[key] for p in chunks])
            acc = np.full((k, nf), np.inf if key == "min" else -np.inf)
            fn.at(acc, inv, values)
            cols[key] = acc
    x = np.empty((k, nf * len(statistics)))
    for s, stat in enumerate(statistics):
        x[:, s :: len(statistics)] = cols[stat]
    return ids.astype(np.int64), x, n.astype(np.int64)
