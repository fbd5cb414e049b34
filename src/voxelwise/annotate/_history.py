"""Undo, redo and the history of a layer's edits."""

from __future__ import annotations

from voxelwise.annotate._engine import apply_changes, lock_layer
from voxelwise.annotate._log import (
    EDIT_KINDS,
    Edit,
    begin,
    connect,
    decode_changes,
    edit_from_row,
    insert,
    rows,
    stacks,
)
from voxelwise.workspace import Workspace

__all__ = ["history", "redo", "undo"]


def _step(ws: Workspace, layer: str, *, forward: bool, author: str | None) -> Edit | None:
    with lock_layer(ws, layer) as lk:
        done, undone = stacks(rows(lk.conn, lk.info.directory))
        stack = undone if forward else done
        if not stack:
            return None
        target = stack[-1]
        row, changes = decode_changes(lk.conn, target)
        if forward:
            applied = apply_changes(lk, changes.indices, expect=changes.old, put=changes.new)
        else:
            applied = apply_changes(lk, changes.indices, expect=changes.new, put=changes.old)
        return insert(
            lk.conn,
            layer=lk.info.name,
            directory=lk.info.directory,
            kind="redo" if forward else "undo",
            label=row["label"],
            value=row["value"],
            bbox=applied.bbox(lk.shape),
            voxels=int(applied.indices.size),
            author=author,
            target=target,
            params={
                "kind": row["kind"],
                "conflicts": int(changes.indices.size - applied.indices.size),
            },
        )


def undo(ws: Workspace, layer: str, *, author: str | None = None) -> Edit | None:
    """Undo the last edit of ``layer`` still in effect (by any process or author).

    The changed voxels get their previous values back, exactly; voxels another edit changed
    since are left as they are (their number is ``params["conflicts"]`` of the result). The
    undo is appended to the edit log; a following :func:`redo` re-applies the edit.

    Returns
    -------
    Edit or None
        The ``"undo"`` log entry (``target`` is the undone edit's id), or None when there is
        nothing to undo.
    """
    return _step(ws, layer, forward=False, author=author)


def redo(ws: Workspace, layer: str, *, author: str | None = None) -> Edit | None:
    """Re-apply the last undone edit of ``layer``, exactly; None when there is nothing to redo.

    A new edit after an undo clears what can be redone, as in an editor.
    """
    return _step(ws, layer, forward=True, author=author)


def history(ws: Workspace, layer: str, *, limit: int | None = None) -> list[Edit]:
    """The edit log of ``layer``'s current version, oldest first (the last ``limit`` entries).

    Each :class:`Edit` tells its kind, label, changed box and voxel count, time and author;
    ``applied`` is False for edits undone (and not redone) since.
    """
    with connect(ws) as conn:
        info = ws.layer(layer)
        with begin(conn, write=False):
            entries = rows(conn, info.directory)
    done, _ = stacks(entries)
    active = set(done)
    out = [
        edit_from_row(r, applied=r["kind"] not in EDIT_KINDS or int(r["id"]) in active)
        for r in entries
    ]
    if limit is not None:
        out = out[-int(limit) :] if limit > 0 else []
    return out
