"""Geometry behind :func:`voxelwise.data.synthetic_em`: cells, membranes, mitochondria.

Every function takes the random generator explicitly and draws from it in a fixed order, so a
seed fixes the whole volume. Lengths are physical (the unit of ``spacing``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "CELL_SIZE",
    "MITO_FRACTION",
    "MITO_LONG",
    "MITO_SHORT",
    "WARP",
    "SmoothField",
    "cell_regions",
    "faces",
    "place_mitochondria",
    "seeds",
    "slabs",
    "structuring_ball",
    "voronoi_cells",
]

# Sizes in units of the finest voxel size.
CELL_SIZE = 28.0  # typical cell diameter
MITO_LONG = (6.0, 12.0)  # semi-axis along the long axis
MITO_SHORT = (3.0, 4.5)  # semi-axes across
MITO_FRACTION = 0.05  # volume fraction aimed at by the default n_mitochondria
WARP = 0.12  # displacement amplitude, as a fraction of the cell size


def seeds(
    shape: tuple[int, ...], spacing: np.ndarray, n: int, min_dist: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` distinct voxel positions, spread by dart throwing (min physical distance) when possible."""
    points = np.empty((n, 3), dtype=np.intp)
    count = 0
    attempts = 0
    while count < n:
        batch = rng.integers(0, shape, size=(max(16, n), 3))
        for p in batch:
            attempts += 1
            if count:
                d2 = (((points[:count] - p) * spacing) ** 2).sum(axis=1).min()
                if d2 == 0 or (attempts < 20 * n and d2 < min_dist**2):
                    continue  # taken, or too close while spreading is still likely to succeed
            points[count] = p
            count += 1
            if count == n:
                break
    return points


def _field_1d(n: int, spacing: float, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random 1D profile (unit variance) over ``n`` voxels, features about ``scale`` long."""
    knots = math.ceil(n * spacing / scale) + 2
    values = rng.standard_normal(knots)
    t = np.arange(n) * (spacing / scale) + rng.uniform(0, 1)
    return np.interp(t, np.arange(knots), values).astype(np.float32)


class SmoothField:
    """A smooth random 3D field with unit variance, as a sum of separable products.

    ``field[z0:z1]`` costs a few multiply-adds per voxel, so large volumes are filled slab by
    slab without a full-size coordinate grid.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        spacing: np.ndarray,
        scale: float,
        rng: np.random.Generator,
        terms: int = 4,
    ) -> None:
        self.factors = [
            [_field_1d(n, float(sp), scale, rng) for n, sp in zip(shape, spacing)]
            for _ in range(terms)
        ]
        self.norm = np.float32(1 / math.sqrt(terms))

    def __getitem__(self, zs: slice) -> np.ndarray:
        terms = [
            fz[zs, None, None] * (fy[:, None] * fx[None, :])[None] for fz, fy, fx in self.factors
        ]
        return np.sum(terms, axis=0) * self.norm


def slabs(shape: tuple[int, int, int]) -> list[slice]:
    step = max(1, (1 << 18) // (shape[1] * shape[2]))
    return [slice(z, min(z + step, shape[0])) for z in range(0, shape[0], step)]


def voronoi_cells(
    shape: tuple[int, int, int],
    spacing: np.ndarray,
    seeds: np.ndarray,
    warp: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Nearest-seed labels (physical distance), warped by a smooth displacement, as int32."""
    from scipy import ndimage

    mask = np.ones(shape, dtype=bool)
    mask[tuple(seeds.T)] = False
    ids = np.zeros(shape, dtype=np.int32)
    ids[tuple(seeds.T)] = np.arange(1, len(seeds) + 1, dtype=np.int32)
    nearest = ndimage.distance_transform_edt(
        mask, sampling=spacing, return_distances=False, return_indices=True
    )
    voronoi = ids[tuple(nearest)]
    del nearest, ids, mask
    if warp <= 0:
        return voronoi
    scale = 0.6 * CELL_SIZE * float(spacing.min())
    fields = [SmoothField(shape, spacing, scale, rng) for _ in range(3)]
    amp = (warp / spacing).astype(np.float32)  # displacement amplitude in voxels per axis
    out = np.empty(shape, dtype=np.int32)
    for zs in slabs(shape):
        src = []
        for axis in range(3):
            index = np.arange(shape[axis], dtype=np.float32)
            if axis == 0:
                index = index[zs]
            base = index.reshape([-1 if k == axis else 1 for k in range(3)])
            moved = np.rint(base + amp[axis] * fields[axis][zs]).astype(np.intp)
            src.append(np.clip(moved, 0, shape[axis] - 1, out=moved))
        out[zs] = voronoi[tuple(src)]
    return out


def faces(cells: np.ndarray, both: tuple[bool, bool, bool]) -> np.ndarray:
    """Mark the voxels at faces between different cells (6-neighbourhood).

    Along an axis with ``both[axis]`` both voxels of a face are marked, else only the lower one
    (for axes whose voxels are coarser than a membrane is thick, e.g. thick sections).
    """
    out = np.zeros(cells.shape, dtype=bool)
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis] = slice(0, -1)
        b[axis] = slice(1, None)
        diff = cells[tuple(a)] != cells[tuple(b)]
        out[tuple(a)] |= diff
        if both[axis]:
            out[tuple(b)] |= diff
    return out


def cell_regions(membrane: np.ndarray, *, min_size: int) -> np.ndarray:
    """Number the 6-connected regions between membranes 1..n (int32); 0 on membranes.

    Regions smaller than ``min_size`` voxels (specks the warp leaves at oblique faces) become
    membrane.
    """
    from scipy import ndimage

    regions, n = ndimage.label(~membrane)
    sizes = np.bincount(regions.ravel(), minlength=n + 1)
    keep = sizes >= min_size
    keep[0] = False
    lut = np.zeros(n + 1, dtype=np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lut[regions]


def structuring_ball(radius: float, spacing: np.ndarray) -> np.ndarray:
    """Boolean ellipsoidal structuring element of physical ``radius`` on a grid of ``spacing``."""
    reach = [int(radius // sp) for sp in spacing]
    grids = np.meshgrid(
        *[np.arange(-r, r + 1) * sp for r, sp in zip(reach, spacing)], indexing="ij", sparse=True
    )
    return (grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2) <= radius**2 * (1 + 1e-9)


def _random_frame(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))  # rows: orthonormal axes of the ellipsoid


def place_mitochondria(
    n: int,
    *,
    image: np.ndarray,
    labels: np.ndarray,
    cells: np.ndarray,
    mito: np.ndarray,
    spacing: np.ndarray,
    rng: np.random.Generator,
) -> int:
    """Rasterise up to ``n`` textured ellipsoids, each inside one cell; return how many fit.

    An ellipsoid is kept only if the same ellipsoid grown by a margin covers voxels of its own
    cell only (no membrane, no other cell) and no other mitochondrion.
    """
    s0 = float(spacing.min())
    margin = 1.0 * s0
    shape = np.asarray(cells.shape)
    placed = 0
    failures = 0  # in a row; a full volume stops the search early
    for _attempt in range(60 * n):
        if placed == n or failures > 1000:
            break
        failures += 1
        centre = rng.integers(0, shape)
        long = rng.uniform(*MITO_LONG) * s0
        short = rng.uniform(*MITO_SHORT) * s0
        semi = np.array([long, short, short * rng.uniform(0.75, 1.0)])
        frame = _random_frame(rng)
        cell = cells[tuple(centre)]
        if cell == 0 or mito[tuple(centre)]:
            continue
        # Cheap test first: the tips of the grown axes must lie in the same cell.
        axes = (semi + margin)[:, None] * frame / spacing  # rows: grown semi-axes in voxels
        tips = np.rint(np.concatenate([centre + axes, centre - axes])).astype(int)
        tips = tips[np.all((tips >= 0) & (tips < shape), axis=1)]
        if tips.size and not (
            np.all(cells[tuple(tips.T)] == cell) and not mito[tuple(tips.T)].any()
        ):
            continue
        reach = np.ceil((long + margin) / spacing).astype(int)
        lo = np.maximum(centre - reach, 0)
        hi = np.minimum(centre + reach + 1, shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        offsets = np.meshgrid(
            *[
                ((np.arange(a, b) - c) * sp).astype(np.float32)
                for a, b, c, sp in zip(lo, hi, centre, spacing)
            ],
            indexing="ij",
            sparse=True,
        )
        local = [
            frame[k, 0] * offsets[0] + frame[k, 1] * offsets[1] + frame[k, 2] * offsets[2]
            for k in range(3)
        ]
        grown = sum((local[k] / (semi[k] + margin)) ** 2 for k in range(3)) <= 1.0
        if not (np.all(cells[box][grown] == cell) and not mito[box][grown].any()):
            continue
        q = sum((local[k] / semi[k]) ** 2 for k in range(3))
        inside = q <= 1.0
        if not inside.any():
            continue
        placed += 1
        failures = 0
        period = rng.uniform(3.5, 5.0) * s0
        phase = rng.uniform(0, 2 * np.pi)
        cristae = np.cos(2 * np.pi * local[0] / period + phase + 0.6 * local[1] / short) > 0.35
        tone = rng.uniform(0.38, 0.46)
        value = np.where(q > 0.72, tone - 0.14, np.where(cristae, tone - 0.15, tone))
        image[box][inside] = value[inside]
        labels[box][inside] = 2
        mito[box][inside] = placed
    return placed
