"""The voxelwise server: a FastAPI application over the library (``pip install voxelwise[server]``).

:func:`create_app` builds the application for a data root (workspaces, layers as slices and
chunks, annotation strokes, every long operation as a job run on dask.distributed);
:func:`serve` runs it with uvicorn (``voxelwise serve --data-root DIR``). Users, tokens and
roles are managed with :func:`add_user`, :func:`list_users`, :func:`revoke_user` (or
``voxelwise users ...``). See ``docs/server.md``.

``import voxelwise.server`` does not import FastAPI; the names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "JOB_STATES",
    "ROLES",
    "ServerDB",
    "ServerProcess",
    "ServerSettings",
    "add_user",
    "create_app",
    "ensure_admin",
    "free_port",
    "issue_token",
    "list_users",
    "open_db",
    "revoke_user",
    "serve",
    "set_role",
]

_WHERE = {
    "create_app": "_app",
    "serve": "_serve",
    "ServerSettings": "_settings",
    "ServerProcess": "_process",
    "free_port": "_process",
    "ServerDB": "_db",
    "JOB_STATES": "_jobs",
    "ROLES": "_users",
    "add_user": "_users",
    "ensure_admin": "_users",
    "issue_token": "_users",
    "list_users": "_users",
    "revoke_user": "_users",
    "set_role": "_users",
    "open_db": "_users",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"voxelwise.server.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'voxelwise.server' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
