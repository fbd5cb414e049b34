"""Running the server with uvicorn (what ``voxelwise serve`` calls)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from voxelwise.server._db import ServerDB
from voxelwise.server._settings import ServerSettings
from voxelwise.server._users import ensure_admin

__all__ = ["serve"]

log = logging.getLogger("voxelwise.server")


def serve(
    data_root: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8130,
    scheduler: str | None = None,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Serve ``data_root`` on ``host:port`` until interrupted.

    On the first start (no user yet) the server creates the user ``admin`` and prints one line
    ``admin token: <token>``; the token is not stored, only its hash. ``options`` are further
    :class:`ServerSettings` fields (``n_workers``, ``gpus``, ``job_scheduler``, ...).
    """
    import uvicorn

    from voxelwise.server._app import create_app

    settings = ServerSettings(data_root=Path(data_root), scheduler=scheduler, **options)
    settings.prepare()
    db, _ = ServerDB.open(settings.db_path)
    token = ensure_admin(db)
    if token is not None:
        print(f"admin token: {token}", flush=True)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=getattr(logging, log_level.upper(), logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "listening on %s: tokens travel in clear text unless a TLS proxy (nginx, caddy) "
            "sits in front; see docs/server.md",
            host,
        )
    app = create_app(settings=settings)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level, timeout_graceful_shutdown=10)
