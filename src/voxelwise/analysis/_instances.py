"""Instances from labels: connected components, small-object removal, hole filling; chunkwise."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._arrays import as_labels, haloed_blocks, isin_block, remap
from voxelwise.blockwise import label

__all__ = ["connected_components", "fill_holes", "object_sizes", "remove_small_objects"]


def _parse_values(value: Any) -> np.ndarray:
    items = [value] if np.ndim(value) == 0 else list(value)
    if not items or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items
    ):
        raise TypeError(f"Expected value as a label (int) or a list of labels, got {value!r}")
    return np.unique(np.array(items, dtype=np.int64))


def connected_components(
    image: Any,
    *,
    value: Any = None,
    by_value: bool = False,
    connectivity: int = 1,
    chunks: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """Connected components of a label (or of every label), merged across chunks.

    Parameters
    ----------
    image : (Z, Y, X) array of int or bool
        A mask or a label/class image (NumPy, dask or zarr).
    value : int or sequence of int, optional
        Take the components of the voxels equal to this label (or to any of these labels).
        Default: every non-zero voxel.
    by_value : bool
        Keep different labels apart: touching voxels join only when their labels are equal, so
        each label's components are numbered separately ("instances of every label").
    connectivity : {1, 2, 3}
        Neighbours that touch: faces (1), also edges (2), also corners (3).
    chunks : int or (3,) ints, optional
        Rechunk first.
    scheduler, progress
        For the analysis pass; see :func:`voxelwise.blockwise.label`.

    Returns
    -------
    labels : (Z, Y, X) dask array of uint32 (uint64 beyond 2**32 - 1 objects)
        Lazy component ids 1..n, 0 for background; identical for any chunking up to a
        permutation of ids.
    n : int
        The number of components.

    Examples
    --------
    >>> import numpy as np
    >>> classes = np.array([[[1, 1, 0, 2, 2, 1]]])
    >>> _, n = connected_components(classes, value=1)
    >>> n
    2
    >>> _, n = connected_components(classes, by_value=True)
    >>> n
    3
    """
    arr = as_labels(image, what="image", chunks=chunks)
    if value is not None:
        values = _parse_values(value)
        inside = da.map_blocks(isin_block, arr, values=values, dtype=bool)
        if by_value:
            if 0 in values:
                raise ValueError(
                    "by_value=True keeps labels apart, but 0 is the background: leave 0 out of "
                    "value, or use by_value=False to take the components of the 0 voxels"
                )
            arr = da.where(inside, arr, 0)
        else:
            arr = inside
    return label(
        arr, connectivity=connectivity, by_value=by_value, scheduler=scheduler, progress=progress
    )


def _counts(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids, counts = np.unique(block, return_counts=True)
    keep = ids != 0
    return ids[keep].astype(np.int64), counts[keep].astype(np.int64)


def object_sizes(
    labels: Any,
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ids of a label volume (sorted) and their sizes in voxels, chunk by chunk.

    Examples
    --------
    >>> import numpy as np
    >>> ids, sizes = object_sizes(np.array([[[0, 5, 5, 2]]]))
    >>> ids.tolist(), sizes.tolist()
    ([2, 5], [1, 2])
    """
    arr = as_labels(labels)
    tasks = [dask.delayed(_counts)(b) for b in arr.to_delayed().ravel()]
    parts = _compute.compute(*tasks, scheduler=scheduler, progress=progress)
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    all_ids = np.concatenate([p[0] for p in parts])
    ids, inverse = np.unique(all_ids, return_inverse=True)
    sizes = np.bincount(inverse.ravel(), np.concatenate([p[1] for p in parts]), minlength=ids.size)
    return ids, sizes.astype(np.int64)


def _drop(block: np.ndarray, keys: np.ndarray, out_dtype: np.dtype) -> np.ndarray:
    return remap(block, keys, np.zeros(keys.size, dtype=out_dtype), out_dtype)


def remove_small_objects(
    labels: Any,
    min_size: int,
    *,
    connectivity: int = 1,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> da.Array:
    """Remove objects of fewer than ``min_size`` voxels (set them to 0), chunk by chunk.

    Parameters
    ----------
    labels : (Z, Y, X) array of int or bool
        Object ids (objects are the ids, whatever their shape), or a mask whose connected
        components (with ``connectivity``) are the objects.
    min_size : int
        Objects with fewer voxels are removed (``min_size=1`` keeps everything).
    connectivity : {1, 2, 3}
        For a mask only: how voxels join into objects.
    scheduler, progress
        For the pass that counts the objects' voxels.

    Returns
    -------
    (Z, Y, X) dask array
        The same dtype as ``labels``; surviving objects keep their ids.

    Examples
    --------
    >>> import numpy as np
    >>> out = remove_small_objects(np.array([[[1, 1, 1, 0, 2, 0, 3, 3]]]), 2)
    >>> out.compute().tolist()
    [[[1, 1, 1, 0, 0, 0, 3, 3]]]
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer) or min_size < 0:
        raise TypeError(f"Expected min_size as a whole number of voxels >= 0, got {min_size!r}")
    arr = as_labels(labels)
    if arr.dtype == bool:
        components, _ = label(arr, connectivity=connectivity, scheduler=scheduler)
        kept = remove_small_objects(components, min_size, scheduler=scheduler, progress=progress)
        return kept != 0
    ids, sizes = object_sizes(arr, scheduler=scheduler, progress=progress)
    small = ids[sizes < int(min_size)]
    if small.size == 0:
        return arr
    return da.map_blocks(_drop, arr, dask.delayed(small), arr.dtype, dtype=arr.dtype)


def _adjacency(
    labels: np.ndarray,
    holes: np.ndarray,
    *,
    origin: tuple[int, ...],
    shape: tuple[int, ...],
    volume: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """(pairs of background component and touching object id, components on the volume border).

    Both blocks carry a one-voxel halo (0 outside the volume).
    """
    codes = []
    for axis in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        for hole_side, object_side in ((a, b), (b, a)):
            h = holes[tuple(hole_side)]
            o = labels[tuple(object_side)]
            touch = (h != 0) & (o != 0)
            if touch.any():
                pair = np.stack([h[touch].astype(np.int64), o[touch].astype(np.int64)], axis=1)
                codes.append(np.unique(pair, axis=0))
    pairs = np.unique(np.concatenate(codes), axis=0) if codes else np.empty((0, 2), np.int64)
    core = holes[1:-1, 1:-1, 1:-1]
    border = []
    for axis in range(3):
        if origin[axis] == 0:
            border.append(np.take(core, 0, axis=axis).ravel())
        if origin[axis] + shape[axis] == volume[axis]:
            border.append(np.take(core, -1, axis=axis).ravel())
    edge = np.unique(np.concatenate(border)) if border else np.empty(0, np.int64)
    return pairs, edge[edge != 0].astype(np.int64)


def _fill(block: np.ndarray, holes: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    filled = remap(holes, keys, values, block.dtype)
    filled[~np.isin(holes, keys)] = 0
    return np.where(block == 0, filled, block)


def fill_holes(
    labels: Any,
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> da.Array:
    """Fill the holes of every object: background enclosed by that one object, chunk by chunk.

    A hole is a connected region of background (6-connected, as in
    :func:`scipy.ndimage.binary_fill_holes`) that does not touch the volume's border and
    touches exactly one object; it gets that object's id. Background enclosed by two or more
    touching objects is left as it is. For a mask this equals ``binary_fill_holes``.

    Parameters
    ----------
    labels : (Z, Y, X) array of int or bool
        Object ids, or a mask.
    scheduler, progress
        For the passes that label the background and find what each region touches.

    Returns
    -------
    (Z, Y, X) dask array
        The same dtype as ``labels``.

    Examples
    --------
    >>> import numpy as np
    >>> cube = np.zeros((5, 5, 5), dtype=np.uint8)
    >>> cube[1:4, 1:4, 1:4] = 4
    >>> cube[2, 2, 2] = 0
    >>> int(fill_holes(cube).compute()[2, 2, 2])
    4
    """
    arr = as_labels(labels)
    is_mask = arr.dtype == bool
    if is_mask:
        arr = arr.astype(np.uint8)
    holes, _ = label(arr == 0, connectivity=1, scheduler=scheduler)
    lab_blocks, origins, shapes = haloed_blocks(arr, (1, 1, 1))
    hole_blocks, _, _ = haloed_blocks(holes, (1, 1, 1))
    volume = tuple(int(s) for s in arr.shape)
    tasks = [
        dask.delayed(_adjacency)(lb, hb, origin=o, shape=s, volume=volume)
        for lb, hb, o, s in zip(lab_blocks, hole_blocks, origins, shapes)
    ]
    parts = _compute.compute(*tasks, scheduler=scheduler, progress=progress)
    pairs = np.unique(np.concatenate([p[0] for p in parts]), axis=0)
    border = np.unique(np.concatenate([p[1] for p in parts]))
    comps, n_touching = np.unique(pairs[:, 0], return_counts=True)
    single = comps[(n_touching == 1) & ~np.isin(comps, border)]
    keys = single.astype(holes.dtype)
    values = pairs[np.isin(pairs[:, 0], single), 1].astype(arr.dtype)  # sorted like keys
    out = da.map_blocks(
        _fill, arr, holes, dask.delayed(keys), dask.delayed(values), dtype=arr.dtype
    )
    return out.astype(bool) if is_mask else out
