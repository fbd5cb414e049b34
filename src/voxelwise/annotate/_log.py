"""The edit log: an append-only table ``annotation_edits`` in the workspace's ``catalog.sqlite``.

Every edit appends one row: what was done (``kind``, label, parameters), the bounding box of
the voxels it changed, when and by whom, and, for edits that change voxels, the changed voxels
themselves (flat indices, previous and new values; zlib-compressed) so undo restores exactly and
redo re-applies exactly. Undo and redo are appended as rows too; nothing is ever deleted.

Rows belong to one stored version of a layer (its ``directory``): replacing a layer with
``add_layer(..., overwrite=True)`` starts a fresh history.

Edits run inside a ``BEGIN IMMEDIATE`` transaction on this database, held around the
read-modify-write of the touched chunks, so edits from several processes are serialised and
none loses another's voxels.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.errors import WorkspaceNotFoundError
from voxelwise.workspace import Workspace

__all__ = [
    "EDIT_KINDS",
    "Changes",
    "Edit",
    "begin",
    "connect",
    "decode_changes",
    "insert",
    "stacks",
    "transaction",
]

CATALOG = "catalog.sqlite"  # docs/design/workspace-format.md
BUSY_TIMEOUT_S = 60.0
EDIT_KINDS = ("paint", "erase", "supervoxels", "fill", "interpolate")
BASE_KINDS = ("import",)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS annotation_edits (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        layer TEXT NOT NULL,
        directory TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT,
        value INTEGER,
        target INTEGER,
        z0 INTEGER, z1 INTEGER, y0 INTEGER, y1 INTEGER, x0 INTEGER, x1 INTEGER,
        voxels INTEGER NOT NULL,
        time TEXT NOT NULL,
        author TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        dtype TEXT,
        indices BLOB,
        old BLOB,
        new BLOB
    )""",
    "CREATE INDEX IF NOT EXISTS annotation_edits_directory ON annotation_edits (directory, id)",
)
_COLUMNS = (
    "id, layer, kind, label, value, target, z0, z1, y0, y1, x0, x1, voxels, time, author, params"
)

Bbox = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class Edit:
    """One entry of a layer's edit log.

    ``kind`` is ``"paint"``, ``"erase"``, ``"supervoxels"``, ``"fill"``, ``"interpolate"``,
    ``"import"`` (the layer's initial content), ``"undo"`` or ``"redo"`` (``target`` is then the
    id of the edit undone or redone). ``bbox`` is the half-open box ``((z0, z1), (y0, y1),
    (x0, x1))`` of the voxels changed (``None`` when none changed), ``voxels`` their number.
    ``applied`` (from :func:`history`) tells whether an edit is in effect now, i.e. not undone.
    An edit that changed nothing is not recorded and has ``id=None``.
    """

    id: int | None
    layer: str
    kind: str
    label: str | None
    value: int | None
    bbox: Bbox | None
    voxels: int
    time: datetime
    author: str | None
    target: int | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    applied: bool = True

    @property
    def roi(self) -> tuple[slice, slice, slice] | None:
        """``bbox`` as three slices, ready for indexing a layer."""
        if self.bbox is None:
            return None
        return tuple(slice(a, b) for a, b in self.bbox)  # type: ignore[return-value]


@dataclass
class Changes:
    """Voxels changed by an edit: flat indices into the layer (sorted), old and new values."""

    indices: np.ndarray
    old: np.ndarray
    new: np.ndarray

    def bbox(self, shape: tuple[int, ...]) -> Bbox | None:
        if self.indices.size == 0:
            return None
        coords = np.unravel_index(self.indices, shape)
        return tuple((int(c.min()), int(c.max()) + 1) for c in coords)  # type: ignore[return-value]


def _catalog_path(ws: Workspace) -> Path:
    path = ws.path / CATALOG
    if not path.is_file():
        raise WorkspaceNotFoundError(f"{ws.path} has no {CATALOG}; is it a voxelwise workspace?")
    return path


@contextlib.contextmanager
def connect(ws: Workspace) -> Iterator[sqlite3.Connection]:
    """A connection to the edit log (the workspace's catalog), closed on exit.

    Open it before other catalog queries of the same operation: SQLite checkpoints the WAL
    whenever the last connection to a database closes, which costs milliseconds, so short
    connections opened and closed while this one is open stay cheap.
    """
    conn = sqlite3.connect(_catalog_path(ws), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across process crashes
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def begin(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """A transaction; ``write=True`` takes the database's write lock at once (``BEGIN
    IMMEDIATE``), so edits of all processes run one after another."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
    try:
        if write:
            for statement in _SCHEMA:
                conn.execute(statement)
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def transaction(ws: Workspace, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """:func:`connect` and :func:`begin` in one."""
    with connect(ws) as conn, begin(conn, write=write):
        yield conn


def has_log(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'annotation_edits'"
    ).fetchone()
    return row is not None


def _pack(values: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(values).tobytes(), 1)


def _unpack(blob: bytes, dtype: Any) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype=dtype)


def insert(
    conn: sqlite3.Connection,
    *,
    layer: str,
    directory: str,
    kind: str,
    label: str | None,
    value: int | None,
    bbox: Bbox | None,
    voxels: int,
    author: str | None,
    target: int | None = None,
    params: dict[str, Any] | None = None,
    changes: Changes | None = None,
) -> Edit:
    """Append one entry; ``changes`` (for edits, not undo/redo) is stored compressed."""
    now = datetime.now(UTC)
    box = [v for pair in bbox for v in pair] if bbox is not None else [None] * 6
    payload: list[Any] = [None, None, None, None]
    if changes is not None:
        deltas = np.diff(changes.indices.astype(np.int64), prepend=np.int64(0))
        payload = [
            str(changes.old.dtype),
            _pack(deltas),
            _pack(changes.old),
            _pack(changes.new),
        ]
    text = json.dumps(params or {}, default=str)
    cursor = conn.execute(
        "INSERT INTO annotation_edits (layer, directory, kind, label, value, target, z0, z1, "
        "y0, y1, x0, x1, voxels, time, author, params, dtype, indices, old, new) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            layer,
            directory,
            kind,
            label,
            value,
            target,
            *box,
            int(voxels),
            now.isoformat(),
            author,
            text,
            *payload,
        ),
    )
    return Edit(
        id=int(cursor.lastrowid or 0),
        layer=layer,
        kind=kind,
        label=label,
        value=value,
        bbox=bbox,
        voxels=int(voxels),
        time=now,
        author=author,
        target=target,
        params=json.loads(text),
    )


def edit_from_row(row: sqlite3.Row, *, applied: bool = True) -> Edit:
    bbox = None
    if row["z0"] is not None:
        bbox = ((row["z0"], row["z1"]), (row["y0"], row["y1"]), (row["x0"], row["x1"]))
    return Edit(
        id=int(row["id"]),
        layer=row["layer"],
        kind=row["kind"],
        label=row["label"],
        value=row["value"],
        bbox=bbox,
        voxels=int(row["voxels"]),
        time=datetime.fromisoformat(row["time"]),
        author=row["author"],
        target=row["target"],
        params=json.loads(row["params"]),
        applied=applied,
    )


def rows(conn: sqlite3.Connection, directory: str) -> list[sqlite3.Row]:
    """All entries of one stored layer version, oldest first (without the voxel payloads)."""
    if not has_log(conn):
        return []
    return conn.execute(
        f"SELECT {_COLUMNS} FROM annotation_edits WHERE directory = ? ORDER BY id", (directory,)
    ).fetchall()


def stacks(entries: list[sqlite3.Row]) -> tuple[list[int], list[int]]:
    """Replay the log into editor stacks: ids of applied edits, and of undone ones (redo order).

    A new edit clears the redo stack; an import starts the history afresh.
    """
    done: list[int] = []
    undone: list[int] = []
    for r in entries:
        kind = r["kind"]
        if kind in EDIT_KINDS:
            done.append(int(r["id"]))
            undone.clear()
        elif kind in BASE_KINDS:
            done.clear()
            undone.clear()
        elif kind == "undo" and done and done[-1] == r["target"]:
            undone.append(done.pop())
        elif kind == "redo" and undone and undone[-1] == r["target"]:
            done.append(undone.pop())
    return done, undone


def decode_changes(conn: sqlite3.Connection, edit_id: int) -> tuple[sqlite3.Row, Changes]:
    """An edit's row and its stored changes."""
    row = conn.execute(
        f"SELECT {_COLUMNS}, dtype, indices, old, new FROM annotation_edits WHERE id = ?",
        (edit_id,),
    ).fetchone()
    dtype = np.dtype(row["dtype"])
    indices = np.cumsum(_unpack(row["indices"], np.int64))
    return row, Changes(indices, _unpack(row["old"], dtype), _unpack(row["new"], dtype))
