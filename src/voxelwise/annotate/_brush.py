"""Brushes: voxel discs and balls along a stroke, the eraser, and the supervoxel brush."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from voxelwise.annotate._engine import Locked, Select
from voxelwise.annotate._errors import AnnotationError
from voxelwise.annotate._geometry import Box, ChunkIndex, Stroke, chunk_box
from voxelwise.annotate._labels import Target
from voxelwise.annotate._log import Edit
from voxelwise.annotate._paint import run_paint
from voxelwise.workspace import LABEL_KINDS, InvalidLayerError, Workspace

__all__ = ["erase", "paint", "paint_stroke", "paint_supervoxels"]


def _plane_name(plane: Any) -> str | None:
    return None if plane is None else str(plane).lower()


def paint_stroke(
    ws: Workspace,
    layer: str,
    label: str | int,
    points: Any,
    radius: Any,
    *,
    plane: str | None = None,
    overwrite: bool = True,
    parent_layer: str | None = None,
    author: str | None = None,
) -> Edit:
    """Paint a stroke: a polyline of points swept by a disc (in one plane) or a ball; one edit.

    Only the chunks the stroke touches are read and rewritten, whatever the size of the layer.
    A stroke partly outside the volume is clipped.

    Parameters
    ----------
    ws : Workspace
    layer : str
        An annotation (or other integer label) layer of ``ws``.
    label : str or int
        A label name or value of the layer's label set (a plain value >= 1 for a layer without
        one); ``0`` erases.
    points : (3,) or (N, 3) array_like of float
        Voxel coordinates (z, y, x) of the stroke's points; consecutive points are joined.
    radius : float or (3,) floats
        Brush radius in voxels (per axis (z, y, x) for an ellipsoidal ball); 0 paints a
        one-voxel line.
    plane : {"z", "y", "x"} or None
        Paint discs in that plane (every point in the same slice), or balls (None).
    overwrite : bool
        Paint over other labels (True) or only unlabelled voxels (for a child label:
        voxels holding just its parent).
    parent_layer : str, optional
        Layer holding the parent label's region, for child labels; default the edited layer.
    author : str, optional
        Who made the edit, recorded in the edit log.

    Returns
    -------
    Edit
        The edit log entry (``voxels`` changed, ``bbox``); ``id`` is None if nothing changed.

    Raises
    ------
    OutsideVolumeError
        The stroke lies entirely outside the volume.
    LabelNotFoundError
        ``label`` is not in the layer's label set.
    HierarchyError
        ``label`` is a child and the stroke has no voxel inside its parent's region.

    Examples
    --------
    >>> paint_stroke(ws, "scribbles", "membrane", [(10, 20, 20), (10, 40, 60)], 3, plane="z")  # doctest: +SKIP
    """
    stroke = Stroke.build(points, radius, plane)
    stroke.check_inside(ws.shape)

    def plan(lk: Locked, target: Target) -> tuple[list[ChunkIndex], Select]:
        return stroke.chunks(lk.chunks, lk.shape), stroke.mask

    return run_paint(
        ws,
        layer,
        label,
        plan,
        kind="erase" if label == 0 else "paint",
        what="stroke",
        overwrite=overwrite,
        parent_layer=parent_layer,
        author=author,
        params={
            "points": stroke.points.tolist(),
            "radius": np.asarray(radius, dtype=float).tolist(),
            "plane": _plane_name(plane),
        },
    )


def paint(
    ws: Workspace,
    layer: str,
    label: str | int,
    *,
    center: Any,
    radius: Any,
    plane: str | None = None,
    overwrite: bool = True,
    parent_layer: str | None = None,
    author: str | None = None,
) -> Edit:
    """Paint one disc (``plane="z"``, ``"y"`` or ``"x"``) or ball (``plane=None``) at ``center``
    (z, y, x). See :func:`paint_stroke` for the parameters."""
    return paint_stroke(
        ws,
        layer,
        label,
        [center],
        radius,
        plane=plane,
        overwrite=overwrite,
        parent_layer=parent_layer,
        author=author,
    )


def erase(
    ws: Workspace,
    layer: str,
    points: Any,
    radius: Any,
    *,
    plane: str | None = None,
    label: str | int | None = None,
    author: str | None = None,
) -> Edit:
    """Set the voxels of a stroke back to 0 (unlabelled); with ``label``, only those holding it.

    ``points``, ``radius`` and ``plane`` are as in :func:`paint_stroke`.
    """
    stroke = Stroke.build(points, radius, plane)
    stroke.check_inside(ws.shape)

    def plan(lk: Locked, target: Target) -> tuple[list[ChunkIndex], Select]:
        return stroke.chunks(lk.chunks, lk.shape), stroke.mask

    return run_paint(
        ws,
        layer,
        0,
        plan,
        kind="erase",
        what="stroke",
        only_label=label,
        author=author,
        params={
            "points": stroke.points.tolist(),
            "radius": np.asarray(radius, dtype=float).tolist(),
            "plane": _plane_name(plane),
            "only": label,
        },
    )


def _supervoxel_source(ws: Workspace, supervoxels: Any) -> Any:
    if isinstance(supervoxels, str):
        info = ws.layer(supervoxels)
        if info.kind not in LABEL_KINDS or np.dtype(info.dtype).kind not in "iu":
            raise InvalidLayerError(
                f"Layer {supervoxels!r} is a {info.kind!r} layer of {info.dtype}; the supervoxel "
                "brush needs an integer label layer (e.g. kind 'supervoxels')"
            )
        return ws.open_array(supervoxels, mode="r")
    if not (hasattr(supervoxels, "shape") and hasattr(supervoxels, "__getitem__")):
        raise TypeError(
            f"Expected supervoxels as a layer name or a (Z, Y, X) integer array, got "
            f"{type(supervoxels).__name__} instead"
        )
    if tuple(supervoxels.shape) != tuple(ws.shape):
        raise InvalidLayerError(
            f"The supervoxels have shape {tuple(supervoxels.shape)} but the workspace has shape "
            f"{ws.shape} (z, y, x)"
        )
    if np.dtype(supervoxels.dtype).kind not in "iu":
        raise InvalidLayerError(
            f"Expected integer supervoxel ids, got dtype {supervoxels.dtype} instead"
        )
    return supervoxels


_SIDES = {-1: slice(0, 1), 0: slice(None), 1: slice(-1, None)}


def paint_supervoxels(
    ws: Workspace,
    layer: str,
    label: str | int,
    supervoxels: Any,
    points: Any,
    *,
    radius: Any = 0,
    plane: str | None = None,
    overwrite: bool = True,
    parent_layer: str | None = None,
    author: str | None = None,
) -> Edit:
    """Paint every supervoxel that a stroke touches, in full; one edit.

    The supervoxels the stroke's voxels fall in are collected first; then their voxels are
    painted chunk by chunk, following each supervoxel from chunk to neighbouring chunk as far
    as it reaches (memory stays at one chunk). Id 0 in ``supervoxels`` means "no supervoxel".

    Parameters
    ----------
    supervoxels : str or (Z, Y, X) integer array
        A layer of ``ws`` (any integer label layer, typically of kind ``"supervoxels"``) or an
        array (numpy, zarr, dask) of the workspace's shape.
    points, radius, plane
        The stroke, as in :func:`paint_stroke`; the default radius 0 picks the supervoxels under
        the points (a click).
    Other parameters and the result are as in :func:`paint_stroke`.
    """
    source = _supervoxel_source(ws, supervoxels)
    stroke = Stroke.build(points, radius, plane)
    stroke.check_inside(ws.shape)

    def read(box: Box) -> np.ndarray:
        return np.asarray(source[box])

    ids: set[int] = set()
    for index in stroke.chunks(ws.chunks, ws.shape):
        box = chunk_box(index, ws.chunks, ws.shape)
        picked = stroke.mask(box)
        if picked is not None:
            sub, mask = picked
            absolute = tuple(slice(s.start + b.start, s.stop + b.start) for s, b in zip(sub, box))
            ids.update(int(v) for v in np.unique(read(absolute)[mask]))  # type: ignore[arg-type]
    ids.discard(0)
    if not ids:
        raise AnnotationError(
            "The stroke touches no supervoxel (only id 0, 'none', under it); check the "
            "supervoxel layer and the stroke's coordinates"
        )
    wanted = np.asarray(sorted(ids), dtype=np.int64)

    def plan(lk: Locked, target: Target) -> tuple[Iterator[ChunkIndex], Select]:
        grid = tuple(-(-s // c) for s, c in zip(lk.shape, lk.chunks))
        starts = stroke.chunks(lk.chunks, lk.shape)
        queue = deque(starts)
        seen = set(starts)

        def visit() -> Iterator[ChunkIndex]:
            while queue:
                yield queue.popleft()

        def select(box: Box) -> tuple[Box, np.ndarray] | None:
            mask = np.isin(read(box), wanted)
            if not mask.any():
                return None
            index = tuple(s.start // c for s, c in zip(box, lk.chunks))
            for step in itertools.product((-1, 0, 1), repeat=3):
                nb = tuple(i + d for i, d in zip(index, step))
                if step == (0, 0, 0) or nb in seen or not all(0 <= n < g for n, g in zip(nb, grid)):
                    continue
                if mask[tuple(_SIDES[d] for d in step)].any():
                    seen.add(nb)
                    queue.append(nb)
            return (slice(0, mask.shape[0]), slice(0, mask.shape[1]), slice(0, mask.shape[2])), mask

        return visit(), select

    return run_paint(
        ws,
        layer,
        label,
        plan,
        kind="supervoxels",
        what="supervoxel stroke",
        overwrite=overwrite,
        parent_layer=parent_layer,
        author=author,
        params={
            "points": stroke.points.tolist(),
            "radius": np.asarray(radius, dtype=float).tolist(),
            "plane": _plane_name(plane),
            "supervoxels": supervoxels if isinstance(supervoxels, str) else None,
            "ids": len(ids),
        },
    )
