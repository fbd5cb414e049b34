"""Chunk-local read-modify-write of a layer under the edit log's lock, with change recording.

An edit visits chunks one at a time: it asks the operation which voxels of the chunk it may
change (``select``, computed without reading the layer; chunks it does not touch are never
read), reads that one chunk, computes the new values of the selected sub-box (``apply``),
and writes the chunk back only if a voxel changed. Memory stays at one chunk whatever the size
of the edit or of the volume. Label pyramids (strided levels) are updated where they sample a
changed voxel.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import zarr

from voxelwise.annotate._geometry import Box, ChunkIndex, chunk_box
from voxelwise.annotate._labels import check_editable
from voxelwise.annotate._log import Changes, Edit, begin, connect, insert
from voxelwise.workspace import LayerInfo, Workspace

__all__ = ["Locked", "apply_changes", "edit_chunks", "lock_layer", "record"]

Select = Callable[[Box], "tuple[Box, np.ndarray] | None"]
Apply = Callable[[np.ndarray, np.ndarray, Box], np.ndarray]


@dataclass
class Locked:
    """A layer opened for editing while this process holds the edit log's write lock."""

    ws: Workspace
    conn: sqlite3.Connection
    info: LayerInfo
    array: zarr.Array
    pyramid: list[tuple[zarr.Array, tuple[int, int, int]]] = field(default_factory=list)

    @functools.cached_property
    def dense(self) -> zarr.Array:
        """The array, writing chunks without testing whether they are all 0."""
        return self.array.with_config({"write_empty_chunks": True})

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def chunks(self) -> tuple[int, int, int]:
        return tuple(int(c) for c in self.array.chunks)  # type: ignore[return-value]


LOCKS = ".annotation-locks"


@contextlib.contextmanager
def _queue(ws: Workspace, name: str) -> Iterator[None]:
    """Wait in line for layer ``name``: an exclusive ``flock`` on a per-layer lock file.

    SQLite's busy handler polls (sleeping up to 100 ms between tries), so a process editing in
    a tight loop would starve the others; a blocking ``flock`` wakes the waiter as soon as the
    lock is free. The edit log's transaction, taken next, is what makes edits safe; this lock
    only makes the wait fair (and is skipped where ``fcntl`` does not exist).
    """
    try:
        import fcntl
    except ImportError:  # Windows: the SQLite lock alone serialises edits
        yield
        return
    folder = ws.path / LOCKS
    folder.mkdir(exist_ok=True)
    with open(folder / f"{name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def lock_layer(ws: Workspace, name: str) -> Iterator[Locked]:
    """Take the edit log's write lock and open layer ``name`` for in-place edits.

    The lock also blocks layer replacement and deletion (they write the same catalog), so the
    layer's stored version cannot change while the edit runs.
    """
    with connect(ws) as conn, _queue(ws, name), begin(conn):
        info = ws.layer(name)
        check_editable(info)
        array = ws.open_array(name, mode="r+")
        pyramid = []
        if info.levels > 1:
            base = np.asarray(ws.level_spacing(name, 0))
            for level in range(1, info.levels):
                ratio = np.asarray(ws.level_spacing(name, level)) / base
                factors = tuple(round(float(r)) for r in ratio)
                level_array = ws.open_array(name, mode="r+", level=level)
                dense = level_array.with_config({"write_empty_chunks": True})
                pyramid.append((dense, factors))
        yield Locked(ws, conn, info, array, pyramid)  # type: ignore[arg-type]


def read_block(array: Any, box: Box) -> np.ndarray:
    """The values of ``array`` (zarr, numpy, dask, ...) in ``box`` as a writable numpy array."""
    block = np.asarray(array[box])
    return block if block.flags.writeable else block.copy()


def _update_pyramid(
    lk: Locked, block: np.ndarray, box: Box, lo: np.ndarray, hi: np.ndarray
) -> None:
    """Rewrite the voxels of strided levels sampled from the changed sub-box ``[lo, hi)``."""
    start = np.array([s.start for s in box])
    for level, factors in lk.pyramid:
        f = np.asarray(factors)
        glo, ghi = lo + start, hi + start
        jlo, jhi = -(-glo // f), -(-ghi // f)
        if (jlo >= jhi).any():
            continue
        src = tuple(
            slice(int(a * k - s), int((b - 1) * k - s) + 1, int(k))
            for a, b, k, s in zip(jlo, jhi, f, start)
        )
        level[tuple(slice(int(a), int(b)) for a, b in zip(jlo, jhi))] = block[src]


def _write(lk: Locked, box: Box, block: np.ndarray, local: tuple[np.ndarray, ...]) -> None:
    # zarr's own test for an all-fill chunk costs more than encoding and storing it, so test
    # here (cheaply) and write non-empty chunks without it; empty ones go through the default
    # path, which deletes the chunk.
    if block.any():
        lk.dense[box] = block
    else:
        lk.array[box] = block
    if lk.pyramid:
        lo = np.array([c.min() for c in local])
        hi = np.array([c.max() + 1 for c in local])
        _update_pyramid(lk, block, box, lo, hi)


class _Recorder:
    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.shape = shape
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(
        self, box: Box, local: tuple[np.ndarray, ...], old: np.ndarray, new: np.ndarray
    ) -> None:
        coords = tuple(c + s.start for c, s in zip(local, box))
        self.parts.append((np.ravel_multi_index(coords, self.shape), old, new))

    def changes(self, dtype: Any) -> Changes:
        if not self.parts:
            empty = np.zeros(0, dtype=dtype)
            return Changes(np.zeros(0, np.int64), empty, empty)
        idx = np.concatenate([p[0] for p in self.parts]).astype(np.int64)
        order = np.argsort(idx, kind="stable")
        old = np.concatenate([p[1] for p in self.parts])[order]
        new = np.concatenate([p[2] for p in self.parts])[order]
        return Changes(idx[order], old, new)


def edit_chunks(lk: Locked, chunks: Iterable[ChunkIndex], select: Select, apply: Apply) -> Changes:
    """Run an edit over ``chunks`` (an iterable that may grow while it is consumed).

    ``select(box)`` gives the voxels of the chunk at ``box`` the edit considers, as a sub-box
    relative to ``box`` and a boolean mask, or None to skip the chunk unread. ``apply(old, mask,
    sub)`` gets the current values of the sub-box ``sub`` (absolute) and returns its new values.
    If anything fails half-way, the chunks written so far are restored before the error rises.
    """
    rec = _Recorder(lk.shape)
    try:
        for index in chunks:
            box = chunk_box(index, lk.chunks, lk.shape)
            picked = select(box)
            if picked is None:
                continue
            sub, mask = picked
            block = read_block(lk.array, box)
            view = block[sub]
            absolute = tuple(slice(s.start + b.start, s.stop + b.start) for s, b in zip(sub, box))
            new = np.asarray(apply(view, mask, absolute), dtype=block.dtype)  # type: ignore[arg-type]
            changed = np.nonzero(new != view)
            if changed[0].size == 0:
                continue
            old_values = view[changed].copy()
            view[...] = new
            local = tuple(c + s.start for c, s in zip(changed, sub))
            rec.add(box, local, old_values, new[changed])
            _write(lk, box, block, local)
    except BaseException:
        with contextlib.suppress(Exception):
            done = rec.changes(lk.array.dtype)
            apply_changes(lk, done.indices, expect=done.new, put=done.old)
        raise
    return rec.changes(lk.array.dtype)


def apply_changes(
    lk: Locked, indices: np.ndarray, *, expect: np.ndarray, put: np.ndarray
) -> Changes:
    """Set ``put`` at the voxels ``indices`` that still hold ``expect`` (undo: expect the edit's
    new values, put the old ones; redo the reverse). Voxels changed since by another edit are
    left alone. Returns what actually changed."""
    rec = _Recorder(lk.shape)
    if indices.size == 0:
        return rec.changes(lk.array.dtype)
    coords = np.unravel_index(indices, lk.shape)
    grid = tuple(-(-s // c) for s, c in zip(lk.shape, lk.chunks))
    chunk_ids = np.ravel_multi_index(tuple(c // k for c, k in zip(coords, lk.chunks)), grid)
    order = np.argsort(chunk_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(chunk_ids[order])) + 1
    for part in np.split(order, bounds):
        index = tuple(int(c[part[0]]) // k for c, k in zip(coords, lk.chunks))
        box = chunk_box(index, lk.chunks, lk.shape)  # type: ignore[arg-type]
        local = tuple(c[part] - s.start for c, s in zip(coords, box))
        block = read_block(lk.array, box)
        keep = block[local] == expect[part]
        if not keep.any():
            continue
        local = tuple(c[keep] for c in local)
        old_values = block[local].copy()
        block[local] = put[part][keep]
        rec.add(box, local, old_values, block[local])
        _write(lk, box, block, local)
    return rec.changes(lk.array.dtype)


def record(
    lk: Locked,
    kind: str,
    changes: Changes,
    *,
    label: str | None,
    value: int | None,
    author: str | None,
    params: dict[str, Any],
) -> Edit:
    """Append an edit to the log (an edit that changed nothing is returned unrecorded)."""
    bbox = changes.bbox(lk.shape)
    if changes.indices.size == 0:
        return Edit(
            None,
            lk.info.name,
            kind,
            label,
            value,
            None,
            0,
            datetime.now(UTC),
            author,
            params=params,
        )
    return insert(
        lk.conn,
        layer=lk.info.name,
        directory=lk.info.directory,
        kind=kind,
        label=label,
        value=value,
        bbox=bbox,
        voxels=int(changes.indices.size),
        author=author,
        params=params,
        changes=changes,
    )
