"""Provenance of workflow steps (runs) and the job table, stored in the catalog."""

from __future__ import annotations

import math
import platform
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from voxelwise import __version__
from voxelwise.workspace._catalog import Catalog, job_from_row, run_from_row
from voxelwise.workspace._errors import JobError, JobNotFoundError
from voxelwise.workspace._records import (
    JOB_STATES,
    JobInfo,
    RunInfo,
    to_json,
    utc_now,
)

__all__ = ["RunsMixin", "software_versions"]

_UNSET: Any = object()


def software_versions() -> dict[str, str]:
    """Versions of voxelwise and the libraries that shape its results."""
    import dask
    import numpy
    import zarr

    return {
        "voxelwise": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "dask": dask.__version__,
        "zarr": zarr.__version__,
    }


def _names(values: str | Sequence[str], what: str) -> list[str]:
    items = [values] if isinstance(values, str) else list(values)
    if not all(isinstance(v, str) for v in items):
        raise TypeError(f"Expected {what} as layer names (strings), got {values!r} instead")
    return items


def _state(state: Any) -> str:
    if state not in JOB_STATES:
        raise JobError(f"Expected a job state among {', '.join(JOB_STATES)}, got {state!r} instead")
    return str(state)


def _progress(progress: Any) -> float:
    try:
        value = float(progress)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Expected progress as a number from 0 to 1, got {progress!r}") from e
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise JobError(f"Expected progress from 0 to 1, got {progress!r} instead")
    return value


class RunsMixin:
    """Run records and job CRUD for :class:`~voxelwise.workspace.Workspace`."""

    _catalog: Catalog

    def record_run(
        self,
        step: str,
        *,
        params: dict[str, Any] | None = None,
        inputs: str | Sequence[str] = (),
        outputs: str | Sequence[str] = (),
        versions: dict[str, str] | None = None,
        started: datetime | None = None,
        duration: float | None = None,
    ) -> RunInfo:
        """Record one workflow step: its parameters, input and output layers, software versions,
        start time (default: now) and duration in seconds.

        ``versions`` adds to (or overrides) the versions of voxelwise, Python, NumPy, dask and zarr.
        ``params`` must be JSON-serialisable (NumPy scalars and arrays, paths are converted).
        """
        if not isinstance(step, str) or not step.strip():
            raise TypeError(f"Expected the step as a non-empty string, got {step!r} instead")
        if started is not None and not isinstance(started, datetime):
            raise TypeError(f"Expected started as a datetime, got {started!r} instead")
        if duration is not None and not (isinstance(duration, int | float) and duration >= 0):
            raise TypeError(f"Expected duration as seconds >= 0, got {duration!r} instead")
        values = (
            step,
            to_json(dict(params or {})),
            to_json(_names(inputs, "inputs")),
            to_json(_names(outputs, "outputs")),
            to_json({**software_versions(), **(versions or {})}),
            (started or utc_now()).isoformat(),
            None if duration is None else float(duration),
        )
        with self._catalog.write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (step, params, inputs, outputs, versions, started, duration) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (cursor.lastrowid,)).fetchone()
        return run_from_row(row)

    def runs(self, *, step: str | None = None) -> list[RunInfo]:
        """Recorded runs in the order they were recorded, optionally only those of ``step``."""
        with self._catalog.read() as conn:
            if step is None:
                rows = conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM runs WHERE step = ? ORDER BY id", (step,)
                ).fetchall()
        return [run_from_row(r) for r in rows]

    # -- jobs ----------------------------------------------------------------------------------

    def add_job(
        self,
        kind: str,
        *,
        job_id: str | None = None,
        state: str = "queued",
        message: str = "",
        progress: float = 0.0,
    ) -> JobInfo:
        """Insert a job (``job_id`` defaults to a new random hex id)."""
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"Expected the job kind as a non-empty string, got {kind!r}")
        job_id = uuid.uuid4().hex if job_id is None else str(job_id)
        now = utc_now().isoformat()
        with self._catalog.write() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone():
                raise JobError(f"A job with id {job_id!r} exists already; use another id")
            conn.execute(
                "INSERT INTO jobs (id, kind, state, progress, message, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, _state(state), _progress(progress), str(message), now, now),
            )
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return job_from_row(row)

    def update_job(
        self,
        job_id: str,
        *,
        state: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        result: Any = _UNSET,
        error: Any = _UNSET,
    ) -> JobInfo:
        """Change some fields of a job; ``updated`` becomes now. ``result`` must be JSON-able."""
        changes: dict[str, Any] = {"updated": utc_now().isoformat()}
        if state is not None:
            changes["state"] = _state(state)
        if progress is not None:
            changes["progress"] = _progress(progress)
        if message is not None:
            changes["message"] = str(message)
        if result is not _UNSET:
            changes["result"] = None if result is None else to_json(result)
        if error is not _UNSET:
            changes["error"] = None if error is None else str(error)
        assignments = ", ".join(f"{k} = :{k}" for k in changes)
        with self._catalog.write() as conn:
            cursor = conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = :id", {**changes, "id": job_id}
            )
            if cursor.rowcount == 0:
                raise JobNotFoundError(f"No job with id {job_id!r} in this workspace")
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return job_from_row(row)

    def get_job(self, job_id: str) -> JobInfo:
        """One job by id."""
        with self._catalog.read() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"No job with id {job_id!r} in this workspace")
        return job_from_row(row)

    def jobs(self, *, state: str | None = None, kind: str | None = None) -> list[JobInfo]:
        """Jobs, oldest first, optionally filtered by state and kind."""
        query, args = "SELECT * FROM jobs WHERE 1 = 1", list[str]()
        if state is not None:
            query, args = query + " AND state = ?", [*args, _state(state)]
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        with self._catalog.read() as conn:
            rows = conn.execute(query + " ORDER BY created, id", args).fetchall()
        return [job_from_row(r) for r in rows]

    def delete_job(self, job_id: str) -> None:
        """Remove a job record."""
        with self._catalog.write() as conn:
            cursor = conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        if cursor.rowcount == 0:
            raise JobNotFoundError(f"No job with id {job_id!r} in this workspace")
