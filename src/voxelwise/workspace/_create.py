"""Building a new workspace atomically: in a temporary sibling folder, renamed into place."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise import __version__
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import (
    as_volume_shape,
    parse_bin,
    parse_chunks,
    parse_roi,
    parse_spacing,
    roi_to_str,
)
from voxelwise.errors import WorkspaceExistsError
from voxelwise.io._ngff import NGFF_VERSION, downsample
from voxelwise.workspace._catalog import UPSERT_LAYER, Catalog, layer_to_params
from voxelwise.workspace._records import RAW, LayerInfo, utc_now
from voxelwise.workspace._store import (
    CATALOG,
    STORE,
    as_dask,
    discard_tree,
    open_group,
    remove_tree,
    write_layer,
)

__all__ = ["create_workspace", "is_workspace"]

_TMP = re.compile(r"^\.(?P<name>.+)\.vw-tmp-(?P<pid>\d+)-[0-9a-f]{8}$")


def is_workspace(path: Path) -> bool:
    return (path / CATALOG).is_file() and (path / STORE).is_dir()


def _check_target(path: Path, overwrite: bool) -> None:
    if not path.exists():
        return
    if is_workspace(path):
        if not overwrite:
            raise WorkspaceExistsError(
                f"A workspace already exists at {path}; pass overwrite=True (--overwrite on the "
                "command line) to replace it, or choose another path"
            )
        return
    if path.is_dir() and not any(path.iterdir()):
        return
    raise WorkspaceExistsError(
        f"{path} exists and is not a voxelwise workspace; refusing to replace it even with "
        "overwrite=True. Choose another path or remove it yourself"
    )


def _remove_stale_tmp(path: Path) -> None:
    """Remove temporary folders of earlier creations of ``path`` whose process has died."""
    import psutil

    for sibling in path.parent.glob(f".{path.name}.vw-tmp-*"):
        m = _TMP.match(sibling.name)
        if m and m["name"] == path.name and not psutil.pid_exists(int(m["pid"])):
            remove_tree(sibling)


def _source(
    image: Any,
    *,
    roi: Any,
    bin: Any,
    chunks: Any,
    spacing: Any,
    unit: str | None,
    key: str | None,
) -> tuple[da.Array, tuple[float, float, float], str | None, dict[str, Any]]:
    """The image as a lazy dask array, its voxel size and unit, and a description of its source."""
    factors = parse_bin(bin)
    if isinstance(image, str | os.PathLike):
        from voxelwise.io import open_volume  # io may import more than workspace needs

        volume = open_volume(image, key=key, roi=roi, bin=factors)
        data = volume.data
        if spacing is not None:
            voxel = tuple(s * f for s, f in zip(parse_spacing(spacing), factors))
        elif volume.spacing is not None:
            voxel = parse_spacing(volume.spacing)
        else:
            voxel = tuple(float(f) for f in factors)
        source = {
            "path": str(Path(image).expanduser().resolve()),
            "format": volume.format,
            "key": volume.key,
            "source_shape": list(volume.source_shape),
        }
        return data, voxel, unit if unit is not None else volume.unit, source  # type: ignore[return-value]
    if key is not None:
        raise TypeError(
            "key= selects a dataset inside a file; it cannot be used with an array image"
        )
    data = as_dask(image, chunks=parse_chunks(chunks, as_volume_shape(np.shape(image))))
    if data.dtype == bool:
        data = data.astype(np.uint8)
    source = {"path": None, "format": "array", "key": None, "source_shape": list(data.shape)}
    data = data[parse_roi(roi, data.shape)]
    if factors != (1, 1, 1):
        data = downsample(data, factors)
    base = parse_spacing(spacing) if spacing is not None else (1.0, 1.0, 1.0)
    voxel = tuple(s * f for s, f in zip(base, factors))
    return data, voxel, unit, source  # type: ignore[return-value]


def create_workspace(
    path: str | os.PathLike[str],
    image: Any,
    *,
    roi: Any = None,
    bin: Any = 1,
    chunks: Any = None,
    spacing: Any = None,
    unit: str | None = None,
    key: str | None = None,
    overwrite: bool = False,
    name: str | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
    source_info: dict[str, Any] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Write a complete workspace next to ``path``, then rename it into place; return ``path``.

    ``source_info`` replaces the recorded description of the image's source (the ``source``
    metadata and the raw layer's parameters); ``extra_meta`` adds catalog ``meta`` entries.
    Both are in place before the workspace appears at ``path``.
    """
    start = time.perf_counter()
    path = Path(path).expanduser().absolute()
    _check_target(path, overwrite)
    data, voxel, unit, source = _source(
        image, roi=roi, bin=bin, chunks=chunks, spacing=spacing, unit=unit, key=key
    )
    shape = tuple(int(s) for s in data.shape)
    chunk_shape = parse_chunks(chunks, shape)
    title = name if name is not None else (path.name.split(".")[0] or path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(path)
    tmp = path.parent / f".{path.name}.vw-tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        root = open_group(tmp / STORE, mode="w")
        root.create_group("layers")
        labels = root.create_group("labels")
        labels.attrs["ome"] = {"version": NGFF_VERSION, "labels": []}
        levels, stats = write_layer(
            root,
            data,
            spacing=voxel,
            unit=unit,
            chunks=chunk_shape,
            name=title,
            is_label=False,
            levels=None,
            scheduler=scheduler,
            progress=progress,
        )
        created = utc_now()
        params = {
            **source,
            "roi": None if roi is None else roi_to_str(parse_roi(roi, source["source_shape"])),
            "bin": list(parse_bin(bin)),
        }
        if source_info is not None:
            params = dict(source_info)
        raw = LayerInfo(
            name=RAW,
            kind="image",
            dtype=str(data.dtype),
            shape=shape,  # type: ignore[arg-type]
            chunks=chunk_shape,
            directory="",
            levels=levels,
            sources=(),
            params=params,
            label_set=None,
            software_version=__version__,
            created=created,
            duration=time.perf_counter() - start,
            stats=stats,
        )
        meta = {
            "name": title,
            "shape": list(shape),
            "dtype": str(data.dtype),
            "spacing": list(voxel),
            "unit": unit,
            "chunks": list(chunk_shape),
            "created": created.isoformat(),
            "software_version": __version__,
            "source": params,
            **(extra_meta or {}),
        }
        catalog = Catalog.initialize(tmp / CATALOG, meta)
        with catalog.write() as conn:
            conn.execute(UPSERT_LAYER, layer_to_params(raw))
        _place(tmp, path)
    except BaseException:
        discard_tree(tmp)
        raise
    return path


def _place(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` to ``path``, replacing an existing workspace only now."""
    if path.exists():
        old = path.parent / f".{path.name}.vw-old-{uuid.uuid4().hex[:8]}"
        os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rename(old, path)
            raise
        remove_tree(old)
    else:
        os.rename(tmp, path)
