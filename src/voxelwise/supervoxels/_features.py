"""Per-region statistics of feature layers, chunk by chunk: size, centroid, mean, std, min, max."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.supervoxels._segment import as_volume
from voxelwise.supervoxels._table import RegionTable

__all__ = ["STATISTICS", "region_features"]

STATISTICS = ("mean", "std", "min", "max")


def _parse_features(features: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    if features is None:
        return {}
    if not isinstance(features, Mapping):
        features = {"image": features}
    out = {}
    for name, arr in features.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"Expected feature names as non-empty strings, got {name!r} instead")
        if not hasattr(arr, "shape") or tuple(int(s) for s in arr.shape) != shape:
            got = tuple(arr.shape) if hasattr(arr, "shape") else type(arr).__name__
            raise ValueError(
                f"Expected feature {name!r} of the labels' shape {shape} (z, y, x), got {got} "
                "instead; every feature must match the labels voxel for voxel"
            )
        if np.dtype(arr.dtype).kind not in "biuf":
            raise TypeError(f"Expected a real-valued feature {name!r}, got dtype {arr.dtype}")
        out[name] = arr
    return out


def _index(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, inverse): the distinct non-negative ids of ``flat`` and each voxel's position."""
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo <= 4 * flat.size + 1024:  # dense range: no sort needed
        idx = flat.astype(np.int64) - lo
        present = np.bincount(idx, minlength=hi - lo + 1) > 0
        remap = np.cumsum(present) - 1
        return np.flatnonzero(present) + lo, remap[idx]
    ids, inverse = np.unique(flat, return_inverse=True)
    return ids, inverse.ravel()


def _chunk_stats(
    labels: np.ndarray, *features: np.ndarray, origin: tuple[int, int, int]
) -> dict[str, np.ndarray]:
    """Per-id count, coordinate sums and per-feature sum, M2, min, max of one chunk (0 skipped)."""
    flat = labels.ravel()
    out: dict[str, np.ndarray] = {}
    if flat.size == 0 or not flat.any():
        out["id"] = np.empty(0, dtype=np.int64)
        return out
    ids, inv = _index(flat)
    keep = ids != 0
    k = ids.size
    count = np.bincount(inv, minlength=k).astype(np.float64)
    out["id"] = ids[keep]
    out["n"] = count[keep]
    shape = labels.shape
    for axis, name in enumerate("zyx"):
        # sum of coordinates per id = sum over planes of (coordinate x voxels of the id there)
        plane = np.arange(shape[axis], dtype=np.float64) + origin[axis]
        view = [1, 1, 1]
        view[axis] = shape[axis]
        coord = np.broadcast_to(plane.reshape(view), shape).ravel()
        out[f"sum_{name}"] = np.bincount(inv, coord, minlength=k)[keep]
    safe = np.maximum(count, 1)
    for i, block in enumerate(features):
        v = block.ravel().astype(np.float64)
        total = np.bincount(inv, v, minlength=k)
        mean = total / safe
        m2 = np.bincount(inv, (v - mean[inv]) ** 2, minlength=k)
        lo = np.full(k, np.inf)
        hi = np.full(k, -np.inf)
        np.minimum.at(lo, inv, v)
        np.maximum.at(hi, inv, v)
        out[f"sum{i}"] = total[keep]
        out[f"m2{i}"] = m2[keep]
        out[f"min{i}"] = lo[keep]
        out[f"max{i}"] = hi[keep]
    return out


def _combine(
    parts: list[dict[str, np.ndarray]], names: list[str], id_dtype: np.dtype
) -> RegionTable:
    """Merge per-chunk statistics of ids that span several chunks (Chan et al. for M2)."""
    parts = [p for p in parts if p["id"].size]
    cols: dict[str, np.ndarray] = {}
    if not parts:
        cols = {"id": np.empty(0, id_dtype), "size": np.empty(0, np.int64)}
        for axis in "zyx":
            cols[f"centroid_{axis}"] = np.empty(0)
        for name in names:
            for stat in STATISTICS:
                cols[f"{name}_{stat}"] = np.empty(0)
        return RegionTable(cols)

    def cat(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts])

    all_ids = cat("id")
    ids, inv = np.unique(all_ids, return_inverse=True)
    inv = inv.ravel()
    k = ids.size
    n_i = cat("n")
    n = np.bincount(inv, n_i, minlength=k)
    cols["id"] = ids.astype(id_dtype)
    cols["size"] = n.astype(np.int64)
    for axis in "zyx":
        cols[f"centroid_{axis}"] = np.bincount(inv, cat(f"sum_{axis}"), minlength=k) / n
    for i, name in enumerate(names):
        s_i = cat(f"sum{i}")
        mean = np.bincount(inv, s_i, minlength=k) / n
        mean_i = s_i / n_i
        m2 = np.bincount(inv, cat(f"m2{i}") + n_i * (mean_i - mean[inv]) ** 2, minlength=k)
        lo = np.full(k, np.inf)
        hi = np.full(k, -np.inf)
        np.minimum.at(lo, inv, cat(f"min{i}"))
        np.maximum.at(hi, inv, cat(f"max{i}"))
        cols[f"{name}_mean"] = mean
        cols[f"{name}_std"] = np.sqrt(np.maximum(m2 / n, 0.0))
        cols[f"{name}_min"] = lo
        cols[f"{name}_max"] = hi
    return RegionTable(cols)


def region_features(
    labels: Any,
    features: Any = None,
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> RegionTable:
    """Size, centroid and mean, std, min and max of each feature, per labelled region.

    Works chunk by chunk: each chunk gives per-id partial sums, which are merged, so a region
    may span any number of chunks and memory stays O(number of regions), never O(voxels).

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        NumPy, dask or zarr array; 0 is background and gets no row.
    features : (Z, Y, X) array or dict of str to (Z, Y, X) arrays, optional
        Real-valued layers of the labels' shape; a single array is named ``"image"``.
    scheduler, progress
        Where to run and ``progress(done, total)``; see :func:`voxelwise.blockwise.compute`.

    Returns
    -------
    RegionTable
        One row per id, sorted by id. Columns: ``id``; ``size`` (voxels); ``centroid_z``,
        ``centroid_y``, ``centroid_x`` (mean voxel index; multiply by the spacing for physical
        units); and for each feature ``NAME``: ``NAME_mean``, ``NAME_std`` (population, like
        ``numpy.std``), ``NAME_min``, ``NAME_max``, as float64. NaN in a feature makes that
        region's statistics NaN.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[[1, 1, 2, 0]]])
    >>> table = region_features(labels, {"raw": np.array([[[1.0, 3.0, 5.0, 7.0]]])})
    >>> table["id"].tolist(), table["size"].tolist(), table["raw_mean"].tolist()
    ([1, 2], [2, 1], [2.0, 5.0])
    """
    arr = as_volume(labels, what="labels")
    if arr.dtype.kind not in "iub":
        raise TypeError(
            f"Expected integer labels, got dtype {arr.dtype} instead; cast them first, e.g. "
            "labels.astype('uint32')"
        )
    shape = tuple(int(s) for s in arr.shape)
    feats = _parse_features(features, shape)
    feature_arrays = [
        (
            f if isinstance(f, da.Array) else da.from_array(f, chunks=arr.chunks, asarray=True)
        ).rechunk(arr.chunks)
        for f in feats.values()
    ]
    starts = [np.r_[0, np.cumsum(c)[:-1]] for c in arr.chunks]
    blocks = [a.to_delayed() for a in (arr, *feature_arrays)]
    tasks = []
    for idx in np.ndindex(*arr.numblocks):
        origin = tuple(int(starts[axis][i]) for axis, i in enumerate(idx))
        tasks.append(dask.delayed(_chunk_stats)(*(b[idx] for b in blocks), origin=origin))
    parts = list(_compute.compute(*tasks, scheduler=scheduler, progress=progress))
    id_dtype = arr.dtype if arr.dtype.kind == "u" else np.dtype(np.int64)
    return _combine(parts, list(feats), id_dtype)
