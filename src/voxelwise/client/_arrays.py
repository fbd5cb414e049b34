"""Layers as lazy dask arrays whose chunks are fetched over HTTP on demand.

Each dask block is one stored chunk of the layer's pyramid level, so computing a slice or a
region fetches only the chunks it needs; napari and notebooks browse remote volumes without
downloading them. The array remembers the layer's version: if the layer is replaced on the
server, fetching raises a ConflictError instead of mixing old and new data.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from voxelwise.client._http import Http, seg

__all__ = ["ChunkReader", "remote_array"]


class ChunkReader:
    """Fetches one chunk of a layer level by its grid index (picklable for dask workers)."""

    def __init__(self, http: Http, workspace: str, layer: str, level: int, version: str) -> None:
        self.http = http
        self.path = f"/workspaces/{seg(workspace)}/layers/{seg(layer)}/chunks/{int(level)}"
        self.version = version

    def __call__(self, block_id: tuple[int, ...] | None = None, **_: Any) -> np.ndarray:
        assert block_id is not None
        cz, cy, cx = (int(i) for i in block_id)
        arr, _version = self.http.array(f"{self.path}/{cz}/{cy}/{cx}", {"version": self.version})
        return arr


def remote_array(http: Http, workspace: str, info: dict[str, Any], *, level: int = 0) -> da.Array:
    """The layer described by ``info`` (from ``GET .../layers/{layer}``) at ``level``, lazily."""
    levels = info["levels"]
    if not 0 <= level < len(levels):
        raise ValueError(
            f"Layer {info['name']!r} has {len(levels)} level(s), 0 to {len(levels) - 1}; got {level}"
        )
    shape = tuple(int(s) for s in levels[level]["shape"])
    chunk = tuple(int(c) for c in levels[level]["chunks"])
    dtype = np.dtype(info["dtype"])
    chunks = da.core.normalize_chunks(chunk, shape)
    reader = ChunkReader(http, workspace, info["name"], level, info["version"])
    name = "voxelwise-remote-" + tokenize(http.url, workspace, info["name"], level, info["version"])
    return da.map_blocks(
        reader,
        dtype=dtype,
        chunks=chunks,
        name=name,
        meta=np.empty((0,) * len(shape), dtype=dtype),
    )
