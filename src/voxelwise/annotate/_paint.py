"""The common path of every painting edit: resolve the label, lock, visit chunks, check, record."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from voxelwise.annotate._engine import Locked, Select, edit_chunks, lock_layer, record
from voxelwise.annotate._errors import HierarchyError, OutsideVolumeError
from voxelwise.annotate._geometry import Box, ChunkIndex
from voxelwise.annotate._labels import Target, resolve_target
from voxelwise.annotate._log import Edit
from voxelwise.workspace import Workspace

__all__ = ["Plan", "run_paint"]

Plan = Callable[[Locked, Target], "tuple[Iterable[ChunkIndex], Select]"]


def run_paint(
    ws: Workspace,
    layer: str,
    label: Any,
    plan: Plan,
    *,
    kind: str,
    what: str,
    overwrite: bool = True,
    parent_layer: str | None = None,
    only_label: Any = None,
    author: str | None = None,
    params: dict[str, Any] | None = None,
) -> Edit:
    """Write ``label`` into the voxels that ``plan`` selects, subject to the label's rules.

    Everything runs under the layer's lock: the label is looked up, then ``plan(locked,
    target)`` returns the chunks to visit and the per-chunk selection. With ``only_label``,
    only voxels holding that label change (the eraser). Refuses an edit whose selection holds
    no voxel of the volume, and a child label whose selection has no voxel inside its
    parent's region.
    """
    if author is not None and not isinstance(author, str):
        raise TypeError(f"Expected author as a string or None, got {author!r} instead")
    counts = {"selected": 0, "inside": 0}
    with lock_layer(ws, layer) as lk:
        only = None if only_label is None else [resolve_target(ws, lk.info, only_label).value]
        target = resolve_target(
            ws, lk.info, label, overwrite=overwrite, parent_layer=parent_layer, only=only
        )
        parent_array = None
        if target.parent_layer is not None:
            parent_array = ws.open_array(target.parent_layer, mode="r")

        def apply(old: np.ndarray, mask: np.ndarray, sub: Box) -> np.ndarray:
            parent_block = None if parent_array is None else np.asarray(parent_array[sub])
            inside, allowed = target.rules(old, parent_block)
            counts["selected"] += int(np.count_nonzero(mask))
            counts["inside"] += int(np.count_nonzero(mask & inside))
            return np.where(mask & allowed, np.asarray(target.value, dtype=old.dtype), old)

        chunks, select = plan(lk, target)
        changes = edit_chunks(lk, chunks, select, apply)
        if counts["selected"] == 0:
            raise OutsideVolumeError(
                f"The {what} holds no voxel of the volume (shape {lk.shape}, z, y, x); nothing "
                "was painted"
            )
        if target.parent is not None and counts["inside"] == 0:
            _refuse_hierarchy(target, layer, what)
        return record(
            lk,
            kind,
            changes,
            label=target.name,
            value=target.value,
            author=author,
            params={**(params or {}), "overwrite": bool(overwrite), "parent_layer": parent_layer},
        )


def _refuse_hierarchy(target: Target, layer: str, what: str) -> None:
    assert target.parent is not None
    assert target.label is not None
    where = f"layer {target.parent_layer!r}" if target.parent_layer else f"layer {layer!r}"
    raise HierarchyError(
        f"Label {target.label.name!r} is a child of {target.parent.name!r}: it can be painted "
        f"only inside the region of {target.parent.name!r} (or its sub-labels) in {where}, and "
        f"this {what} has no voxel there. Paint {target.parent.name!r} there first, or pass "
        "parent_layer= naming the layer that holds it"
    )
