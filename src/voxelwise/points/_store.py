"""Point sets stored in a workspace: ``<workspace>/points/<name>.csv``, edited by id.

Plain functions over names, dicts and lists (JSON-able in and out, for a server route).
Writes go to a temporary file renamed into place under an exclusive lock, so edits from
several processes never interleave and a crash never leaves a half-written set.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.points._errors import PointsError, PointsNotFoundError
from voxelwise.points._points import (
    Points,
    inside_volume,
    outside_message,
    read_points_file,
    split_inside,
    write_points_csv,
)

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = [
    "FOLDER",
    "add_points",
    "delete_points",
    "export_points",
    "import_points",
    "list_points",
    "load_points",
    "remove_points",
    "save_points",
    "update_points",
]

FOLDER = "points"
_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")


_CLUSTERS = ".clusters"  # <set>.clusters.csv holds the set's last clustering (cluster_points)


def _parse_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(_CLUSTERS):
        raise PointsError(
            f"Invalid point set name {name!r}: use 1-128 letters, digits, '-', '_' or '.', "
            f"not starting with '.' nor ending in {_CLUSTERS!r}"
        )
    return name


def _path(ws: Workspace, name: str) -> Path:
    return ws.path / FOLDER / f"{_parse_name(name)}.csv"


@contextlib.contextmanager
def _locked(ws: Workspace, name: str) -> Iterator[None]:
    folder = ws.path / FOLDER
    folder.mkdir(exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: renames stay atomic, concurrent edits may race
        yield
        return
    with open(folder / f".{name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write(ws: Workspace, name: str, points: Points) -> None:
    target = _path(ws, name)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".csv", dir=target.parent)
    os.close(fd)
    try:
        write_points_csv(points, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_inside(ws: Workspace, points: Points) -> None:
    inside = inside_volume(points, ws.shape)
    if not inside.all():
        bad = points.select(~inside)
        raise PointsError(
            f"Points {bad.ids[:10].tolist()} lie outside the volume of shape {ws.shape} "
            f"(z, y, x), e.g. at {tuple(float(v) for v in bad.zyx[0])}; give coordinates in "
            "voxels inside it"
        )


def list_points(ws: Workspace) -> dict[str, int]:
    """Point set name -> number of points."""
    folder = ws.path / FOLDER
    if not folder.is_dir():
        return {}
    return {
        p.stem: len(read_points_file(p)[0])
        for p in sorted(folder.glob("*.csv"))
        if _NAME.match(p.stem) and not p.stem.endswith(_CLUSTERS)
    }


def load_points(ws: Workspace, name: str) -> Points:
    """A stored point set.

    Raises
    ------
    PointsNotFoundError
        No set of that name (the message lists the sets).
    """
    path = _path(ws, name)
    if not path.is_file():
        sets = ", ".join(list_points(ws)) or "(none)"
        raise PointsNotFoundError(
            f"No point set named {name!r} in the workspace {ws.path}; point sets: {sets}. "
            "Import one with voxelwise points import"
        )
    return read_points_file(path)[0]


def save_points(
    ws: Workspace, name: str, points: Points, *, overwrite: bool = False
) -> dict[str, Any]:
    """Store a point set (every point must lie inside the volume)."""
    _check_inside(ws, points)
    with _locked(ws, _parse_name(name)):
        if _path(ws, name).is_file() and not overwrite:
            raise PointsError(
                f"A point set named {name!r} exists already; pass overwrite=True to replace "
                "it, or edit it with add_points / update_points / remove_points"
            )
        _write(ws, name, points)
    return {"name": name, "points": len(points)}


def delete_points(ws: Workspace, name: str) -> None:
    """Remove a stored point set."""
    load_points(ws, name)
    with _locked(ws, name):
        _path(ws, name).unlink(missing_ok=True)


def import_points(
    ws: Workspace, path: str | os.PathLike[str], *, name: str | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Import a points CSV (see :func:`read_points_csv`) as a set (default: the file's stem).

    Points outside the volume are skipped and reported in the result:
    ``{"name", "points", "skipped": [{"line", "z", "y", "x"}, ...], "message"}``.
    """
    source = Path(path)
    points, lines = read_points_file(source)
    points, outside = split_inside(points, lines, ws.shape)
    summary = save_points(ws, name or source.stem, points, overwrite=overwrite)
    summary["skipped"] = outside
    summary["message"] = outside_message(outside, ws.shape, source) if outside else ""
    return summary


def export_points(ws: Workspace, name: str, path: str | os.PathLike[str]) -> Path:
    """Write a stored point set to a CSV file."""
    return write_points_csv(load_points(ws, name), path)


def add_points(ws: Workspace, name: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Add points ``[{"z", "y", "x", "class", "size"?}, ...]`` to a set (created if needed).

    Returns ``{"name", "points", "ids"}`` with the new points' ids.
    """
    new = Points.from_records([{k: v for k, v in r.items() if k != "id"} for r in records])
    _check_inside(ws, new)
    with _locked(ws, _parse_name(name)):
        exists = _path(ws, name).is_file()
        current = read_points_file(_path(ws, name))[0] if exists else None
        if current is None:
            merged = new
        else:
            merged = current.add(new.zyx, new.classes, new.sizes)
        _write(ws, name, merged)
    ids = merged.ids[len(merged) - len(new) :].tolist()
    return {"name": name, "points": len(merged), "ids": ids}


def remove_points(ws: Workspace, name: str, ids: Sequence[int]) -> dict[str, Any]:
    """Remove points by id."""
    load_points(ws, name)
    with _locked(ws, name):
        points = read_points_file(_path(ws, name))[0].remove(np.asarray(list(ids), dtype=np.int64))
        _write(ws, name, points)
    return {"name": name, "points": len(points)}


def update_points(
    ws: Workspace, name: str, changes: Mapping[Any, Mapping[str, Any]]
) -> dict[str, Any]:
    """Move points or change their class or size: ``{id: {"z"?, "y"?, "x"?, "class"?,
    "size"?}}``; ids may be ints or digit strings (JSON keys)."""
    load_points(ws, name)
    with _locked(ws, name):
        points = read_points_file(_path(ws, name))[0].update(changes)
        _check_inside(ws, points)
        _write(ws, name, points)
    return {"name": name, "points": len(points)}
