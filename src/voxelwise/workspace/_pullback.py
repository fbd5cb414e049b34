"""Pulling a layer of an ROI sub-workspace back into its parent at the region's offset.

Only the parent's chunks that overlap the region are read and rewritten, one at a time; a
missing parent layer is created in one atomic write (zeros outside the region).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import product
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_roi
from voxelwise.errors import WorkspaceError
from voxelwise.workspace._errors import InvalidLayerError
from voxelwise.workspace._records import RAW, LayerInfo
from voxelwise.workspace._roi import copy_label_set, open_parent, roi_parent
from voxelwise.workspace._workspace import Workspace

__all__ = ["PULL_BACK_MODES", "PullBack", "pull_back"]

PULL_BACK_MODES = ("only_unlabelled", "overwrite", "skip")
PULL_BACK_STEP = "workspace.pull_back"


@dataclass(frozen=True)
class PullBack:
    """What :func:`pull_back` did.

    ``layer``: the parent's layer written; ``created``: it did not exist before; ``skipped``:
    ``mode="skip"`` left an existing layer alone; ``voxels_changed``: parent voxels whose value
    changed; ``conflicts``: ROI voxels labelled differently in both (kept or overwritten per
    ``mode``); ``chunks_written``: parent chunks rewritten.
    """

    parent: str
    layer: str
    mode: str
    roi: str
    created: bool
    skipped: bool
    voxels_changed: int
    conflicts: int
    chunks_written: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return asdict(self)


def _as_workspace(ws: Workspace | str | os.PathLike[str]) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws)


def _chunk_boxes(
    box: tuple[slice, ...], chunks: Sequence[int]
) -> Iterator[tuple[slice, slice, slice]]:
    """The parts of ``box`` that fall in one chunk each of a grid of ``chunks``."""
    ranges = []
    for s, c in zip(box, chunks):
        first, last = s.start // c, (s.stop - 1) // c
        ranges.append(
            [slice(max(s.start, k * c), min(s.stop, (k + 1) * c)) for k in range(first, last + 1)]
        )
    yield from product(*ranges)


def _pyramid(parent: Workspace, name: str, info: LayerInfo) -> list[tuple[Any, np.ndarray]]:
    """Strided levels (> 0) of a label layer with their factors relative to level 0."""
    out = []
    base = np.asarray(parent.level_spacing(name, 0))
    for level in range(1, info.levels):
        factors = np.rint(np.asarray(parent.level_spacing(name, level)) / base).astype(int)
        out.append((parent.open_array(name, mode="r+", level=level), factors))
    return out


def _update_levels(
    levels: list[tuple[Any, np.ndarray]], level0: Any, part: tuple[slice, ...]
) -> None:
    lo = np.array([s.start for s in part])
    hi = np.array([s.stop for s in part])
    for array, f in levels:
        jlo, jhi = -(-lo // f), -(-hi // f)
        if (jlo >= jhi).any():
            continue
        src = tuple(slice(int(a * k), int((b - 1) * k) + 1, int(k)) for a, b, k in zip(jlo, jhi, f))
        array[tuple(slice(int(a), int(b)) for a, b in zip(jlo, jhi))] = level0[src]


def _merge(old: np.ndarray, new: np.ndarray, mode: str) -> tuple[np.ndarray, int]:
    conflicts = int(np.count_nonzero((old != 0) & (new != 0) & (old != new)))
    if mode == "overwrite":
        return new, conflicts
    return np.where(old == 0, new, old), conflicts


def pull_back(
    ws: Workspace | str | os.PathLike[str],
    layer: str,
    *,
    into: str | None = None,
    mode: str = "only_unlabelled",
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> PullBack:
    """Write a layer of a sub-workspace into its parent at the region it was cut from.

    Only the parent's chunks that overlap the region are read and rewritten, one at a time;
    the rest of the parent's layer is untouched. A missing parent layer is created (zeros
    outside the region) with the same kind and label set; the label set is copied into the
    parent when it lacks it.

    Parameters
    ----------
    ws : Workspace or path
        The sub-workspace (made by :func:`create_roi_workspace`).
    layer : str
        Its layer to pull back (annotations, a prediction, ...).
    into : str, optional
        The parent's layer to write; default ``layer``.
    mode : {"only_unlabelled", "overwrite", "skip"}
        How to treat an existing parent layer. ``"only_unlabelled"`` (label-like layers only)
        fills only the parent's unlabelled (0) voxels with the sub-workspace's labels, keeping
        every parent label; ``"overwrite"`` replaces the region of the parent's layer by the
        sub-workspace's layer (its zeros erase); ``"skip"`` leaves an existing parent layer
        alone (a missing one is still created).
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress(done, total)`` counts parent chunks.

    Returns
    -------
    PullBack
        What was written, with the number of changed and conflicting voxels.

    Raises
    ------
    WorkspaceNotFoundError
        The parent is gone (see :func:`relink`).
    InvalidLayerError
        The layers' kinds or dtypes cannot be combined.

    Notes
    -----
    Edits of an existing parent layer are made in place (as painting is): they are not one
    atomic step, the layer's stored statistics are cleared (``ws.stats(name)`` recomputes
    them) and strided pyramid levels of label layers are updated. Do not paint the same parent
    layer while pulling back into it.
    """
    start = time.perf_counter()
    if mode not in PULL_BACK_MODES:
        raise ValueError(
            f"Expected mode as one of {', '.join(PULL_BACK_MODES)}, got {mode!r} instead"
        )
    child = _as_workspace(ws)
    info = child.layer(layer)
    parent = open_parent(child)
    link = roi_parent(child) or {}
    box = parse_roi(link["roi"], parent.shape)
    target = into or layer
    if tuple(s.stop - s.start for s in box) != child.shape:
        raise WorkspaceError(
            f"The region {link['roi']} recorded in {child.path} does not match its shape "
            f"{child.shape}; the catalog was edited by hand"
        )
    if mode == "only_unlabelled" and not info.is_label:
        raise InvalidLayerError(
            f"Layer {layer!r} is a {info.kind!r} layer without labels; mode='only_unlabelled' "
            "needs a label-like layer (0 = unlabelled). Use mode='overwrite' for it"
        )
    if info.label_set is not None:
        copy_label_set(child, parent, info.label_set)

    def result(**kw: Any) -> PullBack:
        out = PullBack(
            parent=str(parent.path),
            layer=target,
            mode=mode,
            roi=link["roi"],
            seconds=time.perf_counter() - start,
            **kw,
        )
        parent.record_run(
            PULL_BACK_STEP,
            params={**out.to_dict(), "child": str(child.path), "child_layer": layer},
            inputs=[],
            outputs=[] if out.skipped else [target],
            duration=out.seconds,
        )
        return out

    if target not in parent:
        data = child.get(layer)
        pad = [(s.start, n - s.stop) for s, n in zip(box, parent.shape)]
        placed = da.pad(data, pad, mode="constant", constant_values=0)
        parent.add_layer(
            target,
            placed.rechunk(parent.chunks),
            kind=info.kind,
            label_set=info.label_set,
            params={"pulled_back_from": {"path": str(child.path), "layer": layer, **link}},
            scheduler=scheduler,
            progress=progress,
        )
        changed = int(da.count_nonzero(data).compute(scheduler=scheduler))
        return result(
            created=True,
            skipped=False,
            voxels_changed=changed,
            conflicts=0,
            chunks_written=len(list(_chunk_boxes(box, parent.chunks))),
        )
    if mode == "skip":
        return result(created=False, skipped=True, voxels_changed=0, conflicts=0, chunks_written=0)
    return _merge_into(child, layer, parent, target, box, mode, info, result, progress)


def _merge_into(
    child: Workspace,
    layer: str,
    parent: Workspace,
    target: str,
    box: tuple[slice, ...],
    mode: str,
    info: LayerInfo,
    result: Callable[..., PullBack],
    progress: ProgressCallback | None,
) -> PullBack:
    pinfo = parent.layer(target)
    if pinfo.is_label != info.is_label or pinfo.name == RAW:
        raise InvalidLayerError(
            f"Cannot pull the {info.kind!r} layer {layer!r} into the parent's {pinfo.kind!r} "
            f"layer {target!r}; choose another target with into="
        )
    dtype = np.dtype(pinfo.dtype)
    if not np.can_cast(np.dtype(info.dtype), dtype, casting="safe"):
        data = child.get(layer)  # its stored stats may predate in-place painting: measure
        lo, hi = (float(v) for v in da.compute(data.min(), data.max()))
        if dtype.kind in "iu":
            fits = np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max
        else:
            fits = dtype.kind == "f"
        if not fits:
            raise InvalidLayerError(
                f"Layer {layer!r} holds values from {lo:g} to {hi:g}, which the parent's layer "
                f"{target!r} ({dtype}) cannot store; pull it back into a new layer (into=...)"
            )
    if pinfo.levels > 1 and not pinfo.is_label:
        raise InvalidLayerError(
            f"The parent's layer {target!r} has a block-mean pyramid that in-place edits would "
            "leave stale; pull back into a new layer (into=...) instead"
        )
    source = child.open_array(layer, mode="r")
    array = parent.open_array(target, mode="r+")
    dense = array.with_config({"write_empty_chunks": True})
    levels = _pyramid(parent, target, pinfo)
    parts = list(_chunk_boxes(box, tuple(int(c) for c in array.chunks)))
    changed = conflicts = written = 0
    for i, part in enumerate(parts):
        local = tuple(slice(p.start - b.start, p.stop - b.start) for p, b in zip(part, box))
        old = np.asarray(array[part])
        new = np.asarray(source[local]).astype(dtype, copy=False)
        merged, clash = _merge(old, new, mode)
        conflicts += clash
        diff = int(np.count_nonzero(merged != old))
        if diff:
            (dense if merged.any() else array)[part] = merged
            _update_levels(levels, array, part)
            changed += diff
            written += 1
        if progress is not None:
            progress(i + 1, len(parts))
    if written:
        with parent._catalog.write() as conn:
            conn.execute(
                "UPDATE layers SET stats = NULL WHERE name = ? AND directory = ?",
                (target, pinfo.directory),
            )
    return result(
        created=False,
        skipped=False,
        voxels_changed=changed,
        conflicts=conflicts,
        chunks_written=written,
    )
