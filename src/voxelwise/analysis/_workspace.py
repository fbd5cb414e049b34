"""Instances on a :class:`~voxelwise.workspace.Workspace`: layers in, instance layers out.

Each function reads layers lazily, writes its result as a new layer (atomically, through
``ws.add_layer``), and records a run (step, parameters, inputs, outputs, duration) so the
analysis can be replayed on other data.
"""

from __future__ import annotations

import tempfile
import time
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import zarr

from voxelwise._compute import ProgressCallback, Scheduler, store_chunks
from voxelwise.analysis._arrays import isin_block
from voxelwise.analysis._edit import delete_objects, merge_objects, split_objects
from voxelwise.analysis._instances import connected_components, fill_holes, remove_small_objects
from voxelwise.analysis._watershed import watershed_split
from voxelwise.blockwise import relabel_sequential
from voxelwise.errors import LayerExistsError

if TYPE_CHECKING:
    from voxelwise.workspace import LayerInfo, Workspace

__all__ = ["check_new", "edit_instances", "find_instances", "names_of"]


def check_new(ws: Workspace, name: str, overwrite: bool) -> None:
    """Raise :class:`LayerExistsError` early if ``name`` exists and ``overwrite`` is False."""
    if name in ws and not overwrite:
        raise LayerExistsError(
            f"A layer named {name!r} exists already in the workspace {ws.path}; pass "
            "overwrite=True to replace it, or choose another name"
        )


def names_of(ws: Workspace, layer: str) -> dict[int, str]:
    """Value -> label name of a layer's label set (empty without one)."""
    info = ws.layer(layer)
    if info.label_set is None:
        return {}
    return {lab.value: lab.name for lab in ws.label_set(info.label_set)}


def _store(arr: da.Array, folder: str, key: str, scheduler: Scheduler) -> da.Array:
    """Write an intermediate result to a scratch zarr array and read it back lazily."""
    target = zarr.open_array(
        f"{folder}/{key}.zarr", mode="w", shape=arr.shape, dtype=arr.dtype, chunks=arr.chunksize
    )
    store_chunks(arr, target, scheduler=scheduler)
    return da.from_zarr(target)


def find_instances(
    ws: Workspace,
    source: str,
    *,
    name: str | None = None,
    value: Any = None,
    by_value: bool = False,
    connectivity: int = 1,
    min_distance: float | None = None,
    fill: bool = False,
    min_size: int = 0,
    overwrite: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> LayerInfo:
    """Turn a mask or class layer into an ``"instances"`` layer of numbered objects.

    Connected components (of ``value``, of every non-zero voxel, or of every label separately
    with ``by_value``), or with ``min_distance`` a distance-transform watershed that splits
    touching objects; then optionally holes filled and objects under ``min_size`` voxels
    removed, ids renumbered 1..n. See :func:`connected_components`, :func:`watershed_split`,
    :func:`fill_holes`, :func:`remove_small_objects`.

    Returns the new layer (``name``, default ``"<source>_instances"``); its ``params`` record
    the settings and ``n_objects``.
    """
    start = time.perf_counter()
    ws.layer(source)  # raises LayerNotFoundError listing the layers
    name = name or f"{source}_instances"
    check_new(ws, name, overwrite)
    src = ws.get(source)
    with tempfile.TemporaryDirectory(dir=ws.path, prefix=".analysis-") as tmp:
        if min_distance is None:
            labels, n = connected_components(
                src, value=value, by_value=by_value, connectivity=connectivity, scheduler=scheduler
            )
        else:
            if value is not None:
                values = np.atleast_1d(np.asarray(value, dtype=np.int64))
                mask = da.map_blocks(isin_block, src, values=values, dtype=bool)
            else:
                mask = src != 0
            labels, n = watershed_split(
                mask,
                min_distance=min_distance,
                spacing=ws.spacing,
                connectivity=connectivity,
                scheduler=scheduler,
            )
        if fill or min_size:
            labels = _store(labels, tmp, "labels", scheduler)
            if fill:
                labels = _store(fill_holes(labels, scheduler=scheduler), tmp, "filled", scheduler)
            if min_size:
                kept = remove_small_objects(labels, int(min_size), scheduler=scheduler)
                labels, n = relabel_sequential(kept, scheduler=scheduler)
        params = {
            "value": None if value is None else np.atleast_1d(value).tolist(),
            "by_value": bool(by_value),
            "connectivity": int(connectivity),
            "min_distance": min_distance,
            "fill": bool(fill),
            "min_size": int(min_size),
            "n_objects": int(n),
        }
        info = ws.add_layer(
            name,
            labels,
            kind="instances",
            sources=source,
            params=params,
            overwrite=overwrite,
            scheduler=scheduler,
            progress=progress,
        )
    ws.record_run(
        "analysis.instances",
        params=params,
        inputs=[source],
        outputs=[name],
        duration=time.perf_counter() - start,
    )
    return info


def edit_instances(
    ws: Workspace,
    layer: str,
    *,
    merge: Any = None,
    delete: Any = None,
    split: Any = None,
    min_distance: float | None = None,
    name: str | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> LayerInfo:
    """Merge, delete and split objects of an instance layer by id, in that order.

    Writes the result to ``name`` (default: replaces ``layer`` atomically). ``merge`` takes
    groups of ids (see :func:`merge_objects`), ``delete`` ids, ``split`` ids (split into
    connected pieces, or by watershed with ``min_distance``; see :func:`split_objects`).
    """
    start = time.perf_counter()
    ws.layer(layer)
    arr: da.Array = ws.get(layer)
    new_ids: list[int] = []
    with tempfile.TemporaryDirectory(dir=ws.path, prefix=".analysis-") as tmp:
        if merge is not None:
            arr = merge_objects(arr, merge)
        if delete is not None:
            arr = delete_objects(arr, delete)
        if split is not None:
            arr = _store(arr, tmp, "edited", scheduler)
            arr, pieces = split_objects(
                arr, split, min_distance=min_distance, spacing=ws.spacing, scheduler=scheduler
            )
            new_ids = pieces.tolist()
        params = {
            "merge": merge
            if merge is None or not isinstance(merge, dict)
            else {str(k): v for k, v in merge.items()},
            "delete": delete,
            "split": split,
            "min_distance": min_distance,
            "new_ids": new_ids,
        }
        target = name or layer
        info = ws.add_layer(
            target,
            arr,
            kind="instances",
            sources=layer if target != layer else (),
            params=params,
            overwrite=target == layer,
            scheduler=scheduler,
            progress=progress,
        )
    ws.record_run(
        "analysis.edit",
        params=params,
        inputs=[layer],
        outputs=[info.name],
        duration=time.perf_counter() - start,
    )
    return info
