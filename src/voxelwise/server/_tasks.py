"""What runs on a dask worker: :func:`run_job` and the :class:`JobContext` it gives operations.

A job is one dask task. It reports to the server through the scheduler's event log (a topic the
server subscribes to), never by writing the server database, so workers on other machines need
only the data root. Cancellation is a flag file under ``<data_root>/.voxelwise/cancel/``, checked
at every progress report; the operation then raises :class:`~voxelwise.errors.CancelledError`,
which the library turns into "nothing half-written is left". The task always returns a small
dict (``status`` succeeded/failed/cancelled), so exceptions never have to travel back pickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.errors import CancelledError, VoxelwiseWarning

__all__ = ["JobContext", "jsonable", "run_job"]

log = logging.getLogger("voxelwise.server.tasks")

EMIT_INTERVAL_S = 0.2


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (NumPy scalars and arrays, paths, sets; NaN becomes None)."""

    def default(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, Path):
            return v.name
        if isinstance(v, set | frozenset | tuple):
            return list(v)
        return str(v)

    def finite(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): finite(x) for k, x in v.items()}
        if isinstance(v, list):
            return [finite(x) for x in v]
        return v

    return finite(json.loads(json.dumps(value, default=default)))


class JobContext:
    """Progress, logs and cancellation for one run of a job on a worker."""

    def __init__(
        self,
        job_id: str,
        *,
        topic: str,
        cancel_flag: Path,
        owner: str,
        scheduler: Any = None,
        worker: Any = None,
    ) -> None:
        self.job_id = job_id
        self.run = uuid.uuid4().hex
        self.topic = topic
        self.cancel_flag = cancel_flag
        self.owner = owner
        self.scheduler = scheduler
        self.worker = worker
        self._last_emit = 0.0
        self._last_check = 0.0

    def emit(self, type: str, **fields: Any) -> None:
        if self.worker is None:
            return
        msg = {"job": self.job_id, "run": self.run, "type": type, **fields}
        try:
            self.worker.log_event(self.topic, jsonable(msg))
        except Exception as e:  # a lost scheduler connection must not fail the job itself
            log.warning("could not report %s for job %s: %s", type, self.job_id, e)

    def log(self, message: str, *, level: str = "info") -> None:
        self.emit("log", level=level, message=str(message))

    def check(self, *, force: bool = False) -> None:
        """Raise CancelledError if the job was cancelled (or the server gave it up)."""
        now = time.monotonic()
        if not force and now - self._last_check < 0.05:
            return
        self._last_check = now
        if self.cancel_flag.exists():
            raise CancelledError(f"Job {self.job_id} was cancelled")

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        self.check()
        now = time.monotonic()
        if force or now - self._last_emit >= EMIT_INTERVAL_S:
            self._last_emit = now
            self.emit("progress", fraction=float(min(max(fraction, 0.0), 1.0)), message=message)

    def stage(self, start: float, stop: float, message: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback filling ``[start, stop]`` of the job's progress."""
        self.progress(start, message, force=True)

        def callback(done: int, total: int) -> None:
            share = done / total if total else 1.0
            self.progress(start + (stop - start) * min(max(share, 0.0), 1.0), message)

        return callback


@contextlib.contextmanager
def _job_scheduler(mode: str) -> Iterator[Any]:
    """``None`` (threads of this worker) or a client spreading chunk tasks over the cluster."""
    if mode != "cluster":
        yield None
        return
    from distributed import worker_client

    with worker_client() as client:
        yield client


def _lower_priority(niceness: int) -> None:
    """Renice the calling thread (Linux: per thread; threads it starts inherit it)."""
    if not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        if os.getpriority(os.PRIO_PROCESS, 0) < niceness:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)


def _current_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def run_job(
    job_id: str,
    kind: str,
    workspace: str | None,
    params: dict[str, Any],
    *,
    data_root: str,
    topic: str,
    owner: str,
    job_scheduler: str = "threads",
    niceness: int | None = None,
) -> dict[str, Any]:
    """Run one job on this worker; returns ``{"status": ..., "result" | "error": ...}``.

    With ``niceness``, the job's thread (and every thread it starts) runs at that CPU
    priority, so a server on the same machine stays responsive.
    """
    from voxelwise.server._ops import OPERATIONS

    if niceness is not None:
        _lower_priority(niceness)
    root = Path(data_root)
    worker = _current_worker()
    ctx = JobContext(
        job_id,
        topic=topic,
        cancel_flag=root / ".voxelwise" / "cancel" / job_id,
        owner=owner,
        worker=worker,
    )
    where = getattr(worker, "address", None) or f"{socket.gethostname()}:{os.getpid()}"
    ctx.emit("start", worker=str(where))
    ran = {"run": ctx.run, "worker": str(where)}
    try:
        ctx.check(force=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with _job_scheduler(job_scheduler) as scheduler:
                ctx.scheduler = scheduler
                result = OPERATIONS[kind](ctx, root, workspace, params)
        for w in [w for w in caught if issubclass(w.category, VoxelwiseWarning)][:20]:
            ctx.log(f"{w.category.__name__}: {w.message}", level="warning")
        ctx.progress(1.0, "done", force=True)
        return {**ran, "status": "succeeded", "result": jsonable(result or {})}
    except CancelledError as e:
        return {**ran, "status": "cancelled", "error": str(e) or "cancelled"}
    except Exception as e:
        ctx.log("".join(traceback.format_exception(e)[-6:]), level="debug")
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        error = message or type(e).__name__
        return {**ran, "status": "failed", "error": error, "type": type(e).__name__}
