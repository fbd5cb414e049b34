"""Writing answers into the campaign's annotation layer, as logged, undoable edits.

Labels go through the annotation engine of :mod:`voxelwise.annotate` (the layer's edit lock, a
chunk-by-chunk read-modify-write, one entry in the edit log), so they never race with strokes
painted at the same time in napari and can be undone like any stroke. Only non-zero values
are written: 0 means "no answer here" and leaves the voxel as it was.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.annotate._engine import edit_chunks, lock_layer, record
from voxelwise.annotate._geometry import Box, chunks_in
from voxelwise.workspace import Workspace

__all__ = ["check_values", "write_labels"]


def check_values(values: np.ndarray, allowed: set[int] | range | None) -> None:
    """Refuse non-integer labels, negative values and values outside ``allowed`` (a label
    set's values, or the range the labels layer's dtype holds)."""
    if values.dtype.kind not in "biu":
        raise TypeError(
            f"Expected integer labels (0 = unlabelled, class c as c + 1), got dtype "
            f"{values.dtype} instead"
        )
    present = {int(v) for v in np.unique(values)} - {0}
    if any(v < 0 for v in present):
        raise ValueError(
            f"Expected label values >= 0 (0 = unlabelled), got {sorted(present)[:8]} instead"
        )
    if allowed is None:
        return
    wrong = sorted(v for v in present if v not in allowed)
    if wrong:
        what = (
            f"from {allowed.start} to {allowed.stop - 1}"
            if isinstance(allowed, range)
            else f"among {sorted(allowed)}"
        )
        raise ValueError(
            f"Expected label values {what} (the campaign's classes, or what its labels layer "
            f"holds; 0 = unlabelled), got {wrong[:8]} instead"
        )


def write_labels(
    ws: Workspace,
    layer: str,
    labels: Any,
    *,
    offset: tuple[int, int, int] = (0, 0, 0),
    author: str | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    """Write the non-zero voxels of ``labels`` (a box of the layer starting at ``offset``)
    into ``layer``; returns the number of voxels changed."""
    shape = tuple(int(v) for v in labels.shape)
    lo = np.asarray(offset, dtype=np.int64)
    hi = lo + np.asarray(shape)
    current: list[np.ndarray] = []  # the source values of the chunk being edited

    def select(box: Box) -> tuple[Box, np.ndarray] | None:
        a = np.maximum(lo, [s.start for s in box])
        b = np.minimum(hi, [s.stop for s in box])
        if (a >= b).any():
            return None
        part = labels[tuple(slice(int(x - o), int(y - o)) for x, y, o in zip(a, b, lo))]
        part = np.asarray(part.compute() if hasattr(part, "compute") else part)
        mask = part != 0
        if not mask.any():
            return None
        current[:] = [part]
        sub = tuple(slice(int(x - s.start), int(y - s.start)) for x, y, s in zip(a, b, box))
        return sub, mask  # type: ignore[return-value]

    def apply(old: np.ndarray, mask: np.ndarray, sub: Box) -> np.ndarray:
        return np.where(mask, current[0].astype(old.dtype), old)

    with lock_layer(ws, layer) as lk:
        chunks = chunks_in(lo, hi, lk.chunks, lk.shape)
        changes = edit_chunks(lk, chunks, select, apply)
        record(
            lk,
            "paint",
            changes,
            label=None,
            value=None,
            author=author,
            params={"source": "voxelwise.active", **(params or {})},
        )
    return int(changes.indices.size)
