"""The SQLite catalog (``catalog.sqlite``): schema, migrations, connections, row conversion.

The catalog is the source of truth of a workspace. It runs in WAL mode so readers never block
the writer, every write is a ``BEGIN IMMEDIATE`` transaction (serialised across processes with a
busy timeout), and ``PRAGMA user_version`` holds the schema version so later releases can migrate.
Each operation opens its own short-lived connection: a :class:`Catalog` is just a path, safe to
share between threads and to pickle to other processes.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from voxelwise._sqlite import SqliteStore
from voxelwise.errors import WorkspaceError, WorkspaceNotFoundError
from voxelwise.workspace._records import (
    JobInfo,
    LabelInfo,
    LayerInfo,
    RunInfo,
    from_json,
    to_json,
    utc_now,
)

__all__ = ["BUSY_TIMEOUT_S", "SCHEMA_VERSION", "Catalog"]

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 60.0

_SCHEMA_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE layers (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    chunks TEXT NOT NULL,
    directory TEXT NOT NULL UNIQUE,
    levels INTEGER NOT NULL,
    sources TEXT NOT NULL DEFAULT '[]',
    params TEXT NOT NULL DEFAULT '{}',
    label_set TEXT,
    software_version TEXT NOT NULL,
    created TEXT NOT NULL,
    duration REAL NOT NULL,
    stats TEXT
);
CREATE TABLE labels (
    label_set TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    color TEXT NOT NULL,
    parent TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (label_set, name),
    UNIQUE (label_set, value),
    FOREIGN KEY (label_set, parent) REFERENCES labels (label_set, name) ON UPDATE CASCADE
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    inputs TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    versions TEXT NOT NULL DEFAULT '{}',
    started TEXT NOT NULL,
    duration REAL
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE INDEX jobs_state ON jobs (state);
CREATE TABLE pending (
    directory TEXT PRIMARY KEY,
    layer TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_started REAL,
    started TEXT NOT NULL
);
"""

# MIGRATIONS[v] upgrades a catalog from schema version v to v + 1.
MIGRATIONS: dict[int, str] = {
    # version 2: the model registry
    1: """
CREATE TABLE models (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    file TEXT NOT NULL,
    architecture TEXT NOT NULL,
    label_set TEXT,
    classes TEXT NOT NULL DEFAULT '[]',
    provenance TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    software_version TEXT NOT NULL,
    created TEXT NOT NULL
);
""",
}


def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def owner_alive(host: str, pid: int, pid_started: float | None) -> bool:
    """Whether the process that registered a pending write may still be running.

    Processes on other hosts cannot be checked and count as alive (their directories are kept).
    """
    if host != socket.gethostname():
        return True
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = proc.create_time()
    except (psutil.Error, OSError):
        return False
    return pid_started is None or abs(started - pid_started) < 1.0


class Catalog(SqliteStore):
    """Access to one ``catalog.sqlite``: short connections, read snapshots and write transactions."""

    busy_timeout_s = BUSY_TIMEOUT_S
    synchronous = "FULL"

    # -- creation and versioning -------------------------------------------------------------

    @classmethod
    def initialize(cls, path: Path, meta: dict[str, Any]) -> Catalog:
        """Create a new catalog file with the current schema and the workspace's ``meta``."""
        catalog = cls(path)
        with catalog._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            scripts = [_SCHEMA_V1, *(MIGRATIONS[v] for v in range(1, SCHEMA_VERSION))]
            for statement in ";".join(scripts).split(";"):  # executescript would commit early
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, to_json(v)) for k, v in meta.items()],
            )
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        return catalog

    def check_version(self) -> None:
        """Raise if the catalog is not a workspace catalog; migrate an older schema in place."""
        try:
            with self._connect() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    raise WorkspaceNotFoundError(
                        f"{self.path} is not a voxelwise catalog (no schema version); "
                        "create a workspace with Workspace.create(path, image)"
                    )
                if version > SCHEMA_VERSION:
                    raise WorkspaceError(
                        f"The workspace at {self.path.parent} was written by a newer voxelwise "
                        f"(catalog schema {version}, this one reads up to {SCHEMA_VERSION}); "
                        "upgrade voxelwise to open it"
                    )
                if version < SCHEMA_VERSION:
                    conn.execute("BEGIN IMMEDIATE")
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    for v in range(version, SCHEMA_VERSION):
                        for statement in MIGRATIONS[v].split(";"):
                            if statement.strip():
                                conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise WorkspaceNotFoundError(
                f"{self.path} is not a readable voxelwise catalog ({e}); "
                "create a workspace with Workspace.create(path, image)"
            ) from e

    def meta(self) -> dict[str, Any]:
        with self.read() as conn:
            rows = conn.execute("SELECT key, value FROM meta").fetchall()
        return {r["key"]: from_json(r["value"]) for r in rows}

    # -- pending writes ----------------------------------------------------------------------

    def add_pending(self, directory: str, layer: str) -> None:
        """Register a layer directory about to be written by this process."""
        pid = os.getpid()
        with self.write() as conn:
            conn.execute(
                "INSERT INTO pending (directory, layer, host, pid, pid_started, started) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    directory,
                    layer,
                    socket.gethostname(),
                    pid,
                    _process_started(pid),
                    utc_now().isoformat(),
                ),
            )

    def drop_pending(self, directory: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM pending WHERE directory = ?", (directory,))


# -- row conversion ---------------------------------------------------------------------------


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def layer_from_row(row: sqlite3.Row) -> LayerInfo:
    return LayerInfo(
        name=row["name"],
        kind=row["kind"],
        dtype=row["dtype"],
        shape=tuple(from_json(row["shape"])),
        chunks=tuple(from_json(row["chunks"])),
        directory=row["directory"],
        levels=int(row["levels"]),
        sources=tuple(from_json(row["sources"])),
        params=from_json(row["params"]),
        label_set=row["label_set"],
        software_version=row["software_version"],
        created=_time(row["created"]),
        duration=float(row["duration"]),
        stats=from_json(row["stats"]),
    )


def layer_to_params(info: LayerInfo) -> dict[str, Any]:
    """Column values for inserting ``info`` into the layers table."""
    return {
        "name": info.name,
        "kind": info.kind,
        "dtype": info.dtype,
        "shape": to_json(list(info.shape)),
        "chunks": to_json(list(info.chunks)),
        "directory": info.directory,
        "levels": info.levels,
        "sources": to_json(list(info.sources)),
        "params": to_json(info.params),
        "label_set": info.label_set,
        "software_version": info.software_version,
        "created": info.created.isoformat(),
        "duration": info.duration,
        "stats": None if info.stats is None else to_json(info.stats),
    }


UPSERT_LAYER = (
    "INSERT INTO layers (name, kind, dtype, shape, chunks, directory, levels, sources, params, "
    "label_set, software_version, created, duration, stats) VALUES (:name, :kind, :dtype, "
    ":shape, :chunks, :directory, :levels, :sources, :params, :label_set, :software_version, "
    ":created, :duration, :stats) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
    "dtype = excluded.dtype, shape = excluded.shape, chunks = excluded.chunks, "
    "directory = excluded.directory, levels = excluded.levels, sources = excluded.sources, "
    "params = excluded.params, label_set = excluded.label_set, "
    "software_version = excluded.software_version, created = excluded.created, "
    "duration = excluded.duration, stats = excluded.stats"
)


def label_from_row(row: sqlite3.Row) -> LabelInfo:
    return LabelInfo(
        label_set=row["label_set"],
        name=row["name"],
        value=int(row["value"]),
        color=tuple(from_json(row["color"])),
        parent=row["parent"],
    )


def run_from_row(row: sqlite3.Row) -> RunInfo:
    return RunInfo(
        id=int(row["id"]),
        step=row["step"],
        params=from_json(row["params"]),
        inputs=tuple(from_json(row["inputs"])),
        outputs=tuple(from_json(row["outputs"])),
        versions=from_json(row["versions"]),
        started=_time(row["started"]),
        duration=None if row["duration"] is None else float(row["duration"]),
    )


def job_from_row(row: sqlite3.Row) -> JobInfo:
    return JobInfo(
        id=row["id"],
        kind=row["kind"],
        state=row["state"],
        progress=float(row["progress"]),
        message=row["message"],
        created=_time(row["created"]),
        updated=_time(row["updated"]),
        result=from_json(row["result"]),
        error=row["error"],
    )
