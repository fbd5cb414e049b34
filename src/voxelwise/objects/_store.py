"""Object tables and labels kept as table files inside the workspace folder.

``<workspace>/objects/<layer>.labels.csv`` holds the class of every labelled object and
``<layer>.table.csv`` caches its measurements; both record the directory (version) of the
instance layer they describe, so a rewritten layer is noticed. Writes go to a temporary file
renamed into place (never half-written) under an exclusive lock, so several processes may
label the same layer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from voxelwise.analysis import Table

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["FOLDER", "locked", "store_path", "write_atomic"]

FOLDER = "objects"


def store_path(ws: Workspace, layer: str, kind: str) -> Path:
    """``<workspace>/objects/<layer>.<kind>.csv``."""
    return ws.path / FOLDER / f"{layer}.{kind}.csv"


@contextlib.contextmanager
def locked(ws: Workspace, layer: str) -> Iterator[None]:
    """Hold an exclusive lock on the object files of ``layer`` (``flock``; none on Windows)."""
    folder = ws.path / FOLDER
    folder.mkdir(exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: renames are still atomic, concurrent edits may race
        yield
        return
    with open(folder / f".{layer}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_atomic(table: Table, path: Path) -> Path:
    """Write ``table`` as CSV next to ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".csv", dir=path.parent)
    os.close(fd)
    try:
        table.to_csv(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
