"""Brush geometry: strokes (polylines swept by a disc or a ball) and the chunk grid."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelwise.annotate._errors import AnnotationError, OutsideVolumeError

__all__ = [
    "PLANES",
    "Box",
    "ChunkIndex",
    "Stroke",
    "box_of",
    "chunk_box",
    "chunks_in",
    "parse_plane",
    "parse_points",
    "parse_radius",
]

PLANES = {"z": 0, "y": 1, "x": 2}

Box = tuple[slice, slice, slice]
ChunkIndex = tuple[int, int, int]


def parse_plane(plane: Any, *, allow_none: bool = True) -> int | None:
    """The axis (0, 1, 2) normal to ``plane`` ("z", "y", "x"); ``None`` means a 3D ball."""
    if plane is None and allow_none:
        return None
    if isinstance(plane, str) and plane.lower() in PLANES:
        return PLANES[plane.lower()]
    choices = '"z", "y", "x"' + (" or None (3D ball)" if allow_none else "")
    raise ValueError(f"Expected plane as {choices}, got {plane!r} instead")


def parse_points(points: Any, *, what: str = "points") -> np.ndarray:
    """Normalise one point (z, y, x) or a sequence of points to a finite (N, 3) float64 array."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"Expected {what} as (z, y, x) numbers or a list of them, got {points!r} instead"
        ) from e
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise ValueError(
            f"Expected {what} as one (z, y, x) point or an (N, 3) list of points, got shape "
            f"{np.shape(points)} instead"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"Expected finite coordinates in {what}, got {points!r} instead")
    return arr


def parse_radius(radius: Any) -> np.ndarray:
    """A brush radius in voxels: one number, or (z, y, x) radii for an ellipsoidal ball."""
    if isinstance(radius, numbers.Real) and not isinstance(radius, bool):
        values = [float(radius)] * 3
    elif isinstance(radius, Sequence | np.ndarray) and len(radius) == 3:
        values = [float(r) for r in radius]
    else:
        raise TypeError(
            f"Expected radius as a number of voxels or (z, y, x) radii, got {radius!r} instead"
        )
    if not all(math.isfinite(r) and r >= 0 for r in values):
        raise ValueError(f"Expected radius >= 0 voxels, got {radius!r} instead")
    return np.asarray(values)


def chunk_box(index: ChunkIndex, chunks: Sequence[int], shape: Sequence[int]) -> Box:
    """The region of chunk ``index`` (clipped to ``shape``)."""
    return tuple(  # type: ignore[return-value]
        slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape)
    )


def chunks_in(
    lo: Sequence[int] | np.ndarray,
    hi: Sequence[int] | np.ndarray,
    chunks: Sequence[int],
    shape: Sequence[int],
) -> Iterator[ChunkIndex]:
    """Indices of the chunks meeting the box ``[lo, hi)`` (clipped to ``shape``)."""
    ranges = []
    for a, b, c, s in zip(lo, hi, chunks, shape):
        a, b = max(int(a), 0), min(int(b), int(s))
        if a >= b:
            return
        ranges.append(range(a // c, (b - 1) // c + 1))
    yield from itertools.product(*ranges)


def box_of(lo: Sequence[int], hi: Sequence[int]) -> Box:
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]


@dataclass(frozen=True)
class Stroke:
    """A polyline swept by a disc (in one plane) or a ball: every voxel whose centre lies within
    ``radius`` of a segment. Radii below half a voxel count as half a voxel, so a zero radius
    draws a connected one-voxel line. ``plane`` strokes lie in one slice of that axis."""

    points: np.ndarray  # (N, 3) float64, voxel coordinates (z, y, x)
    radii: np.ndarray  # (3,) effective radii; 0 along the plane's axis
    plane: int | None

    @classmethod
    def build(cls, points: Any, radius: Any, plane: Any) -> Stroke:
        pts = parse_points(points)
        radii = np.maximum(parse_radius(radius), 0.5)
        axis = parse_plane(plane)
        if axis is not None:
            level = np.round(pts[:, axis])
            if np.ptp(level) > 0:
                name = "zyx"[axis]
                raise AnnotationError(
                    f"A stroke in the {name} plane must stay in one {name} slice, got {name} "
                    f"values {sorted(set(level.astype(int).tolist()))}; split it into one stroke "
                    "per slice, or use plane=None for a 3D ball"
                )
            pts = pts.copy()
            pts[:, axis] = level
            radii[axis] = 0.0
        return cls(points=pts, radii=radii, plane=axis)

    def segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        p = self.points
        if len(p) == 1:
            return [(p[0], p[0])]
        return [(p[i], p[i + 1]) for i in range(len(p) - 1)]

    def segment_bounds(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The voxel box ``[lo, hi)`` holding the swept segment (not clipped)."""
        lo = np.ceil(np.minimum(a, b) - self.radii - 1e-9)
        hi = np.floor(np.maximum(a, b) + self.radii + 1e-9) + 1
        return lo.astype(np.int64), hi.astype(np.int64)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        boxes = [self.segment_bounds(a, b) for a, b in self.segments()]
        return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)

    def check_inside(self, shape: Sequence[int], *, what: str = "stroke") -> None:
        """Refuse a stroke entirely outside the volume (one partly outside is clipped later)."""
        lo, hi = self.bounds()
        if any(b <= 0 or a >= s for a, b, s in zip(lo, hi, shape)):
            first = self.points[0].round(1).tolist()
            raise OutsideVolumeError(
                f"The {what} (first point {first} (z, y, x), {len(self.points)} point(s)) lies "
                f"entirely outside the volume of shape {tuple(shape)}; coordinates run from 0 "
                "to shape - 1 on each axis"
            )

    def chunks(self, chunks: Sequence[int], shape: Sequence[int]) -> list[ChunkIndex]:
        """The chunks whose region may hold voxels of the stroke, in a stable order."""
        found: dict[ChunkIndex, None] = {}
        for a, b in self.segments():
            lo, hi = self.segment_bounds(a, b)
            for idx in chunks_in(lo, hi, chunks, shape):
                found[idx] = None
        return list(found)

    def mask(self, box: Box) -> tuple[Box, np.ndarray] | None:
        """Voxels of the stroke inside ``box``: a sub-box (relative to ``box``) and its mask."""
        start = np.array([s.start for s in box])
        stop = np.array([s.stop for s in box])
        parts = []
        for a, b in self.segments():
            lo, hi = self.segment_bounds(a, b)
            lo, hi = np.maximum(lo, start), np.minimum(hi, stop)
            if (lo < hi).all():
                parts.append((a, b, lo, hi))
        if not parts:
            return None
        ulo = np.min([p[2] for p in parts], axis=0)
        uhi = np.max([p[3] for p in parts], axis=0)
        out = np.zeros(tuple(uhi - ulo), dtype=bool)
        active = [k for k in range(3) if self.radii[k] > 0]
        for a, b, lo, hi in parts:
            grids = np.ogrid[tuple(slice(int(x), int(y)) for x, y in zip(lo, hi))]
            d = [(grids[k] - a[k]) / self.radii[k] for k in active]
            e = [(b[k] - a[k]) / self.radii[k] for k in active]
            length2 = sum(v * v for v in e)
            if length2 > 0:
                t = np.clip(sum(dk * ek for dk, ek in zip(d, e)) / length2, 0.0, 1.0)
                dist2 = sum((dk - t * ek) ** 2 for dk, ek in zip(d, e))
            else:
                dist2 = sum(dk * dk for dk in d)
            hit = np.broadcast_to(dist2 <= 1.0 + 1e-9, tuple(hi - lo))
            out[tuple(slice(int(x - u), int(y - u)) for x, y, u in zip(lo, hi, ulo))] |= hit
        if not out.any():
            return None
        return box_of(ulo - start, uhi - start), out
