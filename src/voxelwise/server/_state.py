"""The application's state (opened in the lifespan) and cached workspace and array handles."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request

from voxelwise.errors import WorkspaceNotFoundError
from voxelwise.server._cache import CACHED_KINDS, ChunkCache
from voxelwise.server._db import ServerDB
from voxelwise.server._jobs import JobStore
from voxelwise.server._paths import parse_workspace_name, workspace_path
from voxelwise.server._runner import JobRunner
from voxelwise.server._settings import ServerSettings

__all__ = ["AppState", "get_state"]

_ARRAY_CACHE = 512


@dataclass
class AppState:
    """Everything a request handler needs; one per application."""

    settings: ServerSettings
    db: ServerDB
    jobs: JobStore
    runner: JobRunner | None = None
    edit_limiter: Any = None  # anyio.CapacityLimiter for annotation edits (set in the lifespan)
    chunk_cache: ChunkCache | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workspaces: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _arrays: OrderedDict[tuple[str, str, int], Any] = field(default_factory=OrderedDict)

    def exists(self, name: str) -> bool:
        path = workspace_path(self.settings.data_root, name)
        return (path / "catalog.sqlite").is_file() and (path / "data.ome.zarr").is_dir()

    def workspace(self, name: str) -> Any:
        """The :class:`~voxelwise.workspace.Workspace` called ``name`` (cached while unchanged).

        Raises
        ------
        WorkspaceNotFoundError
            No such workspace under the data root (the message names it).
        """
        from voxelwise.workspace import Workspace

        name = parse_workspace_name(name)
        path = workspace_path(self.settings.data_root, name)
        try:
            inode = (path / "catalog.sqlite").stat().st_ino
        except OSError:
            inode = None
        if inode is None or not (path / "data.ome.zarr").is_dir():
            raise WorkspaceNotFoundError(
                f"No workspace named {name!r}; list them with GET /workspaces or create one with "
                "POST /workspaces"
            )
        with self._lock:
            cached = self._workspaces.get(name)
        if cached is not None and cached[0] == inode:
            return cached[1]
        ws = Workspace.open(path)
        with self._lock:
            self._workspaces[name] = (inode, ws)
        return ws

    def forget(self, name: str) -> None:
        with self._lock:
            self._workspaces.pop(name, None)

    def array(self, ws: Any, layer: str, level: int) -> tuple[Any, Any]:
        """The read-only zarr array of a layer's pyramid level, and the layer's catalog entry."""
        info = ws.layer(layer)
        key = (str(ws.path), info.directory, int(level))
        with self._lock:
            arr = self._arrays.get(key)
            if arr is not None:
                self._arrays.move_to_end(key)
        if arr is None:
            arr = ws.open_array(layer, mode="r", level=level)
            with self._lock:
                self._arrays[key] = arr
                while len(self._arrays) > _ARRAY_CACHE:
                    self._arrays.popitem(last=False)
        return arr, info

    def read(self, ws: Any, info: Any, level: int, array: Any, box: tuple[slice, ...]) -> Any:
        """``array[box]`` as NumPy, through the chunk cache for layers never edited in place."""
        if self.chunk_cache is None or info.kind not in CACHED_KINDS:
            return np.asarray(array[box])
        return self.chunk_cache.read(array, box, scope=(str(ws.path), info.directory, int(level)))


def get_state(request: Request) -> AppState:
    return request.app.state.vw
