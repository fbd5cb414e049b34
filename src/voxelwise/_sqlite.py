"""One SQLite file shared by threads and processes: short connections, explicit transactions.

Used by the workspace catalog and the server's job/user database. Every call opens its own
connection (autocommit mode, ``busy_timeout`` so concurrent writers wait instead of failing,
foreign keys on) and :meth:`SqliteStore.read` / :meth:`SqliteStore.write` wrap it in a
``BEGIN DEFERRED`` / ``BEGIN IMMEDIATE`` transaction that rolls back on any exception.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SqliteStore"]


class SqliteStore:
    """Base of the SQLite-backed stores; subclasses set the class attributes.

    Attributes
    ----------
    busy_timeout_s : float
        How long a connection waits for another writer before giving up.
    synchronous : str
        SQLite ``PRAGMA synchronous`` level (``"FULL"`` survives power loss, ``"NORMAL"``
        survives a crash of the process).
    """

    busy_timeout_s: float = 30.0
    synchronous: str = "FULL"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A consistent read snapshot."""
        return self._transaction("BEGIN DEFERRED")

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write transaction; other writers wait (up to ``busy_timeout_s``) until it ends."""
        return self._transaction("BEGIN IMMEDIATE")
