"""Intensity statistics of a layer, computed chunk by chunk (one or two passes over the data).

- Integers up to 16 bits (and bool): one pass of per-chunk ``bincount`` histograms over the
  dtype's full range, summed by a dask tree reduction; everything, percentiles included, is exact.
- Wider integers: a first pass finds min, max and sum; when ``max - min`` is below
  ``EXACT_INT_RANGE`` a second pass of offset histograms keeps percentiles exact, otherwise they
  come from a ``FLOAT_BINS``-bin histogram between min and max, like floats.
- Floats: a first pass finds the finite min, max, sum and counts NaN/inf; a second pass adds a
  histogram between min and max and the centred sum of squares (numerically stable std).
  Percentiles are accurate to one histogram bin, ``(max - min) / FLOAT_BINS``.

NaN and infinite voxels are left out of every statistic and counted (``nan_count``,
``inf_count``). Percentiles follow NumPy's default (``method="linear"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, compute

__all__ = ["EXACT_INT_RANGE", "FLOAT_BINS", "PERCENTILES", "compute_stats", "stats_passes"]

PERCENTILES = (0.1, 1.0, 50.0, 99.0, 99.9)
EXACT_INT_RANGE = 1 << 20
FLOAT_BINS = 1 << 16


def _is_small_int(dtype: np.dtype) -> bool:
    return dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 2)


def stats_passes(dtype: Any) -> int:
    """How many passes over the data :func:`compute_stats` makes for ``dtype``."""
    return 1 if _is_small_int(np.dtype(dtype)) else 2


def _per_block(
    image: da.Array, func: Callable[..., np.ndarray], length: int, **kw: Any
) -> da.Array:
    """Map ``func(block) -> (length,)`` over blocks; result shape (*numblocks, length)."""

    def wrapped(block: np.ndarray) -> np.ndarray:
        return func(block, **kw).reshape((1,) * block.ndim + (length,))

    chunks = (*((1,) * n for n in image.numblocks), (length,))
    return da.map_blocks(
        wrapped,
        image,
        dtype=np.float64,
        chunks=chunks,
        new_axis=[image.ndim],
        meta=np.empty((0,) * (image.ndim + 1), dtype=np.float64),
    )


def _bincount_block(block: np.ndarray, *, lo: int, nbins: int) -> np.ndarray:
    shifted = block.astype(np.int64, copy=False).ravel() - lo
    return np.bincount(shifted, minlength=nbins).astype(np.float64)


def _moments_block(block: np.ndarray) -> np.ndarray:
    """[finite count, finite sum, finite min, finite max, nan, +inf, -inf] of one block."""
    if block.dtype.kind == "f":
        x = block.astype(np.float64, copy=False)
        finite = np.isfinite(x)
        vals = x[finite]
        nan = float(np.count_nonzero(np.isnan(x)))
        pinf = float(np.count_nonzero(np.isposinf(x)))
        ninf = float(np.count_nonzero(np.isneginf(x)))
    else:
        vals = block.astype(np.float64, copy=False).ravel()
        nan = pinf = ninf = 0.0
    if vals.size == 0:
        return np.array([0.0, 0.0, np.inf, -np.inf, nan, pinf, ninf])
    return np.array([vals.size, vals.sum(), vals.min(), vals.max(), nan, pinf, ninf])


def _hist_block(
    block: np.ndarray, *, lo: float, width: float, nbins: int, mean: float
) -> np.ndarray:
    """[histogram of finite values between lo and lo + nbins * width ..., centred sum of squares]."""
    x = block.astype(np.float64, copy=False).ravel()
    if block.dtype.kind == "f":
        x = x[np.isfinite(x)]
    out = np.zeros(nbins + 1)
    if x.size:
        if width > 0:
            idx = np.clip(np.floor((x - lo) / width), 0, nbins - 1).astype(np.int64)
        else:
            idx = np.zeros(x.size, dtype=np.int64)
        out[:nbins] = np.bincount(idx, minlength=nbins)
        out[nbins] = np.square(x - mean).sum()
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """NumPy's interpolation formula (``numpy.lib._function_base_impl._lerp``), bit for bit."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def _percentiles_exact(hist: np.ndarray, lo: int) -> dict[str, float]:
    cum = np.cumsum(hist)
    n = int(cum[-1])

    def value(rank: int) -> float:
        return float(lo + int(np.searchsorted(cum, rank, side="right")))

    return {_pkey(q): _interp(n, q, value) for q in PERCENTILES}


def _percentiles_binned(
    hist: np.ndarray, lo: float, width: float, vmin: float, vmax: float
) -> dict[str, float]:
    cum = np.cumsum(hist)
    n = int(cum[-1])

    def value(rank: int) -> float:
        if rank <= 0:
            return vmin
        if rank >= n - 1:
            return vmax
        b = int(np.searchsorted(cum, rank, side="right"))
        before = cum[b] - hist[b]
        est = lo + width * (b + (rank - before + 0.5) / hist[b])
        return float(min(max(est, vmin), vmax))

    return {_pkey(q): _interp(n, q, value) for q in PERCENTILES}


def _interp(n: int, q: float, value: Callable[[int], float]) -> float:
    virtual = (n - 1) * (q / 100.0)
    prev = math.floor(virtual)
    gamma = virtual - prev
    a = value(prev)
    b = value(min(prev + 1, n - 1))
    return _lerp(a, b, gamma)


def _pkey(q: float) -> str:
    return f"{q:g}"


def _empty_stats(nan: int, inf: int, size: int) -> dict[str, Any]:
    return {
        "count": 0,
        "size": size,
        "nan_count": nan,
        "inf_count": inf,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "percentiles": {_pkey(q): None for q in PERCENTILES},
        "exact_percentiles": True,
    }


def _stats_from_exact_hist(hist: np.ndarray, lo: int, size: int) -> dict[str, Any]:
    nz = np.flatnonzero(hist)
    values = lo + np.arange(hist.size, dtype=np.float64)
    n = float(hist.sum())
    mean = float((hist * values).sum() / n)
    var = float((hist * np.square(values - mean)).sum() / n)
    return {
        "count": int(n),
        "size": size,
        "nan_count": 0,
        "inf_count": 0,
        "min": int(lo + nz[0]),
        "max": int(lo + nz[-1]),
        "mean": mean,
        "std": math.sqrt(var),
        "percentiles": _percentiles_exact(hist, lo),
        "exact_percentiles": True,
    }


def compute_stats(
    image: da.Array,
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Statistics of ``image`` over its finite voxels, computed chunk by chunk.

    Parameters
    ----------
    image : (Z, Y, X) dask array
        Any real dtype (bool counts as 0/1).
    scheduler, progress
        See :mod:`voxelwise._compute`. ``progress(done, total)`` counts blocks per pass.

    Returns
    -------
    dict
        ``count`` (finite voxels), ``size``, ``nan_count``, ``inf_count``, ``min``, ``max``,
        ``mean``, ``std`` (population), ``percentiles`` (keys ``"0.1"``, ``"1"``, ``"50"``,
        ``"99"``, ``"99.9"``) and ``exact_percentiles``. Values are None without finite voxels.
    """
    dtype = np.dtype(image.dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"Expected a real numeric layer, got dtype {dtype} instead")
    if dtype.kind == "b":
        image = image.astype(np.uint8)
        dtype = np.dtype(np.uint8)
    size = int(np.prod(image.shape))
    blocks = int(np.prod(image.numblocks))
    npasses = stats_passes(dtype)

    last = [0]

    def tell(done: int) -> None:
        if progress is not None and done > last[0]:
            last[0] = done
            progress(done, npasses * blocks)

    def run(pass_index: int, *arrays: da.Array) -> tuple[Any, ...]:
        def report(done: int, total: int) -> None:
            tell(pass_index * blocks + min(blocks, done * blocks // max(total, 1)))

        out = compute(*arrays, scheduler=scheduler, progress=report if progress else None)
        tell((pass_index + 1) * blocks)
        return out

    if _is_small_int(dtype):
        info = np.iinfo(dtype)
        nbins = int(info.max) - int(info.min) + 1
        per = _per_block(image, _bincount_block, nbins, lo=int(info.min), nbins=nbins)
        (hist,) = run(0, per.sum(axis=tuple(range(image.ndim))))
        return _stats_from_exact_hist(np.asarray(hist), int(info.min), size)

    per = _per_block(image, _moments_block, 7)
    axes = tuple(range(image.ndim))
    is_int = dtype.kind in "iu"
    n, total, vmin, vmax, nan, pinf, ninf, *exact = run(
        0,
        per[..., 0].sum(axis=axes),
        per[..., 1].sum(axis=axes),
        per[..., 2].min(axis=axes),
        per[..., 3].max(axis=axes),
        per[..., 4].sum(axis=axes),
        per[..., 5].sum(axis=axes),
        per[..., 6].sum(axis=axes),
        *((image.min(), image.max()) if is_int else ()),
    )
    n, nan_count, inf_count = int(n), int(nan), int(pinf) + int(ninf)
    if n == 0:
        tell(npasses * blocks)
        return _empty_stats(nan_count, inf_count, size)
    vmin_i = vmax_i = 0
    if is_int:  # min and max in the integer dtype: float64 is not exact beyond 2**53
        vmin_i, vmax_i = int(exact[0]), int(exact[1])
        if vmax_i - vmin_i < EXACT_INT_RANGE:
            nbins = vmax_i - vmin_i + 1
            per = _per_block(image, _bincount_block, nbins, lo=vmin_i, nbins=nbins)
            (hist,) = run(1, per.sum(axis=axes))
            return _stats_from_exact_hist(np.asarray(hist), vmin_i, size)
    mean = float(total) / n
    lo, hi = float(vmin), float(vmax)
    width = (hi - lo) / FLOAT_BINS
    per = _per_block(
        image, _hist_block, FLOAT_BINS + 1, lo=lo, width=width, nbins=FLOAT_BINS, mean=mean
    )
    (acc,) = run(1, per.sum(axis=axes))
    acc = np.asarray(acc)
    hist, m2 = acc[:FLOAT_BINS], float(acc[FLOAT_BINS])
    out_min: float | int = lo
    out_max: float | int = hi
    if is_int:
        out_min, out_max = vmin_i, vmax_i
    return {
        "count": n,
        "size": size,
        "nan_count": nan_count,
        "inf_count": inf_count,
        "min": out_min,
        "max": out_max,
        "mean": mean,
        "std": math.sqrt(max(m2, 0.0) / n),
        "percentiles": _percentiles_binned(hist, lo, width, lo, hi),
        "exact_percentiles": False,
    }
