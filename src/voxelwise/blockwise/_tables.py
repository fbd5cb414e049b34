"""Apply a small per-chunk lookup table to every chunk of a dask array, lazily.

The label functions learn, in one pass over the volume, how each chunk's ids map to global ids.
Each chunk's table goes into the task graph next to that chunk's task only, so the graph holds
O(number of labels) in total and no task ever sees the whole table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph

__all__ = ["Table", "chunk_blocks", "map_with_tables"]


@dataclasses.dataclass(frozen=True, eq=False)
class Table:
    """A chunk's id map: ``values[searchsorted(keys, ids)]`` (or ``values[ids]`` without keys)."""

    values: np.ndarray
    keys: np.ndarray | None = None

    def apply(self, ids: np.ndarray) -> np.ndarray:
        if self.keys is None:
            return self.values[ids]
        return self.values[np.searchsorted(self.keys, ids)]


def chunk_blocks(x: da.Array) -> list[Any]:
    """One ``dask.delayed`` object per chunk of ``x``, in C order of the chunk grid."""
    return list(x.to_delayed().ravel())


def map_with_tables(
    func: Callable[..., np.ndarray],
    x: da.Array,
    tables: list[Table],
    *,
    dtype: np.dtype,
    name: str,
    **kwargs: Any,
) -> da.Array:
    """Lazily compute ``func(block, table, **kwargs)`` for every chunk of ``x``.

    ``tables`` holds one :class:`Table` per chunk, in C order of ``x``'s chunk grid.
    """
    token = dask.base.tokenize(x, name, kwargs, [(t.values, t.keys) for t in tables])
    tname = f"{name}-tables-{token}"
    indices = list(np.ndindex(*x.numblocks))
    layer: dict[Any, Any] = {
        (tname, *idx): table for idx, table in zip(indices, tables, strict=True)
    }
    graph = HighLevelGraph.from_collections(tname, layer, dependencies=[])
    tab = da.Array(
        graph,
        tname,
        chunks=tuple((1,) * n for n in x.numblocks),
        meta=np.empty((0,) * x.ndim, dtype=object),
    )
    ind = "zyx"[: x.ndim] if x.ndim <= 3 else tuple(range(x.ndim))
    return da.blockwise(
        func,
        ind,
        x,
        ind,
        tab,
        ind,
        dtype=dtype,
        align_arrays=False,
        adjust_chunks=dict(zip(ind, x.chunks)),
        meta=np.empty((0,) * x.ndim, dtype=dtype),
        name=f"{name}-{token}",
        **kwargs,
    )
