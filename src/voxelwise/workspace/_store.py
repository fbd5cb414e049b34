"""The OME-Zarr side of a workspace: paths, writing a layer, NGFF label metadata, orphan cleanup."""

from __future__ import annotations

import shutil
import sqlite3
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numpy as np
import zarr
from zarr.storage import LocalStore

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import as_volume_shape
from voxelwise.errors import InvalidVolumeError
from voxelwise.io._ngff import NGFF_VERSION, label_metadata, write_multiscale
from voxelwise.workspace._catalog import Catalog, owner_alive
from voxelwise.workspace._records import LABEL_KINDS, from_json
from voxelwise.workspace._stats import compute_stats, stats_passes

__all__ = [
    "CATALOG",
    "STORE",
    "array_path",
    "as_dask",
    "new_directory",
    "open_group",
    "remove_orphans",
    "sync_ngff",
    "write_layer",
]

STORE = "data.ome.zarr"
CATALOG = "catalog.sqlite"
PARENTS = ("layers", "labels")
Mode = Literal["r", "r+", "a", "w", "w-"]


def open_group(root: Path, path: str = "", *, mode: Mode = "r+") -> zarr.Group:
    """A group of the workspace store ``root`` (the ``data.ome.zarr`` folder)."""
    return zarr.open_group(
        store=LocalStore(root),
        path=path,
        mode=mode,
        zarr_format=3,
        use_consolidated=False,
    )


def array_path(directory: str, level: int) -> str:
    """Path of pyramid ``level`` of the layer stored in ``directory`` inside the store."""
    return f"{directory}/{level}" if directory else str(level)


def new_directory(name: str, kind: str) -> str:
    """A fresh, unique directory for a layer: ``layers/<name>-<id>`` or ``labels/<name>-<id>``."""
    parent = "labels" if kind in LABEL_KINDS else "layers"
    return f"{parent}/{name}-{uuid.uuid4().hex[:8]}"


def as_dask(data: Any, *, chunks: Sequence[int] | None = None, what: str = "image") -> da.Array:
    """Wrap numpy, dask or array-like (zarr, h5py) ``data`` as a lazy (Z, Y, X) dask array.

    2D data becomes one slice; other shapes and non-numeric dtypes raise InvalidVolumeError.
    """
    if not (hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "__getitem__")):
        raise TypeError(
            f"Expected the {what} as a numpy or dask array (or a path to a volume file), "
            f"got {type(data).__name__} instead"
        )
    if any(isinstance(s, float) and np.isnan(s) for s in data.shape):
        raise InvalidVolumeError(
            f"The {what} has unknown chunk sizes (shape {data.shape}); call "
            "array.compute_chunk_sizes() first"
        )
    shape = as_volume_shape(data.shape, what=what)
    if np.dtype(data.dtype).kind not in "biuf":
        raise InvalidVolumeError(
            f"Expected a real numeric {what} (bool, integer or float), got dtype {data.dtype} "
            "instead; convert it, e.g. image.astype('float32')"
        )
    if isinstance(data, da.Array):
        arr = data
    else:
        ndim = len(data.shape)
        arr = da.from_array(data, chunks=tuple(chunks)[-ndim:] if chunks is not None else "auto")
    if tuple(arr.shape) != shape:
        arr = arr.reshape(shape)
    return arr


def write_layer(
    group: zarr.Group,
    data: da.Array,
    *,
    spacing: Sequence[float],
    unit: str | None,
    chunks: Sequence[int],
    name: str,
    is_label: bool,
    levels: int | None,
    extra_attrs: dict[str, Any] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[int, dict[str, Any]]:
    """Write ``data`` (and its pyramid) into ``group``, then its statistics from what was stored.

    One progress bar covers both: the writing chunks, then one block per statistics pass.
    Returns the number of levels written and the statistics.
    """
    nblocks = int(np.prod([-(-s // c) for s, c in zip(data.shape, chunks)]))
    stats_total = stats_passes(data.dtype) * nblocks
    write_total = [0]

    def write_progress(done: int, total: int) -> None:
        write_total[0] = total
        if progress is not None:
            progress(done, total + stats_total)

    def stats_progress(done: int, total: int) -> None:
        if progress is not None:
            progress(write_total[0] + done, write_total[0] + total)

    spacings = write_multiscale(
        group,
        data,
        spacing=spacing,
        unit=unit,
        chunks=chunks,
        name=name,
        is_label=is_label,
        levels=levels,
        extra_attrs=extra_attrs,
        scheduler=scheduler,
        progress=write_progress if progress is not None else None,
    )
    base = group["0"]
    stats = compute_stats(
        da.from_zarr(base),
        scheduler=scheduler,
        progress=stats_progress if progress is not None else None,
    )
    return len(spacings), stats


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def discard_tree(path: Path, *, settle: float = 0.3, limit: float = 10.0) -> None:
    """Remove the directory of a failed write.

    When a computation fails or is cancelled, chunk writes already running in worker threads
    still finish and may recreate the directory, so removal repeats until it has stayed gone
    for ``settle`` seconds (at most ``limit``). Whatever lands later is an orphan that the next
    open or write removes.
    """
    start = quiet = time.monotonic()
    remove_tree(path)
    while time.monotonic() - quiet < settle and time.monotonic() - start < limit:
        time.sleep(0.05)
        if path.exists():
            remove_tree(path)
            quiet = time.monotonic()


def _layer_dirs(root: Path) -> list[str]:
    out = []
    for parent in PARENTS:
        folder = root / parent
        if folder.is_dir():
            out += [f"{parent}/{p.name}" for p in folder.iterdir() if p.is_dir()]
    return out


def remove_orphans(root: Path, catalog: Catalog) -> list[str]:
    """Delete layer directories that no catalog row points at; returns them.

    Directories registered as pending by a live process are in-flight writes and are kept;
    those of dead processes (a crash, SIGKILL) are removed with their pending rows. The disk is
    listed before the catalog is read, and writers register a directory before creating it, so a
    directory found on disk but in neither table cannot belong to a write in progress.
    """
    on_disk = _layer_dirs(root)
    with catalog.read() as conn:
        used = {r[0] for r in conn.execute("SELECT directory FROM layers")}
        pending = conn.execute("SELECT directory, host, pid, pid_started FROM pending").fetchall()
    dead = [r for r in pending if not owner_alive(r["host"], r["pid"], r["pid_started"])]
    alive = {r["directory"] for r in pending} - {r["directory"] for r in dead}
    removed = [d for d in on_disk if d not in used and d not in alive]
    for d in removed:
        remove_tree(root / d)
    if dead:
        with catalog.write() as conn:
            for r in dead:
                if r["directory"] not in used:
                    remove_tree(root / r["directory"])
                conn.execute(
                    "DELETE FROM pending WHERE directory = ? AND pid = ?",
                    (r["directory"], r["pid"]),
                )
    return removed


def image_label_attrs(conn: sqlite3.Connection, label_set: str | None) -> dict[str, Any]:
    """The NGFF ``image-label`` entry for a label layer using ``label_set`` (names, colours)."""
    colors: dict[int, Sequence[int]] = {}
    names: dict[int, str] = {}
    if label_set is not None:
        for r in conn.execute(
            "SELECT name, value, color FROM labels WHERE label_set = ? ORDER BY value", (label_set,)
        ):
            colors[int(r["value"])] = from_json(r["color"])
            names[int(r["value"])] = r["name"]
    return label_metadata(colors, names)


def _set_ome(group: zarr.Group, key: str, value: Any) -> None:
    ome = dict(group.attrs.get("ome", {}))  # type: ignore[arg-type]
    if ome.get(key) != value:
        ome[key] = value
        ome.setdefault("version", NGFF_VERSION)
        group.attrs["ome"] = ome


def sync_ngff(root: Path, catalog: Catalog) -> None:
    """Make the NGFF label metadata match the catalog.

    Rewrites the ``labels`` group's list of label images and the ``image-label`` entry (names,
    colours) of every label layer, only where they differ. Writing runs under the catalog's write lock, so concurrent
    writers never interleave their attribute writes.
    """
    with catalog.read() as conn:
        current = _ngff_targets(conn)
    if _ngff_matches(root, *current):
        return
    with catalog.write() as conn:
        names, layers = _ngff_targets(conn)
        _set_ome(open_group(root, "labels"), "labels", names)
        for directory, attrs in layers.items():
            if (root / directory).is_dir():
                _set_ome(open_group(root, directory), "image-label", attrs)


def _ngff_targets(conn: sqlite3.Connection) -> tuple[list[str], dict[str, dict[str, Any]]]:
    rows = conn.execute(
        "SELECT directory, label_set FROM layers WHERE directory LIKE 'labels/%' ORDER BY rowid"
    ).fetchall()
    names = [r["directory"].split("/", 1)[1] for r in rows]
    layers = {r["directory"]: image_label_attrs(conn, r["label_set"]) for r in rows}
    return names, layers


def _ome(root: Path, path: str) -> dict[str, Any]:
    ome = open_group(root, path, mode="r").attrs.get("ome", {})
    return dict(ome) if isinstance(ome, dict) else {}


def _ngff_matches(root: Path, names: list[str], layers: dict[str, dict[str, Any]]) -> bool:
    if _ome(root, "labels").get("labels") != names:
        return False
    for directory, attrs in layers.items():
        if not (root / directory).is_dir():
            continue
        if _ome(root, directory).get("image-label") != attrs:
            return False
    return True
