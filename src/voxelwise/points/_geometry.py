"""Ellipsoids at points, and painting objects into a label volume chunk by chunk.

An ellipsoid has diameters ``size`` (physical units) along its own three axes; its first axis
points along ``orientation`` (a (z, y, x) vector; or a full 3 x 3 rotation whose columns are
the axes). A voxel at offset ``d`` (voxels) from the centre is inside when ``d^T Q d <= 1``
with ``Q = S R D^-2 R^T S`` (S: spacing, R: axes, D: semi-axes). Where objects overlap, a
voxel goes to the object whose centre is nearest in that metric.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._validate import parse_chunks, parse_spacing
from voxelwise.points._errors import PointsError
from voxelwise.points._points import Points

__all__ = ["VALUES", "Ellipsoids", "ellipsoids", "paint", "parse_orientation"]

VALUES = ("class", "id")


@dataclass(frozen=True, eq=False)
class Ellipsoids:
    """``centres`` (N, 3) voxels, ``metrics`` (N, 3, 3) ``Q``, ``half`` (N, 3) half-extents in
    voxels, ``values`` (N,) the label each paints."""

    centres: np.ndarray
    metrics: np.ndarray
    half: np.ndarray
    values: np.ndarray

    def boxes(self, shape: Sequence[int], margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Each ellipsoid's box ``[lo, hi)`` grown by ``margin`` x its half-extents, clipped."""
        reach = self.half * (1.0 + margin)
        lo = np.floor(self.centres - reach).astype(np.int64)
        hi = np.ceil(self.centres + reach).astype(np.int64) + 1
        return np.maximum(lo, 0), np.minimum(hi, np.asarray(shape, dtype=np.int64))


def parse_orientation(orientation: Any) -> np.ndarray:
    """A 3 x 3 rotation (columns: the ellipsoid's axes in (z, y, x)) from None, a vector or a
    matrix."""
    if orientation is None:
        return np.eye(3)
    arr = np.asarray(orientation, dtype=np.float64)
    if arr.shape == (3,):
        norm = float(np.linalg.norm(arr))
        if not np.isfinite(norm) or norm == 0:
            raise PointsError(
                f"Expected a non-zero orientation vector (z, y, x), got {orientation!r}"
            )
        first = arr / norm
        helper = np.eye(3)[int(np.argmin(np.abs(first)))]
        second = helper - first * float(helper @ first)
        second /= np.linalg.norm(second)
        return np.stack([first, second, np.cross(first, second)], axis=1)
    if arr.shape == (3, 3) and np.allclose(arr.T @ arr, np.eye(3), atol=1e-6):
        return arr
    raise PointsError(
        f"Expected orientation as None, a (z, y, x) vector or a 3 x 3 rotation matrix, got "
        f"{orientation!r} instead"
    )


def _diameters(points: Points, size: Any, aspect: Any) -> np.ndarray:
    n = len(points)
    if size is None:
        if points.sizes is None:
            raise PointsError(
                "The points have no size column: give size= (a diameter, or three diameters "
                "along the ellipsoid's axes, in physical units)"
            )
        ratio = np.asarray(aspect, dtype=np.float64).reshape(-1)
        if ratio.size != 3 or not (ratio > 0).all():
            raise PointsError(f"Expected aspect as three ratios > 0, got {aspect!r}")
        return points.sizes[:, None] * (ratio / ratio.max())[None, :]
    if isinstance(size, numbers.Real) and not isinstance(size, bool):
        d = np.full((n, 3), float(size))
    else:
        values = np.asarray(size, dtype=np.float64).reshape(-1)
        if values.size != 3:
            raise PointsError(f"Expected size as one diameter or three, got {size!r} instead")
        d = np.tile(values, (n, 1))
    if not (np.isfinite(d) & (d > 0)).all():
        raise PointsError(f"Expected diameters > 0, got {size!r} instead")
    return d


def ellipsoids(
    points: Points,
    *,
    size: Any = None,
    aspect: Any = (1.0, 1.0, 1.0),
    orientation: Any = None,
    spacing: Any = None,
    values: str = "class",
) -> Ellipsoids:
    """The ellipsoid of every point.

    Parameters
    ----------
    size : float or (3,) floats, optional
        Diameters in physical units (one for a ball, or three along the ellipsoid's axes, the
        first along ``orientation``). Default: each point's ``size`` (a diameter) shaped by
        ``aspect``.
    aspect : (3,) floats
        Axis ratios applied to the points' own sizes (the largest is the size).
    orientation : None, (3,) or (3, 3)
        See :func:`parse_orientation`.
    spacing : float or (3,) floats, optional
        Voxel size (z, y, x); default 1.
    values : {"class", "id"}
        Paint each point's class or its id.
    """
    if values not in VALUES:
        raise PointsError(f"Expected values as one of {', '.join(VALUES)}, got {values!r}")
    sp = np.asarray((1.0, 1.0, 1.0) if spacing is None else parse_spacing(spacing))
    rot = parse_orientation(orientation)
    semi = _diameters(points, size, aspect) / 2.0
    # Q = S R diag(1/semi^2) R^T S, per point
    inv = 1.0 / semi**2
    q = np.einsum("ij,nj,kj->nik", rot, inv, rot)
    metrics = q * sp[None, :, None] * sp[None, None, :]
    # half-extent along axis i (physical): sqrt(sum_k (R_ik semi_k)^2)
    half = np.sqrt(np.einsum("ik,nk->ni", rot**2, semi**2)) / sp[None, :]
    vals = points.classes if values == "class" else points.ids
    if values == "class" and (vals == 0).any():
        raise PointsError(
            "Some points have class 0, which is the background of a label volume: use "
            "classes >= 1, or values='id' to paint each point's id"
        )
    return Ellipsoids(points.zyx.copy(), metrics, half, vals.astype(np.int64))


def _value_dtype(values: np.ndarray) -> np.dtype:
    top = int(values.max(initial=0))
    return np.dtype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32)


def _paint_block(
    block: np.ndarray,
    *,
    ell: Ellipsoids,
    boxes: tuple[np.ndarray, np.ndarray],
    masks: list[np.ndarray] | None,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    assert block_info is not None
    loc = block_info[0]["array-location"]
    start = np.array([a for a, _ in loc])
    stop = np.array([b for _, b in loc])
    out = np.zeros(block.shape, dtype=block.dtype)
    best = np.full(block.shape, np.inf)
    lo, hi = boxes
    hit = np.flatnonzero(np.all((hi > start) & (lo < stop), axis=1))
    for i in hit:
        a, b = np.maximum(lo[i], start), np.minimum(hi[i], stop)
        grids = np.ogrid[tuple(slice(x, y) for x, y in zip(a, b))]
        d = [g - c for g, c in zip(grids, ell.centres[i])]
        m = ell.metrics[i]
        q = sum(m[j, k] * d[j] * d[k] for j in range(3) for k in range(3))
        if masks is None:
            inside = q <= 1.0
        else:
            inside = masks[i][tuple(slice(x - y, z - y) for x, z, y in zip(a, b, lo[i]))]
        region = tuple(slice(x - s, y - s) for x, y, s in zip(a, b, start))
        take = inside & (q < best[region])
        out[region][take] = ell.values[i]
        best[region][take] = q[take] if np.ndim(q) == 3 else q
    return out


def paint(
    ell: Ellipsoids,
    shape: Sequence[int],
    *,
    chunks: Any = None,
    masks: list[np.ndarray] | None = None,
    boxes: tuple[np.ndarray, np.ndarray] | None = None,
) -> da.Array:
    """A lazy label volume: the ellipsoids (or, with ``masks``, the given boolean masks of
    each object's box ``boxes``) painted chunk by chunk; dtype uint8/16/32 by the values."""
    shape = tuple(int(s) for s in shape)
    grid = parse_chunks(chunks, shape)
    dtype = _value_dtype(ell.values)
    template = da.zeros(shape, chunks=grid, dtype=dtype)
    if boxes is None:
        boxes = ell.boxes(shape)
    return da.map_blocks(_paint_block, template, ell=ell, boxes=boxes, masks=masks, dtype=dtype)
