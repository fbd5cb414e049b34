"""Per-object partial sums of one chunk, and their combination over chunks.

Each chunk gives, for every id it holds: the voxel count, the mean and the scatter matrix (sum
of outer products about the mean) of the voxel coordinates, the bounding box, and for every
intensity layer the mean, the sum of squared deviations, the minimum and the maximum. Partial
results are combined with the parallel formulas of Chan et al. (exact, and stable for large
coordinates), so memory is O(objects x chunks they touch), never O(voxels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.analysis._arrays import distinct_nonzero

__all__ = ["Moments", "chunk_moments", "combine_moments"]

_SLAB_VOXELS = 1 << 20  # process a chunk in z-slabs of about this many voxels
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))

Moments = dict[str, np.ndarray]


def _empty(n_layers: int) -> Moments:
    out: Moments = {
        "id": np.empty(0, np.int64),
        "n": np.empty(0, np.float64),
        "mean": np.empty((0, 3)),
        "scatter": np.empty((0, 6)),
        "lo": np.empty((0, 3), np.int64),
        "hi": np.empty((0, 3), np.int64),
    }
    for i in range(n_layers):
        out[f"mean{i}"] = out[f"m2_{i}"] = out[f"min{i}"] = out[f"max{i}"] = np.empty(0)
    return out


def chunk_moments(labels: np.ndarray, *layers: np.ndarray, origin: tuple[int, ...]) -> Moments:
    """Partial moments of every non-zero id of one chunk (coordinates are global voxel indices)."""
    ids = distinct_nonzero(labels)
    k = ids.size
    if k == 0:
        return _empty(len(layers))
    n = np.zeros(k)
    s1 = np.zeros((k, 3))
    s2 = np.zeros((k, 6))
    lo = np.full((k, 3), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full((k, 3), -1, dtype=np.int64)
    shift = [float(layer.flat[0]) for layer in layers]  # shifted sums keep precision
    t1 = [np.zeros(k) for _ in layers]
    t2 = [np.zeros(k) for _ in layers]
    tmin = [np.full(k, np.inf) for _ in layers]
    tmax = [np.full(k, -np.inf) for _ in layers]
    nz, ny, nx = labels.shape
    step = max(1, _SLAB_VOXELS // max(ny * nx, 1))
    for z0 in range(0, nz, step):
        slab = labels[z0 : z0 + step]
        flat = slab.ravel()
        sel = np.flatnonzero(flat)
        if sel.size == 0:
            continue
        inv = np.searchsorted(ids, flat[sel])
        coords = np.unravel_index(sel, slab.shape)
        c = [coords[0] + z0, coords[1], coords[2]]  # chunk-local: small numbers
        n += np.bincount(inv, minlength=k)
        for a in range(3):
            s1[:, a] += np.bincount(inv, c[a], minlength=k)
            np.minimum.at(lo[:, a], inv, c[a])
            np.maximum.at(hi[:, a], inv, c[a])
        for p, (a, b) in enumerate(_PAIRS):
            s2[:, p] += np.bincount(inv, c[a] * c[b], minlength=k)
        for i, layer in enumerate(layers):
            v = layer[z0 : z0 + step].ravel()[sel].astype(np.float64)
            np.minimum.at(tmin[i], inv, v)
            np.maximum.at(tmax[i], inv, v)
            v -= shift[i]
            t1[i] += np.bincount(inv, v, minlength=k)
            t2[i] += np.bincount(inv, v * v, minlength=k)
    mean_local = s1 / n[:, None]
    scatter = np.empty((k, 6))
    for p, (a, b) in enumerate(_PAIRS):
        scatter[:, p] = s2[:, p] - n * mean_local[:, a] * mean_local[:, b]
    out: Moments = {
        "id": ids.astype(np.int64),
        "n": n,
        "mean": mean_local + np.asarray(origin, dtype=np.float64),
        "scatter": scatter,
        "lo": lo + np.asarray(origin, dtype=np.int64),
        "hi": hi + np.asarray(origin, dtype=np.int64) + 1,  # half-open
    }
    for i in range(len(layers)):
        local_mean = t1[i] / n
        out[f"mean{i}"] = local_mean + shift[i]
        out[f"m2_{i}"] = np.maximum(t2[i] - n * local_mean**2, 0.0)
        out[f"min{i}"] = tmin[i]
        out[f"max{i}"] = tmax[i]
    return out


def combine_moments(parts: list[Moments], n_layers: int) -> Moments:
    """Merge the partial moments of ids that appear in several chunks (sorted by id)."""
    parts = [p for p in parts if p["id"].size]
    if not parts:
        return _empty(n_layers)

    def cat(key: str) -> Any:
        return np.concatenate([p[key] for p in parts])

    ids, inv = np.unique(cat("id"), return_inverse=True)
    inv = inv.ravel()
    k = ids.size
    n_i = cat("n")
    n = np.bincount(inv, n_i, minlength=k)
    mean_i = cat("mean")
    sums = np.stack([np.bincount(inv, n_i * mean_i[:, a], minlength=k) for a in range(3)], 1)
    mean = sums / n[:, None]
    d = mean_i - mean[inv]
    scatter_i = cat("scatter")
    scatter = np.stack(
        [
            np.bincount(inv, scatter_i[:, p] + n_i * d[:, a] * d[:, b], minlength=k)
            for p, (a, b) in enumerate(_PAIRS)
        ],
        1,
    )
    lo = np.full((k, 3), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full((k, 3), -1, dtype=np.int64)
    lo_i, hi_i = cat("lo"), cat("hi")
    for a in range(3):
        np.minimum.at(lo[:, a], inv, lo_i[:, a])
        np.maximum.at(hi[:, a], inv, hi_i[:, a])
    out: Moments = {"id": ids, "n": n, "mean": mean, "scatter": scatter, "lo": lo, "hi": hi}
    for i in range(n_layers):
        m_i = cat(f"mean{i}")
        m = np.bincount(inv, n_i * m_i, minlength=k) / n
        out[f"mean{i}"] = m
        out[f"m2_{i}"] = np.bincount(inv, cat(f"m2_{i}") + n_i * (m_i - m[inv]) ** 2, minlength=k)
        vmin = np.full(k, np.inf)
        vmax = np.full(k, -np.inf)
        np.minimum.at(vmin, inv, cat(f"min{i}"))
        np.maximum.at(vmax, inv, cat(f"max{i}"))
        out[f"min{i}"] = vmin
        out[f"max{i}"] = vmax
    return out
