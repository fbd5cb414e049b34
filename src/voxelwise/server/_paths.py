"""Confinement of client-supplied paths and names to the data root.

Clients name files by paths relative to the data root (or to its ``exports/`` folder) and
workspaces by plain names. Absolute paths, ``~``, ``..`` components, NUL bytes, backslashes and
paths into the server's own state folder are refused before touching the file system; what is
left is resolved (following symlinks) and must still lie inside the root, so a symlink cannot
lead out. Every refusal is logged with the user who asked.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath

from voxelwise.errors import VoxelwiseError
from voxelwise.server._settings import STATE_DIR, WORKSPACES_DIR

__all__ = [
    "PathNotFoundError",
    "PathRefusedError",
    "confine",
    "parse_workspace_name",
    "workspace_path",
]

log = logging.getLogger("voxelwise.server.security")

_WS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,127}$")


class PathRefusedError(VoxelwiseError, PermissionError):
    """A client-supplied path leads outside the data root or into the server's state."""


class PathNotFoundError(VoxelwiseError, FileNotFoundError):
    """Nothing at a client-supplied path under the data root."""


def _refuse(what: str, value: object, reason: str, user: str | None) -> PathRefusedError:
    log.warning("refused %s %r from user %s: %s", what, value, user or "?", reason)
    return PathRefusedError(
        f"The {what} {value!r} is refused: {reason}. Give a path relative to the data root, "
        "e.g. 'volumes/stack.tif'"
    )


def confine(
    root: Path,
    relative: object,
    *,
    what: str = "path",
    user: str | None = None,
    must_exist: bool = False,
    allow_root: bool = False,
) -> Path:
    """Resolve a client path against ``root`` and check it stays inside.

    Raises
    ------
    PathRefusedError
        The path is absolute, holds ``..``, ``~``, a backslash or a NUL byte, names the server's
        state folder, or resolves (through symlinks) outside ``root``.
    FileNotFoundError
        ``must_exist`` and nothing is there.
    """
    if not isinstance(relative, str):
        raise _refuse(what, relative, "expected a string", user)
    text = relative.strip()
    if "\x00" in text or "\\" in text:
        raise _refuse(what, relative, "it holds a NUL byte or a backslash", user)
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        raise _refuse(what, relative, "absolute paths are not accepted", user)
    parts = PurePosixPath(text).parts if text not in ("", ".") else ()
    if any(p == ".." for p in parts):
        raise _refuse(what, relative, "'..' is not allowed", user)
    if parts and parts[0] == STATE_DIR:
        raise _refuse(what, relative, "the server's state folder is private", user)
    if not parts and not allow_root:
        raise _refuse(what, relative, "it names no file", user)
    base = root.resolve()
    target = (base / Path(*parts)).resolve() if parts else base
    if target != base and base not in target.parents:
        raise _refuse(what, relative, "it leads outside the data root (symlink)", user)
    if target != base and target.relative_to(base).parts[:1] == (STATE_DIR,):
        raise _refuse(what, relative, "the server's state folder is private", user)
    if must_exist and not target.exists():
        raise FileNotFoundError(
            f"Nothing at {text!r} under the data root; list files with GET /files"
        )
    return target


def parse_workspace_name(name: object, *, user: str | None = None) -> str:
    """A workspace name: 1-128 letters, digits, ``_``, ``-``, ``.``, not starting with a dot."""
    if not isinstance(name, str) or not _WS_NAME.match(name) or ".." in name:
        if isinstance(name, str) and ("/" in name or ".." in name or "\\" in name):
            log.warning("refused workspace name %r from user %s", name, user or "?")
        raise WorkspaceNameError(
            f"Invalid workspace name {name!r}: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (no '..' or slashes)"
        )
    return name


class WorkspaceNameError(VoxelwiseError, ValueError):
    """A workspace name is malformed."""


def workspace_path(data_root: Path, name: str) -> Path:
    """The folder of workspace ``name`` (``<data_root>/workspaces/<name>.vw``)."""
    return data_root / WORKSPACES_DIR / f"{name}.vw"


def relative_to_root(root: Path, path: str | Path | None) -> str | None:
    """``path`` relative to the data root (for responses: server paths are never shown)."""
    if path is None:
        return None
    p = Path(path)
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return p.name
