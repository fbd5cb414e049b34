"""Make label ids consecutive (1..n), chunk by chunk, with memory O(number of labels)."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.blockwise._arrays import as_dask, label_dtype
from voxelwise.blockwise._tables import Table, chunk_blocks, map_with_tables

__all__ = ["merge_chunk_labels", "relabel_sequential"]


def _as_labels(labels: Any, chunks: Any) -> da.Array:
    arr = as_dask(labels, chunks=chunks, what="labels")
    if arr.dtype.kind not in "iub":
        raise TypeError(
            f"Expected integer labels, got dtype {arr.dtype} instead; round or cast the labels "
            "(e.g. labels.astype(np.uint32)) first"
        )
    return arr


def _ids(block: np.ndarray) -> np.ndarray:
    """The sorted distinct ids of a block, background (0) included when present."""
    return np.unique(block)


def _apply(block: np.ndarray, table: Table, out_dtype: np.dtype) -> np.ndarray:
    return table.apply(block).astype(out_dtype, copy=False)


def _chunk_ids(
    arr: da.Array, scheduler: Scheduler, progress: ProgressCallback | None
) -> list[np.ndarray]:
    tasks = [dask.delayed(_ids)(b) for b in chunk_blocks(arr)]
    return list(_compute.compute(*tasks, scheduler=scheduler, progress=progress))


def relabel_sequential(
    labels: Any,
    *,
    chunks: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """Renumber the ids of ``labels`` to 1..n keeping their order; 0 stays 0.

    Like :func:`skimage.segmentation.relabel_sequential`, but chunk by chunk: one pass collects
    each chunk's distinct ids (memory O(number of labels), never O(voxels)); the result is lazy
    and computes each chunk independently (store it with :func:`store_chunks`).

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        NumPy, dask or zarr array. Negative ids are renumbered like positive ones.
    chunks : int or (int, int, int), optional
        Rechunk first (default: the array's own chunks).
    scheduler, progress
        Where to run the pass that collects the ids, and ``progress(done, total)`` for it;
        see :func:`compute`.

    Returns
    -------
    relabelled : (Z, Y, X) dask array of uint32 (uint64 when n >= 2**32)
        The same partition of the volume with ids 1..n; id ``a`` < id ``b`` before implies the
        same after.
    n : int
        The number of distinct non-zero ids.

    Notes
    -----
    ``labels`` is read twice: once now, once when the result is computed; if it is expensive to
    compute, store it first and pass the stored array.

    Examples
    --------
    >>> import numpy as np
    >>> out, n = relabel_sequential(np.array([[[0, 7, 7, 42, 5]]]))
    >>> out.compute().tolist(), n
    ([[[0, 2, 2, 3, 1]]], 3)
    """
    arr = _as_labels(labels, chunks)
    per_chunk = _chunk_ids(arr, scheduler, progress)
    nonzero = [ids[ids != 0] for ids in per_chunk]
    everything = np.unique(np.concatenate(nonzero)) if nonzero else np.empty(0, arr.dtype)
    n = int(everything.size)
    dtype = label_dtype(n)
    tables = []
    for ids in per_chunk:
        values = (np.searchsorted(everything, ids) + 1).astype(dtype)
        values[ids == 0] = 0
        tables.append(Table(values=values, keys=ids))
    return map_with_tables(_apply, arr, tables, dtype=dtype, name="vw-relabel", out_dtype=dtype), n


def merge_chunk_labels(
    labels: Any,
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """Make labels numbered independently in each chunk globally unique and consecutive.

    For chunk functions that number their regions from 1 in every chunk (supervoxels, per-chunk
    watershed): id ``k`` of chunk ``c`` becomes ``offset(c) + rank of k in c``, with chunks in C
    order of the chunk grid, so ids run 1..n over the volume. Regions are not joined across
    chunk faces (use :func:`label` to join touching voxels into connected components).

    Parameters
    ----------
    labels : (Z, Y, X) dask or zarr array of int
        Labels on the chunk grid they were produced on (e.g. the output of :func:`map_chunks`,
        or the zarr array it was stored into); 0 is background.
    scheduler, progress
        Where to run the pass that collects each chunk's ids, and its progress callback; see
        :func:`compute`.

    Returns
    -------
    merged : (Z, Y, X) dask array of uint32 (uint64 when n >= 2**32)
        Chunked like ``labels``.
    n : int
        The number of regions over all chunks.

    Notes
    -----
    ``labels`` is read twice (once now to count, once when the result is computed); for an
    expensive chunk function store its output first and pass the stored array.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> per_chunk = da.from_array(np.array([[[1, 1, 2, 1, 0, 1]]]), chunks=(1, 1, 3))
    >>> merged, n = merge_chunk_labels(per_chunk)
    >>> merged.compute().tolist(), n
    ([[[1, 1, 2, 3, 0, 3]]], 3)
    """
    arr = _as_labels(labels, None)
    per_chunk = _chunk_ids(arr, scheduler, progress)
    counts = [int(np.count_nonzero(ids)) for ids in per_chunk]
    n = int(sum(counts))
    dtype = label_dtype(n)
    tables = []
    offset = 0
    for ids, count in zip(per_chunk, counts):
        values = np.zeros(ids.shape, dtype=dtype)
        values[ids != 0] = np.arange(offset + 1, offset + count + 1, dtype=dtype)
        offset += count
        tables.append(Table(values=values, keys=ids))
    return map_with_tables(_apply, arr, tables, dtype=dtype, name="vw-merge", out_dtype=dtype), n
