"""Coarse features made fine again: large-scale filters on a pyramid level, interpolated back.

A feature with a large ``sigma`` varies slowly, so it can be computed on the image's first
pyramid level (half the voxels along the halved axes, so up to 8 times fewer voxels and half
the kernel length) and interpolated back to full resolution with little error. Recipes mark such
features with ``"level": 1`` and the per-axis ``"factors"``; their parameters are those of the
coarse level (sigma divided by the change of the finest voxel size, the coarse voxel size), so
the filter covers the same physical extent.

The level is the workspace's own pyramid level of the source (block means, see
:func:`voxelwise.io._ngff.downsample`), or the same downsampling of an array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.array.overlap import overlap
from dask.base import tokenize

__all__ = ["MIN_COARSE_SIGMA", "coarse_entry", "downsampled", "upsample"]

#: Features with sigma at least this (in finest voxels) may be computed one level coarser.
MIN_COARSE_SIGMA = 4.0


def coarse_entry(
    entry: dict[str, Any],
    shape: Sequence[int],
    coarse_shape: Sequence[int],
    spacing: Sequence[float],
    coarse_spacing: Sequence[float],
) -> dict[str, Any] | None:
    """The recipe entry of a filter feature computed on the coarser level, or None when the
    feature is not a large-scale one (or the level does not halve any axis)."""
    params = dict(entry.get("params") or {})
    sigma = params.get("sigma")
    if not isinstance(sigma, int | float) or float(sigma) < MIN_COARSE_SIGMA:
        return None
    factors = [round(n / c) for n, c in zip(shape, coarse_shape)]
    if not any(f == 2 for f in factors) or any(f not in (1, 2) for f in factors):
        return None
    if any(-(-n // f) != c for n, f, c in zip(shape, factors, coarse_shape)):
        return None
    params["sigma"] = float(sigma) * min(spacing) / min(coarse_spacing)
    params["spacing"] = [float(s) for s in coarse_spacing]
    return {
        **entry,
        "name": f"{entry['name']}_l1",
        "params": params,
        "level": 1,
        "factors": factors,
    }


def downsampled(image: da.Array, factors: Sequence[int]) -> da.Array:
    """The first pyramid level of ``image`` as a workspace stores it (block mean, dtype kept)."""
    from voxelwise.io._ngff import downsample

    return downsample(image, factors)


def _upsample_block(block: np.ndarray, *, factors: Sequence[int]) -> np.ndarray:
    """Linear interpolation by 2 along the axes with factor 2; ``block`` carries one voxel of
    context on each side of those axes. A coarse voxel i covers fine voxels 2i and 2i + 1, so
    fine 2i = 3/4 c[i] + 1/4 c[i-1] and fine 2i + 1 = 3/4 c[i] + 1/4 c[i+1]."""
    out = block.astype(np.float32, copy=False)
    for axis, f in enumerate(factors):
        if f != 2:
            continue
        n = out.shape[axis] - 2
        centre = np.take(out, np.arange(1, n + 1), axis=axis)
        before = np.take(out, np.arange(0, n), axis=axis)
        after = np.take(out, np.arange(2, n + 2), axis=axis)
        shape = list(centre.shape)
        shape[axis] = 2 * n
        fine = np.empty(shape, dtype=np.float32)
        even = [slice(None)] * 3
        odd = [slice(None)] * 3
        even[axis] = slice(0, None, 2)
        odd[axis] = slice(1, None, 2)
        fine[tuple(even)] = 0.75 * centre + 0.25 * before
        fine[tuple(odd)] = 0.75 * centre + 0.25 * after
        out = fine
    return out


def upsample(
    coarse: da.Array, factors: Sequence[int], shape: Sequence[int], chunks: Any
) -> da.Array:
    """Interpolate a coarse-level (Z, Y, X) array back to the full ``shape``, lazily.

    Each coarse chunk, with one voxel of its neighbours (edge values at the border), becomes
    ``factors`` times as large; the result is cropped to ``shape`` and rechunked to ``chunks``.
    """
    depth = {a: (1 if f == 2 else 0) for a, f in enumerate(factors)}
    extended = overlap(coarse, depth=depth, boundary="nearest")
    out_chunks = tuple(tuple(f * c for c in cs) for f, cs in zip(factors, coarse.chunks))
    fine = da.map_blocks(
        _upsample_block,
        extended,
        factors=tuple(int(f) for f in factors),
        chunks=out_chunks,
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
        name=f"vw-learn-upsample-{tokenize(extended, tuple(factors))}",
    )
    fine = fine[tuple(slice(0, int(n)) for n in shape)]
    return fine.rechunk(chunks)
