"""Edit instance labels by id: merge, delete and split objects, chunk by chunk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._arrays import as_labels, id_dtype, isin_block, parse_ids, remap
from voxelwise.analysis._watershed import watershed_split
from voxelwise.blockwise import label

__all__ = ["delete_objects", "merge_objects", "split_objects"]


def _remap_block(block: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    return remap(block, keys, values, block.dtype)


def _as_instances(labels: Any) -> da.Array:
    arr = as_labels(labels)
    if arr.dtype == bool:
        raise TypeError(
            "Expected instance labels (ids), got a boolean mask; number its objects first with "
            "connected_components(mask)"
        )
    return arr


def merge_objects(labels: Any, groups: Any) -> da.Array:
    """Merge objects: every id of a group becomes the group's smallest id (lazy, chunkwise).

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        Object ids (NumPy, dask or zarr).
    groups : sequence of sequences of int, or mapping of int to sequence of int
        Ids to merge, e.g. ``[[3, 7], [10, 11, 12]]``; or ``{target: [ids]}`` to choose the id
        that survives. An id may appear in one group only.

    Returns
    -------
    (Z, Y, X) dask array
        Same dtype as ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> merge_objects(np.array([[[1, 2, 3, 4]]]), [[2, 4]]).compute().tolist()
    [[[1, 2, 3, 2]]]
    """
    arr = _as_instances(labels)
    if isinstance(groups, Mapping):
        pairs = [(int(t), parse_ids(g, what="ids to merge")) for t, g in groups.items()]
    elif isinstance(groups, list | tuple):
        if groups and all(isinstance(v, int | np.integer) for v in groups):
            groups = [groups]  # one group given flat
        pairs = []
        for g in groups:
            ids = parse_ids(g, what="ids to merge")
            pairs.append((int(ids[0]) if ids.size else 0, ids))
    else:
        raise TypeError(
            f"Expected groups as lists of ids (e.g. [[3, 7], [10, 11]]) or {{target: [ids]}}, "
            f"got {type(groups).__name__} instead"
        )
    keys: list[int] = []
    values: list[int] = []
    for target, ids in pairs:
        for i in ids.tolist():
            if i in keys:
                raise ValueError(f"Id {i} is in two merge groups; put it in one group only")
            keys.append(i)
            values.append(target)
    order = np.argsort(keys)
    k = np.asarray(keys, dtype=np.int64)[order]
    v = np.asarray(values, dtype=np.int64)[order]
    if k.size and np.iinfo(arr.dtype).max < max(int(k.max()), int(v.max())):
        raise ValueError(f"Ids {k.tolist()} do not fit the labels' dtype {arr.dtype}")
    return da.map_blocks(
        _remap_block,
        arr,
        dask.delayed(k.astype(arr.dtype)),
        dask.delayed(v.astype(arr.dtype)),
        dtype=arr.dtype,
    )


def delete_objects(labels: Any, ids: Any) -> da.Array:
    """Delete objects: set the voxels of these ids to 0 (background), lazily.

    Examples
    --------
    >>> import numpy as np
    >>> delete_objects(np.array([[[1, 2, 3, 2]]]), [2]).compute().tolist()
    [[[1, 0, 3, 0]]]
    """
    arr = _as_instances(labels)
    k = parse_ids(ids, what="ids to delete")
    k = k[k <= np.iinfo(arr.dtype).max].astype(arr.dtype)
    zeros = np.zeros(k.size, dtype=arr.dtype)
    return da.map_blocks(_remap_block, arr, dask.delayed(k), dask.delayed(zeros), dtype=arr.dtype)


def _split_codes(labels: np.ndarray, basins: np.ndarray, *, keys: np.ndarray) -> np.ndarray:
    """A code per selected voxel that differs between objects and between basins; 0 elsewhere."""
    rank = np.searchsorted(keys, labels)
    np.minimum(rank, keys.size - 1, out=rank)
    selected = keys[rank] == labels
    codes = np.zeros(labels.shape, dtype=np.uint64)
    width = np.uint64(keys.size + 1)
    codes[selected] = (
        basins[selected].astype(np.uint64) * width + rank[selected].astype(np.uint64) + 1
    )
    return codes


def _place(
    block: np.ndarray, pieces: np.ndarray, *, offset: int, out_dtype: np.dtype
) -> np.ndarray:
    out = block.astype(out_dtype)
    inside = pieces != 0
    out[inside] = pieces[inside].astype(out_dtype) + out_dtype.type(offset)
    return out


def split_objects(
    labels: Any,
    ids: Any,
    *,
    min_distance: float | None = None,
    spacing: Any = None,
    connectivity: int = 1,
    halo: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, np.ndarray]:
    """Split objects by id: into their connected pieces, or by a distance watershed.

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        Object ids.
    ids : int or sequence of int
        The objects to split; the others keep their ids.
    min_distance : float, optional
        Split each object with :func:`watershed_split` at this seed distance (spacing units).
        Default: split each object into its connected components (after an edit cut it).
    spacing, halo
        For the watershed; see :func:`watershed_split`.
    connectivity : {1, 2, 3}
        How voxels join into pieces.
    scheduler, progress
        For the passes that find the largest id and number the pieces.

    Returns
    -------
    labels : (Z, Y, X) dask array
        The input's dtype, or a wider unsigned one when the new ids need it. Every piece of a
        split object gets a new id after the largest existing id; pieces never span two objects.
    new_ids : (n,) ndarray of int64
        The ids given to the pieces.

    Examples
    --------
    >>> import numpy as np
    >>> out, new = split_objects(np.array([[[5, 5, 0, 5, 2]]], dtype=np.uint8), [5])
    >>> out.compute().tolist(), new.tolist()
    ([[[6, 6, 0, 7, 2]]], [6, 7])
    """
    arr = _as_instances(labels)
    keys = parse_ids(ids, what="ids to split")
    (top,) = _compute.compute(arr.max(), scheduler=scheduler)
    top = max(int(top), 0)
    selected = da.map_blocks(isin_block, arr, values=keys, dtype=bool)
    if min_distance is None:
        codes = da.where(selected, arr, 0)
    else:
        basins, _ = watershed_split(
            selected,
            min_distance=min_distance,
            spacing=spacing,
            connectivity=connectivity,
            halo=halo,
            scheduler=scheduler,
        )
        codes = da.map_blocks(
            _split_codes, arr, basins.rechunk(arr.chunks), keys=keys, dtype=np.uint64
        )
    pieces, n = label(
        codes, connectivity=connectivity, by_value=True, scheduler=scheduler, progress=progress
    )
    out_dtype = (
        np.promote_types(arr.dtype, id_dtype(top + n))
        if top + n > np.iinfo(arr.dtype).max
        else arr.dtype
    )
    out = da.map_blocks(
        _place,
        arr,
        pieces.rechunk(arr.chunks),
        offset=top,
        out_dtype=np.dtype(out_dtype),
        dtype=out_dtype,
    )
    return out, np.arange(top + 1, top + n + 1, dtype=np.int64)
