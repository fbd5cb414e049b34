"""The job table: states, progress, logs and results, kept in the server database.

States: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``cancelled``; a job the server
lost track of (it stopped while the job was queued or running) becomes ``interrupted`` at the
next start and can be resubmitted. Final states never change again, so late reports of a job
(from a worker that outlived the server) cannot resurrect it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from voxelwise.errors import VoxelwiseError
from voxelwise.server._db import ServerDB, utc_now

__all__ = ["ACTIVE", "FINAL", "JOB_STATES", "JobNotFoundError", "JobStateError", "JobStore"]

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled", "interrupted")
MAX_LOG_LINES = 2000


class JobNotFoundError(VoxelwiseError, KeyError):
    """No job with that id."""

    def __str__(self) -> str:
        return str(self.args[0])


class JobStateError(VoxelwiseError, FileExistsError):
    """The job is not in a state that allows the request (e.g. resubmitting a running job)."""


def _row(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["params"] = json.loads(d["params"] or "{}")
    d["result"] = None if d["result"] is None else json.loads(d["result"])
    d["gpu"] = bool(d["gpu"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    d.pop("run", None)
    return d


class JobStore:
    """CRUD on the ``jobs`` and ``job_logs`` tables."""

    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def create(
        self,
        kind: str,
        *,
        workspace: str | None,
        params: dict[str, Any],
        owner: str,
        gpu: bool = False,
        resubmitted_from: str | None = None,
    ) -> dict[str, Any]:
        job_id = uuid.uuid4().hex[:16]
        now = utc_now()
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO jobs (id, workspace, kind, params, state, owner, gpu, created, "
                "updated, resubmitted_from, message) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    workspace,
                    kind,
                    json.dumps(params),
                    owner,
                    int(gpu),
                    now,
                    now,
                    resubmitted_from,
                    "waiting for a worker",
                ),
            )
            self._log(
                conn, job_id, "info", f"queued {kind}" + (f" on {workspace}" if workspace else "")
            )
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"No job with id {job_id!r}; list jobs with GET /jobs")
        return _row(row)

    def find(
        self,
        *,
        workspace: str | None = None,
        state: str | None = None,
        owner: str | None = None,
        visible_workspaces: set[str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM jobs WHERE 1 = 1", list[Any]()
        if workspace is not None:
            query, args = query + " AND workspace = ?", [*args, workspace]
        if state is not None:
            query, args = query + " AND state = ?", [*args, state]
        with self.db.read() as conn:
            rows = conn.execute(query + " ORDER BY created DESC, id LIMIT ?", [*args, 10 * limit])
            out = [_row(r) for r in rows]
        if visible_workspaces is not None or owner is not None:
            out = [
                j
                for j in out
                if (owner is not None and j["owner"] == owner)
                or (visible_workspaces is not None and j["workspace"] in visible_workspaces)
            ]
        return out[:limit]

    def active(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY created"
            ).fetchall()
        return [_row(r) for r in rows]

    # -- transitions (each a no-op once the job is final) ---------------------------------------

    def started(self, job_id: str, run: str, worker: str) -> bool:
        """A worker began (or, after a worker died, began again) to run the job."""
        now = utc_now()
        with self.db.write() as conn:
            row = conn.execute("SELECT state, run FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["state"] not in ACTIVE or row["run"] == run:
                return False
            conn.execute(
                "UPDATE jobs SET state = 'running', run = ?, worker = ?, attempt = attempt + 1, "
                "started = COALESCE(started, ?), updated = ?, message = 'started' WHERE id = ?",
                (run, worker, now, now, job_id),
            )
            again = " (again: the previous worker was lost)" if row["run"] else ""
            self._log(conn, job_id, "info", f"started on {worker}{again}")
        return True

    def progress(self, job_id: str, run: str, fraction: float, message: str) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET progress = ?, message = ?, updated = ? "
                "WHERE id = ? AND run = ? AND state = 'running'",
                (fraction, str(message)[:500], utc_now(), job_id, run),
            )

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: Any = None,
        error: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Set a final state (only if the job is still active); returns whether it changed."""
        if state not in FINAL:
            raise ValueError(f"Expected a final state among {FINAL}, got {state!r}")
        now = utc_now()
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET state = ?, result = ?, error = ?, message = ?, updated = ?, "
                "finished = ?, progress = CASE WHEN ? = 'succeeded' THEN 1.0 ELSE progress END "
                "WHERE id = ? AND state IN ('queued', 'running')",
                (
                    state,
                    None if result is None else json.dumps(result),
                    error,
                    message if message is not None else (error or state)[:500],
                    now,
                    now,
                    state,
                    job_id,
                ),
            )
            if cur.rowcount:
                text = f"{state}" + (f": {error}" if error else "")
                self._log(conn, job_id, "error" if state == "failed" else "info", text)
        return bool(cur.rowcount)

    def request_cancel(self, job_id: str) -> dict[str, Any]:
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET cancel_requested = 1, updated = ?, message = 'cancelling' "
                "WHERE id = ? AND state IN ('queued', 'running')",
                (utc_now(), job_id),
            )
            if cur.rowcount:
                self._log(conn, job_id, "info", "cancel requested")
        job = self.get(job_id)
        if not cur.rowcount:
            raise JobStateError(
                f"Job {job_id} is {job['state']} already; only queued or running jobs can be "
                "cancelled"
            )
        return job

    def interrupt_lost(self) -> list[str]:
        """Mark every queued or running job interrupted (at server start: nobody runs them)."""
        now = utc_now()
        with self.db.write() as conn:
            ids = [
                r[0]
                for r in conn.execute("SELECT id FROM jobs WHERE state IN ('queued', 'running')")
            ]
            for job_id in ids:
                conn.execute(
                    "UPDATE jobs SET state = 'interrupted', updated = ?, finished = ?, "
                    "message = 'the server stopped before the job finished; resubmit it' "
                    "WHERE id = ?",
                    (now, now, job_id),
                )
                self._log(conn, job_id, "warning", "interrupted: the server stopped")
        return ids

    # -- logs -----------------------------------------------------------------------------------

    @staticmethod
    def _log(conn: Any, job_id: str, level: str, message: str) -> None:
        conn.execute(
            "INSERT INTO job_logs (job, time, level, message) VALUES (?, ?, ?, ?)",
            (job_id, utc_now(), level, str(message)[:4000]),
        )

    def log(self, job_id: str, message: str, *, level: str = "info") -> None:
        with self.db.write() as conn:
            n = conn.execute("SELECT COUNT(*) FROM job_logs WHERE job = ?", (job_id,)).fetchone()
            if n[0] < MAX_LOG_LINES:
                self._log(conn, job_id, level, message)

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        self.get(job_id)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id, time, level, message FROM job_logs WHERE job = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (job_id, after, limit),
            ).fetchall()
        return [dict(r) for r in rows]
