"""Connected components of a chunked volume, merged across chunk boundaries.

One pass labels every chunk on its own (ids 1..n_c per chunk) and keeps only the chunk's six
faces. For every pair of neighbouring chunks (across a face, and for ``connectivity`` 2 and 3
across an edge or a corner) the touching boundary voxels give pairs of equivalent ids. A
union-find over that table (``scipy.sparse.csgraph.connected_components``, O(number of labels))
gives every chunk a small lookup table local id -> global id 1..n. The result is lazy: each
chunk is labelled again and mapped through its table, so nothing O(voxels) is ever held.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import dask
import dask.array as da
import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.blockwise._arrays import as_dask, label_dtype
from voxelwise.blockwise._tables import Table, chunk_blocks, map_with_tables

__all__ = ["label"]

_Face = tuple[int, int]  # (axis, side): side -1 is the first layer, +1 the last


@dataclasses.dataclass(frozen=True, eq=False)
class _Summary:
    """What the merge needs of a labelled chunk: its id count and its boundary layers."""

    n: int
    faces: dict[_Face, np.ndarray]  # local ids on each face
    values: dict[_Face, np.ndarray] | None  # input values on each face (by_value only)


def _label_block(block: np.ndarray, connectivity: int, by_value: bool) -> tuple[np.ndarray, int]:
    structure = ndi.generate_binary_structure(3, connectivity)
    if not by_value:
        ids, n = ndi.label(block != 0, structure=structure)
        return ids, int(n)
    # one scipy label per distinct value, inside that value's bounding box
    values, inverse = np.unique(block, return_inverse=True)
    inverse = inverse.reshape(block.shape)
    ids = np.zeros(block.shape, dtype=np.int32)
    n = 0
    for k, box in enumerate(ndi.find_objects(inverse + 1)):
        if box is None or values[k] == 0:
            continue
        inside = inverse[box] == k
        pieces, count = ndi.label(inside, structure=structure)
        ids[box][inside] = pieces[inside] + n
        n += int(count)
    return ids, n


def _faces(block: np.ndarray) -> dict[_Face, np.ndarray]:
    # copies, so the summary does not keep the whole block alive
    return {
        (axis, side): np.take(block, 0 if side < 0 else -1, axis=axis).copy()
        for axis in range(3)
        for side in (-1, 1)
    }


def _summarise(block: np.ndarray, connectivity: int, by_value: bool) -> _Summary:
    ids, n = _label_block(block, connectivity, by_value)
    return _Summary(n, _faces(ids), _faces(block) if by_value else None)


def _boundary(faces: dict[_Face, np.ndarray], offset: tuple[int, ...]) -> np.ndarray:
    """The chunk's voxels that face its neighbour at ``offset`` (over the axes where it is 0)."""
    axis = next(a for a, o in enumerate(offset) if o)
    face = faces[(axis, offset[axis])]
    rest = [o for a, o in enumerate(offset) if a != axis]
    return face[tuple(slice(None) if o == 0 else (-1 if o > 0 else 0) for o in rest)]


def _touching(
    mine: _Summary, theirs: _Summary, offset: tuple[int, ...], connectivity: int
) -> np.ndarray:
    """(k, 2) distinct pairs (my id, their id) of foreground voxels that touch across the border."""
    back = tuple(-o for o in offset)
    a_ids, b_ids = _boundary(mine.faces, offset), _boundary(theirs.faces, back)
    a_val = b_val = None
    if mine.values is not None and theirs.values is not None:
        a_val, b_val = _boundary(mine.values, offset), _boundary(theirs.values, back)
    crossing = sum(1 for o in offset if o)
    found = []
    for shift in itertools.product((-1, 0, 1), repeat=a_ids.ndim):
        if crossing + sum(1 for s in shift if s) > connectivity:
            continue
        sa = tuple(slice(max(0, -s), n - max(0, s)) for s, n in zip(shift, a_ids.shape))
        sb = tuple(slice(max(0, s), n - max(0, -s)) for s, n in zip(shift, a_ids.shape))
        a, b = a_ids[sa], b_ids[sb]
        touch = (a != 0) & (b != 0)
        if a_val is not None and b_val is not None:
            touch &= a_val[sa] == b_val[sb]
        if touch.any():
            found.append((a[touch].astype(np.int64) << 32) | b[touch].astype(np.int64))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes >> 32, codes & 0xFFFFFFFF], axis=1)


def _equivalences(
    mine: _Summary,
    neighbours: list[tuple[tuple[int, ...], int, _Summary]],
    connectivity: int,
) -> tuple[int, np.ndarray]:
    """This chunk's id count and its (k, 3) pairs (my id, neighbour's flat index, their id)."""
    rows = []
    for offset, flat, theirs in neighbours:
        if mine.n == 0 or theirs.n == 0:
            continue
        pairs = _touching(mine, theirs, offset, connectivity)
        if len(pairs):
            rows.append(np.column_stack([pairs[:, 0], np.full(len(pairs), flat), pairs[:, 1]]))
    table = np.concatenate(rows) if rows else np.empty((0, 3), dtype=np.int64)
    return mine.n, table


def _forward_offsets(connectivity: int) -> list[tuple[int, ...]]:
    """Neighbour offsets whose first non-zero step is +1 (each chunk pair once)."""
    out = []
    for offset in itertools.product((-1, 0, 1), repeat=3):
        nonzero = [o for o in offset if o]
        if nonzero and nonzero[0] > 0 and len(nonzero) <= connectivity:
            out.append(offset)
    return out


def _relabel_chunk(
    block: np.ndarray, table: Table, connectivity: int, by_value: bool, out_dtype: np.dtype
) -> np.ndarray:
    ids, _ = _label_block(block, connectivity, by_value)
    return table.apply(ids).astype(out_dtype, copy=False)


def label(
    image: Any,
    *,
    connectivity: int = 1,
    by_value: bool = False,
    chunks: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[da.Array, int]:
    """Connected components of a chunked volume, with ids unique and consecutive over chunks.

    Equal to :func:`scipy.ndimage.label` (``by_value=False``) or ``skimage.measure.label``
    (``by_value=True``) on the whole array up to a permutation of the ids, but computed chunk by
    chunk: memory is a few chunks plus O(number of components), never O(voxels).

    Parameters
    ----------
    image : (Z, Y, X) array
        NumPy, dask or zarr array. With ``by_value=False`` every non-zero voxel is foreground;
        with ``by_value=True`` neighbouring voxels join only if their values are equal (split a
        label image or class map into its connected pieces); 0 is background either way.
    connectivity : {1, 2, 3}
        Which neighbours touch: 1 shares a face (6 neighbours), 2 also an edge (18), 3 also a
        corner (26), as in :func:`scipy.ndimage.generate_binary_structure`.
    by_value : bool
        Join only voxels of equal value (see ``image``).
    chunks : int or (int, int, int), optional
        Rechunk first (default: the array's own chunks; NumPy input gets a default grid).
    scheduler, progress
        Where to run the analysis pass (labelling every chunk and merging the boundaries), and
        ``progress(done, total)`` for it; see :func:`compute`. Computing the returned array is
        a second pass, reported by whatever computes or stores it.

    Returns
    -------
    labels : (Z, Y, X) dask array of uint32 (uint64 when n >= 2**32)
        Component ids 1..n, 0 for background; chunked like the input. Ids are numbered in C
        order of the chunk grid where the component first appears, then in scan order within
        that chunk (with ``by_value``: by value, then scan order).
    n : int
        The number of components.

    Notes
    -----
    Each chunk is labelled twice (once in the analysis pass, once when the result is computed),
    and ``image`` is read twice: if it is expensive to compute, store it first.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((1, 4, 8), dtype=bool)
    >>> mask[0, 1, :] = True          # one bar across both chunks
    >>> mask[0, 3, 2] = mask[0, 3, 6] = True
    >>> labels, n = label(mask, chunks=(1, 4, 4))
    >>> n
    3
    """
    if connectivity not in (1, 2, 3) or isinstance(connectivity, bool):
        raise ValueError(
            f"Expected connectivity 1 (faces), 2 (faces and edges) or 3 (faces, edges and "
            f"corners), got {connectivity!r} instead"
        )
    arr = as_dask(image, chunks=chunks, what="image")
    by_value = bool(by_value)
    grid = arr.numblocks
    blocks = chunk_blocks(arr)
    summaries = [dask.delayed(_summarise, pure=True)(b, connectivity, by_value) for b in blocks]
    tasks = []
    for flat, idx in enumerate(np.ndindex(*grid)):
        neighbours = []
        for offset in _forward_offsets(connectivity):
            other = tuple(i + o for i, o in zip(idx, offset))
            if all(0 <= j < g for j, g in zip(other, grid)):
                j = int(np.ravel_multi_index(other, grid))
                neighbours.append((offset, j, summaries[j]))
        tasks.append(
            dask.delayed(_equivalences, pure=True)(summaries[flat], neighbours, connectivity)
        )
    results = _compute.compute(*tasks, scheduler=scheduler, progress=progress)

    counts = np.array([r[0] for r in results], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    total = int(counts.sum())
    edges = [
        np.column_stack([offsets[i] + t[:, 0], offsets[t[:, 1]] + t[:, 2]])
        for i, (_, t) in enumerate(results)
        if len(t)
    ]
    pairs = np.concatenate(edges) if edges else np.empty((0, 2), dtype=np.int64)
    graph = sparse.coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
        shape=(total + 1, total + 1),
    )
    n_components, component = csgraph.connected_components(graph, directed=False)
    # number components by their first node: background (node 0) is 0, the rest 1..n in order
    _, first = np.unique(component, return_index=True)
    rank = np.empty(int(n_components), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(int(n_components))
    component = rank[component]
    n = int(n_components) - 1
    dtype = label_dtype(n)
    tables = []
    for offset, count in zip(offsets, counts):
        values = np.zeros(int(count) + 1, dtype=dtype)
        values[1:] = component[offset + 1 : offset + count + 1]
        tables.append(Table(values=values))
    out = map_with_tables(
        _relabel_chunk,
        arr,
        tables,
        dtype=dtype,
        name="vw-label",
        connectivity=connectivity,
        by_value=by_value,
        out_dtype=dtype,
    )
    return out, n
