"""Slice-wise region edits: 2D flood fill and shape-based interpolation between two slices."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from voxelwise.annotate._engine import Locked, Select
from voxelwise.annotate._errors import AnnotationError, OutsideVolumeError
from voxelwise.annotate._geometry import Box, ChunkIndex, chunks_in, parse_plane, parse_points
from voxelwise.annotate._labels import Target
from voxelwise.annotate._log import Edit
from voxelwise.annotate._paint import run_paint
from voxelwise.workspace import Workspace

__all__ = ["fill_2d", "interpolate"]


def _slice_index(axis: int, k: int) -> Box:
    out = [slice(None)] * 3
    out[axis] = slice(k, k + 1)
    return tuple(out)  # type: ignore[return-value]


def _read_slice(array: Any, axis: int, k: int) -> np.ndarray:
    """One whole slice (2D) of a layer: the two in-plane axes in (z, y, x) order."""
    return np.squeeze(np.asarray(array[_slice_index(axis, k)]), axis=axis)


def _in_plane(box: Box, axis: int) -> tuple[slice, slice]:
    return tuple(s for i, s in enumerate(box) if i != axis)  # type: ignore[return-value]


def _bbox2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coords = np.nonzero(mask)
    return np.array([c.min() for c in coords]), np.array([c.max() + 1 for c in coords])


def _three(
    axis: int, along: tuple[int, int], lo2: np.ndarray, hi2: np.ndarray
) -> tuple[list[int], list[int]]:
    lo, hi = list(lo2), list(hi2)
    lo.insert(axis, along[0])
    hi.insert(axis, along[1])
    return [int(v) for v in lo], [int(v) for v in hi]


def fill_2d(
    ws: Workspace,
    layer: str,
    label: str | int,
    seed: Any,
    *,
    plane: str = "z",
    source: str | None = None,
    connectivity: int = 1,
    overwrite: bool = True,
    parent_layer: str | None = None,
    author: str | None = None,
) -> Edit:
    """Flood-fill, within one slice, the region of equal values around ``seed``; one edit.

    The region is the connected set of voxels of the slice through ``seed`` (normal to
    ``plane``) that hold the seed's value in ``source`` (default: the edited layer itself, like
    a paint bucket; or e.g. a prediction or supervoxel layer). It never leaves the slice. Only
    the one slice is held in memory, and only chunks the region touches are rewritten.

    Parameters
    ----------
    seed : (3,) array_like of int
        Voxel (z, y, x) inside the volume.
    plane : {"z", "y", "x"}
        The slice is normal to this axis.
    source : str, optional
        Layer whose values define the region; default ``layer``.
    connectivity : {1, 2}
        1: neighbours share an edge; 2: corners too.
    Other parameters and the result are as in :func:`paint_stroke`.
    """
    axis = parse_plane(plane, allow_none=False)
    assert axis is not None
    point = parse_points(seed, what="seed")
    if len(point) != 1:
        raise ValueError(f"Expected one seed point (z, y, x), got {len(point)} instead")
    voxel = np.round(point[0]).astype(int)
    if not all(0 <= v < s for v, s in zip(voxel, ws.shape)):
        raise OutsideVolumeError(
            f"The seed {tuple(voxel.tolist())} (z, y, x) lies outside the volume of shape "
            f"{ws.shape}; coordinates run from 0 to shape - 1"
        )
    if connectivity not in (1, 2):
        raise ValueError(f"Expected connectivity 1 or 2, got {connectivity!r} instead")
    k = int(voxel[axis])
    seed2 = tuple(int(v) for i, v in enumerate(voxel) if i != axis)
    region_source = None if source is None else ws.open_array(source, mode="r")

    def plan(lk: Locked, target: Target) -> tuple[list[ChunkIndex], Select]:
        plane_values = _read_slice(lk.array if region_source is None else region_source, axis, k)
        same = plane_values == plane_values[seed2]
        structure = ndimage.generate_binary_structure(2, connectivity)
        labels, _ = ndimage.label(same, structure=structure)
        region = labels == labels[seed2]
        lo2, hi2 = _bbox2d(region)
        lo, hi = _three(axis, (k, k + 1), lo2, hi2)

        def select(box: Box) -> tuple[Box, np.ndarray] | None:
            inner = _in_plane(box, axis)
            part = region[inner]
            if not part.any():
                return None
            local = [slice(0, s.stop - s.start) for s in box]
            local[axis] = slice(k - box[axis].start, k - box[axis].start + 1)
            return tuple(local), np.expand_dims(part, axis)  # type: ignore[return-value]

        return list(chunks_in(lo, hi, lk.chunks, lk.shape)), select

    return run_paint(
        ws,
        layer,
        label,
        plan,
        kind="fill",
        what="fill",
        overwrite=overwrite,
        parent_layer=parent_layer,
        author=author,
        params={
            "seed": voxel.tolist(),
            "plane": str(plane).lower(),
            "source": source,
            "connectivity": connectivity,
        },
    )


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Negative inside, positive outside (Euclidean, in voxels)."""
    return (ndimage.distance_transform_edt(~mask) - ndimage.distance_transform_edt(mask)).astype(
        np.float32
    )


def interpolate(
    ws: Workspace,
    layer: str,
    label: str | int,
    start: int,
    stop: int,
    *,
    plane: str = "z",
    overwrite: bool = False,
    parent_layer: str | None = None,
    author: str | None = None,
) -> Edit:
    """Fill the slices between two annotated slices by shape-based interpolation; one edit.

    The label's masks in slices ``start`` and ``stop`` (normal to ``plane``) are turned into
    signed distance maps; each slice in between gets the voxels where the linear blend of the
    two maps is <= 0. The result lies within the union of the two masks (seen along the axis);
    shapes that move a lot between the slices are best interpolated from closer slices.

    Parameters
    ----------
    start, stop : int
        The two annotated slices (either order), at least two apart.
    plane : {"z", "y", "x"}
        The slices are normal to this axis.
    overwrite : bool
        Default False: only unlabelled voxels (for a child label, voxels holding just its
        parent) of the slices in between are painted; True paints over other labels.
    Other parameters and the result are as in :func:`paint_stroke`.

    Raises
    ------
    AnnotationError
        The slices are adjacent, or one of them holds no voxel of ``label``.
    """
    axis = parse_plane(plane, allow_none=False)
    assert axis is not None
    for v in (start, stop):
        if not isinstance(v, int | np.integer) or isinstance(v, bool):
            raise TypeError(f"Expected slice indices as whole numbers, got {v!r} instead")
    a, b = sorted((int(start), int(stop)))
    n = ws.shape[axis]
    if a < 0 or b >= n:
        raise OutsideVolumeError(
            f"Slices {start} and {stop} must lie in 0..{n - 1} along {'zyx'[axis]} (volume "
            f"shape {ws.shape})"
        )
    if b - a < 2:
        raise AnnotationError(
            f"Slices {start} and {stop} have no slice between them; interpolate between slices "
            "at least two apart"
        )

    def plan(lk: Locked, target: Target) -> tuple[list[ChunkIndex], Select]:
        value = target.value
        if value == 0:
            raise AnnotationError("Interpolate a label, not 0; erase with voxelwise.annotate.erase")
        masks = []
        for k in (a, b):
            m = _read_slice(lk.array, axis, k) == value
            if not m.any():
                raise AnnotationError(
                    f"Slice {k} along {'zyx'[axis]} of layer {layer!r} holds no voxel of label "
                    f"{label!r}; annotate both slices first"
                )
            masks.append(m)
        lo0, hi0 = _bbox2d(masks[0] | masks[1])
        size = np.array(masks[0].shape)
        lo2, hi2 = np.maximum(lo0 - 1, 0), np.minimum(hi0 + 1, size)
        crop = tuple(slice(int(x), int(y)) for x, y in zip(lo2, hi2))
        sd0, sd1 = (_signed_distance(m[crop]) for m in masks)
        lo, hi = _three(axis, (a + 1, b), lo0, hi0)

        def select(box: Box) -> tuple[Box, np.ndarray] | None:
            ks = range(max(box[axis].start, a + 1), min(box[axis].stop, b))
            inner = _in_plane(box, axis)
            ilo = [max(s.start, int(x)) for s, x in zip(inner, lo0)]
            ihi = [min(s.stop, int(y)) for s, y in zip(inner, hi0)]
            if not ks or any(x >= y for x, y in zip(ilo, ihi)):
                return None
            part = tuple(slice(x - int(c), y - int(c)) for x, y, c in zip(ilo, ihi, lo2))
            t = ((np.asarray(ks, np.float32) - a) / (b - a)).reshape(-1, 1, 1)
            inside = (1 - t) * sd0[part][None] + t * sd1[part][None] <= 0
            mask = np.moveaxis(inside, 0, axis)
            if not mask.any():
                return None
            lo3, hi3 = _three(axis, (ks[0], ks[-1] + 1), np.array(ilo), np.array(ihi))
            local = tuple(slice(x - s.start, y - s.start) for x, y, s in zip(lo3, hi3, box))
            return local, mask  # type: ignore[return-value]

        return list(chunks_in(lo, hi, lk.chunks, lk.shape)), select

    return run_paint(
        ws,
        layer,
        label,
        plan,
        kind="interpolate",
        what="interpolation",
        overwrite=overwrite,
        parent_layer=parent_layer,
        author=author,
        params={"start": a, "stop": b, "plane": str(plane).lower()},
    )
