"""Surface area of every object by marching cubes, chunk by chunk, exact across chunk borders.

Marching cubes on a binary mask overestimates the area of smooth shapes (the staircase: +8 %
on a ball, +12 to +20 % with 2:1 to 5:1 anisotropy). We mesh a smooth field instead:

1. the signed distance to the object's boundary (``edt(inside) - edt(outside)`` with the voxel
   spacing, so coarse z sections are interpolated by shape, not stacked as terraces), clamped
   to ``+-D`` with ``D = max(spacing) + 3 sigma``;
2. smoothed by a Gaussian of ``sigma = min(spacing)`` (physical units, so one voxel along the
   finest axis), which removes the in-plane staircase;
3. meshed at six levels from ``-3 sigma`` to ``+1.5 sigma``; the level whose mesh encloses the
   object's voxel volume is interpolated (piecewise linearly), and the area is read at that
   level (quadratic through the three nearest levels). Matching the volume cancels the
   shrinkage that smoothing causes on curved surfaces, and the thinning of objects only one
   or two coarse sections thick.

Balls of radius >= 10 voxels come out within about 2 % (isotropic and up to 5:1 anisotropy);
flat objects one section thick on 11:1 data within about 10 % of the prism they fill. The
price of smoothing: sharp edges and corners come out rounded (radius about sigma), so angular
objects read low: a cube of 30 voxels by 6 %, of 10 voxels by 20 %. Objects touching the
volume's border are closed by it (the outside counts as background).

Chunking: the mesh is a sum over marching-cubes cells (2 x 2 x 2 voxels) and every cell's
triangles depend only on the field at its 8 corners. Each chunk owns the cells whose lower
corner lies in it (the first chunk also the cells across the volume's low border), reads
``H = ceil(D / spacing) + ceil(3 sigma / spacing) + 1`` voxels of halo, where the clamped
distance and its blur are exact, and adds up its cells' areas and enclosed-volume terms per
object. The sums over chunks are the whole-volume mesh's (the same for any chunking up to
floating-point rounding); memory is one haloed chunk plus O(objects).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import marching_cubes

from voxelwise.analysis._arrays import distinct_nonzero

__all__ = ["SurfacePlan", "chunk_surfaces", "finish_surfaces", "plan_surface"]

_LEVELS = (-3.0, -1.5, -0.5, 0.0, 0.5, 1.5)  # in units of sigma
N_LEVELS = len(_LEVELS)


class SurfacePlan:
    """Smoothing and halo parameters derived from the voxel spacing (physical units)."""

    def __init__(self, spacing: tuple[float, float, float]) -> None:
        sp = np.asarray(spacing, dtype=np.float64)
        self.spacing = tuple(float(s) for s in sp)
        self.sigma = float(sp.min())
        self.sigma_vox = tuple(float(v) for v in self.sigma / sp)
        blur = [math.ceil(3 * v) for v in self.sigma_vox]
        self.clamp = float(sp.max() + 3 * self.sigma)
        reach = [math.ceil(self.clamp / s) for s in sp]
        self.margin = tuple(int(r + b) for r, b in zip(reach, blur))
        self.halo: tuple[int, int, int] = tuple(m + 1 for m in self.margin)  # type: ignore[assignment]
        self.levels = tuple(v * self.sigma for v in _LEVELS)


def plan_surface(spacing: tuple[float, float, float]) -> SurfacePlan:
    """The :class:`SurfacePlan` for a voxel spacing."""
    return SurfacePlan(spacing)


def _smooth_field(mask: np.ndarray, inner: tuple[slice, ...], plan: SurfacePlan) -> np.ndarray:
    """The clamped, smoothed signed distance of ``mask`` (positive inside).

    ``inner`` is the object's bounding box plus one voxel (within ``mask``): the distances
    inside the object are computed there only, which gives the same values, since the
    one-voxel ring around the box is background and never farther than a background voxel
    beyond it.
    """
    field = -ndi.distance_transform_edt(~mask, sampling=plan.spacing)
    core = mask[inner]
    if core.all():  # no background within reach: deep inside
        field[inner] = plan.clamp
    else:
        field[inner] += ndi.distance_transform_edt(core, sampling=plan.spacing)
    field = np.clip(field, -plan.clamp, plan.clamp).astype(np.float32)
    return ndi.gaussian_filter(
        field, plan.sigma_vox, mode="constant", cval=-plan.clamp, truncate=3.0
    )


def _mesh_terms(
    field: np.ndarray, level: float, spacing: tuple[float, ...], z0: float
) -> tuple[float, float]:
    """Area of the mesh at ``level`` and its z-flux volume term (z in physical units)."""
    if field.min() >= level or field.max() <= level or min(field.shape) < 2:
        return 0.0, 0.0
    try:
        verts, faces, _, _ = marching_cubes(field, level, spacing=spacing)
    except (ValueError, RuntimeError):  # no surface at this level
        return 0.0, 0.0
    if len(faces) == 0:
        return 0.0, 0.0
    a, b, c = (verts[faces[:, i]].astype(np.float64) for i in range(3))
    cross = np.cross(b - a, c - a)
    z_mean = (a[:, 0] + b[:, 0] + c[:, 0]) / 3.0 + z0
    area = 0.5 * float(np.sqrt((cross**2).sum(axis=1)).sum())
    return area, float(np.sum(z_mean * cross[:, 0]) / 2.0)


def _boxes(block: np.ndarray, ids: np.ndarray) -> list[tuple[slice, ...] | None]:
    """The bounding box (slices of ``block``) of each id of ``ids``, None where absent."""
    top = int(ids[-1])
    if block.dtype.kind in "iu" and ids[0] > 0 and top <= 4 * block.size + 1024:
        found = ndi.find_objects(block, max_label=top)  # indexed by id - 1: no relabelling
        return [found[int(i) - 1] for i in ids]
    index = np.searchsorted(ids, block)
    np.minimum(index, ids.size - 1, out=index)
    index = np.where(ids[index] == block, index + 1, 0)
    return ndi.find_objects(index, max_label=ids.size)


def chunk_surfaces(
    block: np.ndarray,
    *,
    origin: tuple[int, int, int],
    shape: tuple[int, int, int],
    plan: SurfacePlan,
) -> dict[str, np.ndarray]:
    """Per-id mesh areas and volume terms at each level for the cells one chunk owns.

    ``block`` is the chunk extended by ``plan.halo`` voxels per side (background outside the
    volume); ``origin`` and ``shape`` describe the chunk itself.
    """
    halo = plan.halo
    # voxel range (block coordinates) spanned by the owned cells: lower corners in the chunk,
    # plus the cells across the volume's low border for the first chunk along each axis
    own_lo = [h - (1 if o == 0 else 0) for h, o in zip(halo, origin)]
    own_hi = [h + s + 1 for h, s in zip(halo, shape)]  # exclusive
    # objects farther than the margin from those voxels have the clamped field -D there
    need = [
        (max(0, lo - m), min(n, hi + m))
        for lo, hi, m, n in zip(own_lo, own_hi, plan.margin, block.shape)
    ]
    ids = distinct_nonzero(block[tuple(slice(a, b) for a, b in need)])
    k = ids.size
    area = np.zeros((k, N_LEVELS))
    volume = np.zeros((k, N_LEVELS))
    if k:
        boxes = _boxes(block, ids)
        for j, box in enumerate(boxes):
            if box is None:
                continue
            region = []
            for (need_lo, need_hi), sl, m in zip(need, box, plan.margin):
                region.append((max(need_lo, sl.start - m - 1), min(need_hi, sl.stop + m + 1)))
            sub = tuple(slice(a, b) for a, b in region)
            mask = block[sub] == ids[j]
            if mask.all():
                continue  # deep inside an object bigger than the halo: no boundary here
            inner = tuple(
                slice(max(a, sl.start - 1) - a, min(b, sl.stop + 1) - a)
                for (a, b), sl in zip(region, box)
            )
            field = _smooth_field(mask, inner, plan)
            lo = [max(a, ol) for (a, _), ol in zip(region, own_lo)]
            hi = [min(b, oh) for (_, b), oh in zip(region, own_hi)]
            if any(h - low < 2 for low, h in zip(lo, hi)):
                continue
            cells = tuple(slice(low - a, h - a) for low, h, (a, _) in zip(lo, hi, region))
            part = field[cells]
            # cells whose corners are all below the lowest level hold no surface: crop them
            box = ndi.find_objects((part > plan.levels[0]).view(np.uint8))
            if not box or box[0] is None:
                continue
            crop = tuple(
                slice(max(0, b.start - 1), min(n, b.stop + 1)) for b, n in zip(box[0], part.shape)
            )
            part = part[crop]
            z0 = (origin[0] - halo[0] + lo[0] + crop[0].start) * plan.spacing[0]
            for i, level in enumerate(plan.levels):
                area[j, i], volume[j, i] = _mesh_terms(part, level, plan.spacing, z0)
    return {"id": ids.astype(np.int64), "area": area, "volume": volume}


def finish_surfaces(
    parts: list[dict[str, np.ndarray]],
    ids: np.ndarray,
    voxel_volume: np.ndarray,
    plan: SurfacePlan,
) -> np.ndarray:
    """Combine per-chunk terms into one surface area per id (``ids`` sorted, as in the table)."""
    area = np.zeros((ids.size, N_LEVELS))
    volume = np.zeros((ids.size, N_LEVELS))
    for p in parts:
        if p["id"].size:
            pos = np.searchsorted(ids, p["id"])
            np.add.at(area, pos, p["area"])
            np.add.at(volume, pos, p["volume"])
    volume = np.abs(volume)
    levels = np.asarray(plan.levels)
    zero = int(np.searchsorted(levels, 0.0))
    out = area[:, zero].copy()
    for i in range(ids.size):
        v, a = volume[i], area[i]
        if v[zero] <= 0 or a[zero] <= 0 or np.any(np.diff(v) > 0):
            continue  # too small to mesh reliably: keep the level-0 area
        t = _level_for(v, levels, float(voxel_volume[i]))
        near = np.sort(np.argsort(np.abs(levels - t), kind="stable")[:3])
        out[i] = max(_quadratic(levels[near], a[near], t), 0.0)
    return out


def _level_for(v: np.ndarray, levels: np.ndarray, target: float) -> float:
    """The level whose enclosed volume is ``target`` (piecewise linear; clamped to the range).

    ``v`` does not increase with the level.
    """
    if target >= v[0]:
        return float(levels[0])
    if target <= v[-1]:
        return float(levels[-1])
    i = int(np.flatnonzero(v >= target).max())
    if v[i] == v[i + 1]:
        return float(levels[i])
    return float(levels[i] + (levels[i + 1] - levels[i]) * (v[i] - target) / (v[i] - v[i + 1]))


def _quadratic(x: np.ndarray, y: np.ndarray, t: float) -> float:
    """The parabola through three points (x, y), evaluated at ``t``."""
    total = 0.0
    for i in range(3):
        term = float(y[i])
        for j in range(3):
            if j != i:
                term *= (t - x[j]) / (x[i] - x[j])
        total += term
    return total
