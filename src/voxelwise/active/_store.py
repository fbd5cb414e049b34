"""Campaign records in the workspace's ``catalog.sqlite``: tables ``active_campaigns`` and
``active_rounds``.

The tables live beside the workspace's own (they are created on first use; the workspace
package never reads them). Every change is one ``BEGIN IMMEDIATE`` transaction, so several
processes (a server's workers, a notebook) can drive one campaign without losing records.
Lists and dicts are stored as JSON text, times as ISO 8601 UTC.

``active_campaigns``: ``name`` (primary key), ``params`` (the settings), ``state`` (current
model, trainer process while an update runs), ``created``, ``updated``.
``active_rounds``: ``campaign``, ``round`` (from 1), ``status`` (``open``, ``training``,
``trained``), ``proposals`` (every proposal of the round), ``submissions`` (every submission:
what was written, which proposals are answered, extra labelled patches), ``training`` (the
patches used, model file, steps, time), ``metrics``, ``started``, ``finished``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CATALOG", "CampaignStore", "dumps", "now"]

CATALOG = "catalog.sqlite"  # docs/design/workspace-format.md
BUSY_TIMEOUT_S = 60.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS active_campaigns (
        name TEXT PRIMARY KEY,
        params TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS active_rounds (
        campaign TEXT NOT NULL,
        round INTEGER NOT NULL,
        status TEXT NOT NULL,
        proposals TEXT NOT NULL DEFAULT '[]',
        submissions TEXT NOT NULL DEFAULT '[]',
        training TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        started TEXT NOT NULL,
        finished TEXT,
        PRIMARY KEY (campaign, round)
    )""",
)


def now() -> str:
    return datetime.now(UTC).isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(value: Any) -> str:
    """Strict JSON (NumPy values and paths converted, NaN and infinities as null)."""
    return json.dumps(_plain(value), allow_nan=False)


class CampaignStore:
    """Short-lived connections to one workspace catalog, for campaign records."""

    def __init__(self, workspace_path: Path) -> None:
        self.path = Path(workspace_path) / CATALOG

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA synchronous = FULL")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction (``BEGIN IMMEDIATE`` for writes), tables created on first use."""
        with self._connect() as conn:
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

    def _has_tables(self, conn: sqlite3.Connection) -> bool:
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'active_campaigns'"
        ).fetchone()
        return row is not None

    def campaign(self, name: str) -> dict[str, Any] | None:
        """The campaign's row as a dict (params and state decoded), or None."""
        with self.transaction(write=False) as conn:
            if not self._has_tables(conn):
                return None
            row = conn.execute("SELECT * FROM active_campaigns WHERE name = ?", (name,)).fetchone()
        return None if row is None else _campaign(row)

    def names(self) -> list[str]:
        with self.transaction(write=False) as conn:
            if not self._has_tables(conn):
                return []
            rows = conn.execute("SELECT name FROM active_campaigns ORDER BY created").fetchall()
        return [r["name"] for r in rows]

    def rounds(self, name: str) -> list[dict[str, Any]]:
        with self.transaction(write=False) as conn:
            if not self._has_tables(conn):
                return []
            rows = conn.execute(
                "SELECT * FROM active_rounds WHERE campaign = ? ORDER BY round", (name,)
            ).fetchall()
        return [round_row(r) for r in rows]


def _campaign(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "name": row["name"],
        "params": json.loads(row["params"]),
        "state": json.loads(row["state"]),
        "created": row["created"],
        "updated": row["updated"],
    }


def round_row(row: sqlite3.Row) -> dict[str, Any]:
    """A round's row as a plain dict."""
    return {
        "round": int(row["round"]),
        "status": row["status"],
        "proposals": json.loads(row["proposals"]),
        "submissions": json.loads(row["submissions"]),
        "training": None if row["training"] is None else json.loads(row["training"]),
        "metrics": json.loads(row["metrics"]),
        "started": row["started"],
        "finished": row["finished"],
    }
