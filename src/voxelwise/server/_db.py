"""The server's SQLite database (``<data_root>/.voxelwise/server.sqlite``): users, tokens, roles,
jobs and job logs.

WAL mode, so readers never wait for the writer; every write is a short ``BEGIN IMMEDIATE``
transaction on its own connection, so the object is only a path and is safe to share between
threads. Only the server process writes it (workers report through the dask scheduler), so it
can stay on a local disk even when workers run on other machines.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime
from pathlib import Path

from voxelwise._sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "ServerDB", "utc_now"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    admin INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users (name),
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE roles (
    workspace TEXT NOT NULL,
    user TEXT NOT NULL REFERENCES users (name),
    role TEXT NOT NULL,
    PRIMARY KEY (workspace, user)
);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    workspace TEXT,
    kind TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL,
    gpu INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    started TEXT,
    updated TEXT NOT NULL,
    finished TEXT,
    result TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    run TEXT,
    worker TEXT,
    resubmitted_from TEXT
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_workspace ON jobs (workspace, created);
CREATE TABLE job_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    time TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job, id);
"""


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


class ServerDB(SqliteStore):
    """Short-lived connections to the server database; :meth:`open` creates it when missing."""

    busy_timeout_s = BUSY_TIMEOUT_S
    synchronous = "NORMAL"

    @classmethod
    def open(cls, path: Path) -> tuple[ServerDB, bool]:
        """Open the database at ``path``, creating it (schema, server id) if needed.

        Returns the database and whether it was created now.
        """
        db = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        created = False
        with db._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('server_id', ?)",
                        (secrets.token_hex(8),),
                    )
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('created', ?)", (utc_now(),)
                    )
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    created = True
                elif version > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{path} was written by a newer voxelwise (schema {version}, this one "
                        f"reads {SCHEMA_VERSION}); upgrade voxelwise"
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        with contextlib.suppress(OSError):
            path.chmod(0o600)
        return db, created

    def meta(self, key: str) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
