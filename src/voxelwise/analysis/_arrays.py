"""Input validation and chunk helpers shared by the analysis modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise._validate import as_volume_shape, parse_chunks, parse_spacing
from voxelwise.analysis._errors import ShapeMismatchError

__all__ = [
    "as_labels",
    "as_volume",
    "chunk_origins",
    "distinct_nonzero",
    "haloed_blocks",
    "haloed_tasks",
    "id_dtype",
    "is_stored",
    "isin_block",
    "match_shape",
    "parse_ids",
    "parse_spacing_or_unit",
    "remap",
]


def as_volume(image: Any, *, what: str = "image", chunks: Any = None) -> da.Array:
    """Wrap a NumPy, dask or zarr array as a (Z, Y, X) dask array (2D becomes one slice)."""
    if not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise TypeError(
            f"Expected the {what} as an array (NumPy, dask, zarr), got {type(image).__name__} "
            "instead; convert it with numpy.asarray first"
        )
    shape = as_volume_shape(tuple(int(s) for s in image.shape), what=what)
    if isinstance(image, da.Array):
        arr = image.reshape(shape) if image.shape != shape else image
        if chunks is not None:
            arr = arr.rechunk(parse_chunks(chunks, shape))
        return arr
    stored = getattr(image, "chunks", None)
    if chunks is None and isinstance(stored, tuple) and len(stored) == len(image.shape) == 3:
        grid = tuple(int(c) for c in stored)
    else:
        grid = parse_chunks(chunks, shape)
    arr = da.from_array(image, chunks=grid if len(image.shape) == 3 else grid[1:], asarray=True)
    return arr.reshape(shape) if arr.shape != shape else arr


def as_labels(labels: Any, *, what: str = "labels", chunks: Any = None) -> da.Array:
    """:func:`as_volume` for label images: integer or boolean values, no negatives checked."""
    arr = as_volume(labels, what=what, chunks=chunks)
    if arr.dtype.kind not in "iub":
        raise TypeError(
            f"Expected integer (or boolean) {what}, got dtype {arr.dtype} instead; labels are "
            "whole numbers with 0 as background: cast them first (e.g. labels.astype('uint32')) "
            "or threshold a probability map (prob > 0.5)"
        )
    return arr


def match_shape(reference: da.Array, other: da.Array, names: tuple[str, str]) -> da.Array:
    """Check ``other`` has ``reference``'s shape and rechunk it to ``reference``'s grid."""
    if tuple(other.shape) != tuple(reference.shape):
        raise ShapeMismatchError(
            f"The {names[0]} has shape {tuple(reference.shape)} but the {names[1]} has shape "
            f"{tuple(other.shape)} (z, y, x); they must match voxel for voxel: crop or resample "
            "one of them first"
        )
    return other.rechunk(reference.chunks)


def parse_spacing_or_unit(spacing: Any) -> tuple[float, float, float]:
    """``None`` means one unit per voxel; otherwise :func:`voxelwise._validate.parse_spacing`."""
    return (1.0, 1.0, 1.0) if spacing is None else parse_spacing(spacing)


def parse_ids(ids: Any, *, what: str = "ids") -> np.ndarray:
    """Object ids as a sorted int64 array of distinct values >= 1."""
    if isinstance(ids, int | np.integer) and not isinstance(ids, bool):
        values = np.array([int(ids)], dtype=np.int64)
    elif isinstance(ids, Iterable) and not isinstance(ids, str | bytes):
        items = list(ids)
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
            raise TypeError(f"Expected {what} as whole numbers, got {ids!r} instead")
        values = np.unique(np.array(items, dtype=np.int64))
    else:
        raise TypeError(f"Expected {what} as an int or a sequence of ints, got {ids!r} instead")
    if values.size and values[0] < 1:
        raise ValueError(
            f"Expected {what} >= 1 (0 is the background, not an object), got {ids!r} instead"
        )
    return values


def id_dtype(max_id: int) -> np.dtype:
    """uint32, or uint64 when ``max_id`` does not fit."""
    return np.dtype(np.uint32) if max_id < 2**32 else np.dtype(np.uint64)


def chunk_origins(arr: da.Array) -> list[tuple[int, int, int]]:
    """The (z, y, x) start of every chunk, in C order of the chunk grid."""
    starts = [np.r_[0, np.cumsum(c)[:-1]] for c in arr.chunks]
    return [
        (int(starts[0][i]), int(starts[1][j]), int(starts[2][k]))
        for i, j, k in np.ndindex(*arr.numblocks)
    ]


def distinct_nonzero(block: np.ndarray) -> np.ndarray:
    """The sorted distinct non-zero values of a block (fast for a dense range of ids)."""
    values = block[block != 0]  # mostly background: work on the few others, copy nothing else
    if values.size == 0:
        return np.empty(0, dtype=block.dtype)
    lo, hi = values.min(), values.max()
    if block.dtype.kind in "iu" and int(hi) - int(lo) <= 4 * values.size + 1024:
        present = np.bincount((values - lo).astype(np.intp), minlength=int(hi - lo) + 1) > 0
        return (np.flatnonzero(present) + lo).astype(block.dtype)
    return np.unique(values)


def isin_block(block: np.ndarray, *, values: np.ndarray) -> np.ndarray:
    """``np.isin`` with the values as a keyword, for ``map_blocks``."""
    return np.isin(block, values)


def remap(block: np.ndarray, keys: np.ndarray, values: np.ndarray, out_dtype: Any) -> np.ndarray:
    """Replace each voxel equal to ``keys[i]`` by ``values[i]``; other voxels keep their value.

    ``keys`` is sorted; the result is cast to ``out_dtype``.
    """
    out = block.astype(out_dtype, copy=True)
    if keys.size == 0:
        return out
    pos = np.searchsorted(keys, block)
    np.minimum(pos, keys.size - 1, out=pos)
    hit = keys[pos] == block
    out[hit] = values[pos[hit]]
    return out


def is_stored(image: Any) -> bool:
    """Whether ``image`` is a stored (Z, Y, X) array to read regions from directly.

    True for zarr, HDF5 and NumPy arrays; False for dask arrays (lazy results).
    """
    return (
        not isinstance(image, da.Array)
        and hasattr(image, "__getitem__")
        and len(getattr(image, "shape", ())) == 3
    )


def _read_haloed(
    source: Any,
    origin: tuple[int, int, int],
    shape: tuple[int, int, int],
    halo: tuple[int, int, int],
    fill: Any,
) -> np.ndarray:
    """Read a chunk plus its halo from ``source``, padding with ``fill`` outside the volume."""
    size = source.shape
    lo = [o - h for o, h in zip(origin, halo)]
    hi = [o + s + h for o, s, h in zip(origin, shape, halo)]
    inner = tuple(slice(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, size))
    if all(a >= 0 and b <= n for a, b, n in zip(lo, hi, size)):
        return np.asarray(source[inner])
    block = np.full([b - a for a, b in zip(lo, hi)], fill, dtype=source.dtype)
    block[tuple(slice(i.start - a, i.stop - a) for i, a in zip(inner, lo))] = source[inner]
    return block


def _apply_haloed(
    func: Callable[..., Any],
    source: Any,
    origin: tuple[int, int, int],
    shape: tuple[int, int, int],
    halo: tuple[int, int, int],
    fill: Any,
    kwargs: dict[str, Any],
) -> Any:
    block = _read_haloed(source, origin, shape, halo, fill)
    return func(block, origin=origin, shape=shape, **kwargs)


def haloed_tasks(
    func: Callable[..., Any],
    arr: da.Array,
    halo: tuple[int, int, int],
    *,
    fill: Any = 0,
    source: Any = None,
    **kwargs: Any,
) -> list[Any]:
    """``func(block, origin=, shape=, **kwargs)`` for every chunk extended by ``halo``, lazily.

    ``block`` is the chunk plus ``halo`` voxels per side (``fill`` outside the volume);
    ``origin`` and ``shape`` describe the chunk itself. Returns one ``dask.delayed`` per
    chunk, in C order of the chunk grid.

    With ``source`` (a stored array holding ``arr``'s values, see :func:`is_stored`), each
    task reads its own region from it: no task waits for its neighbours' chunks, so memory is
    one extended block per worker whatever the volume's cross-section (the halos are read
    twice). Otherwise the halos come from the neighbouring chunks of ``arr``.
    """
    if source is None:
        blocks, origins, shapes = haloed_blocks(arr, halo, fill=fill)
        return [
            dask.delayed(func)(b, origin=o, shape=s, **kwargs)
            for b, o, s in zip(blocks, origins, shapes)
        ]
    task = dask.delayed(_apply_haloed, pure=False)
    shapes = [
        (arr.chunks[0][i], arr.chunks[1][j], arr.chunks[2][k])
        for i, j, k in np.ndindex(*arr.numblocks)
    ]
    return [
        task(func, source, o, s, halo, fill, kwargs) for o, s in zip(chunk_origins(arr), shapes)
    ]


def haloed_blocks(
    arr: da.Array, halo: tuple[int, int, int], *, fill: Any = 0
) -> tuple[list[Any], list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Every chunk extended by ``halo`` voxels on each side (``fill`` outside the volume), lazily.

    Returns one ``dask.delayed`` block per chunk in C order of the chunk grid (its core is
    ``block[hz:hz + sz, hy:hy + sy, hx:hx + sx]``), each core's origin and each core's shape.
    Any halo works, even one wider than the chunks or the volume. The halos come from the
    neighbouring chunks (each chunk is computed once).
    """
    origins = chunk_origins(arr)
    shapes = [
        (arr.chunks[0][i], arr.chunks[1][j], arr.chunks[2][k])
        for i, j, k in np.ndindex(*arr.numblocks)
    ]
    padded = da.pad(arr, [(h, h) for h in halo], mode="constant", constant_values=fill)
    blocks = []
    for origin, shape in zip(origins, shapes):
        region = tuple(slice(o, o + s + 2 * h) for o, s, h in zip(origin, shape, halo))
        piece = padded[region]
        blocks.append(piece.rechunk(piece.shape).to_delayed().ravel()[0])
    return blocks, origins, shapes
