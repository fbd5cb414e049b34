"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from voxelwise import __version__
from voxelwise.server._cache import ChunkCache
from voxelwise.server._db import ServerDB
from voxelwise.server._errors import install_handlers
from voxelwise.server._jobs import JobStore
from voxelwise.server._limits import BodySizeLimit
from voxelwise.server._runner import JobRunner
from voxelwise.server._settings import ServerSettings
from voxelwise.server._state import AppState

__all__ = ["create_app"]

log = logging.getLogger("voxelwise.server")

DESCRIPTION = """\
Segment and measure large 3D microscopy volumes over HTTP: workspaces under the server's data
root, their layers as slices and chunks (raw bytes, described by `X-Dtype`/`X-Shape` headers),
label sets and annotation strokes with undo/redo, and every long operation (features,
supervoxels, shallow and deep learning, analysis) as a job with progress, logs, cancel and
server-sent events.

Every request but `GET /health` needs `Authorization: Bearer <token>`; roles per workspace are
viewer (read), annotator (edit, run jobs) and owner (delete, members). Errors are JSON
`{"detail": ..., "type": ...}` with a 4xx status.
"""


def create_app(
    data_root: str | os.PathLike[str] | None = None,
    *,
    settings: ServerSettings | None = None,
    scheduler: str | None = None,
    start_cluster: bool = True,
    **options: Any,
) -> FastAPI:
    """The voxelwise REST API serving the workspaces under ``data_root``.

    Parameters
    ----------
    data_root : path
        The folder served (see :class:`ServerSettings`); or pass ``settings``.
    scheduler : str, optional
        Address of an external dask scheduler; default: an embedded local cluster.
    start_cluster : bool
        Start the job runner (False: the API answers but job submissions get 409).
    **options
        Other :class:`ServerSettings` fields (``n_workers``, ``gpus``, ``processes``,
        ``max_request_bytes``, ...).

    Examples
    --------
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> with TestClient(create_app("/data", processes=False)) as http:  # doctest: +SKIP
    ...     http.get("/health").json()
    {'status': 'ok', 'version': '0.1.0'}
    """
    if settings is None:
        if data_root is None:
            raise TypeError("create_app needs data_root (or settings)")
        settings = ServerSettings(data_root=Path(data_root), scheduler=scheduler, **options)
    settings.prepare()
    db, _ = ServerDB.open(settings.db_path)
    state = AppState(settings=settings, db=db, jobs=JobStore(db))
    if settings.chunk_cache_bytes > 0:
        state.chunk_cache = ChunkCache(settings.chunk_cache_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.thread_limit
        state.edit_limiter = anyio.CapacityLimiter(8)
        if start_cluster:
            runner = JobRunner(settings, state.jobs, db.meta("server_id") or "default")
            await anyio.to_thread.run_sync(runner.start)
            state.runner = runner
            log.info("job cluster ready: %d worker(s)", len(runner.workers()))
        else:
            lost = state.jobs.interrupt_lost()
            if lost:
                log.warning("marked %d job(s) interrupted", len(lost))
        try:
            yield
        finally:
            if state.runner is not None:
                await anyio.to_thread.run_sync(state.runner.close)
                state.runner = None

    app = FastAPI(
        title="voxelwise",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.vw = state
    install_handlers(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)

    from voxelwise.server import (
        _routes_active,
        _routes_annotations,
        _routes_compute,
        _routes_display,
        _routes_images,
        _routes_jobs,
        _routes_layers,
        _routes_objects,
        _routes_preview,
        _routes_registry,
        _routes_system,
        _routes_workflows,
        _routes_workspaces,
    )

    for module in (
        _routes_registry,
        _routes_workflows,
        _routes_active,
        _routes_system,
        _routes_preview,
        _routes_workspaces,
        _routes_layers,
        _routes_display,
        _routes_annotations,
        _routes_compute,
        _routes_images,
        _routes_jobs,
        _routes_objects,
    ):
        app.include_router(module.router)
    return app
