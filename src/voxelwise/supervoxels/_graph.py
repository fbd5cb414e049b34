"""Region adjacency graph of a label volume, chunk by chunk: face-adjacent id pairs and weights."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.array.overlap import overlap

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_spacing
from voxelwise.supervoxels._segment import as_volume
from voxelwise.supervoxels._table import RegionTable

__all__ = ["RegionAdjacencyGraph", "region_adjacency"]


@dataclass(frozen=True, eq=False)
class RegionAdjacencyGraph:
    """Which regions touch across a voxel face, and how much.

    Attributes
    ----------
    edges : (E, 2) ndarray
        Id pairs ``(a, b)`` with ``0 < a < b``, sorted; each pair of face-adjacent ids once.
    contact : (E,) ndarray of int64
        Number of voxel faces the two regions share.
    area : (E,) ndarray of float64
        Their contact area: each face weighs the product of the two spacings it spans
        (equal to ``contact`` for unit spacing).
    mean : (E,) ndarray of float64, or None
        Mean of the edge image over the contact, each face counting the mean of its two voxels
        (e.g. the mean boundary gradient); None when no image was given.
    spacing : (3,) tuple of float
        The voxel size the areas were computed with.
    """

    edges: np.ndarray
    contact: np.ndarray
    area: np.ndarray
    mean: np.ndarray | None
    spacing: tuple[float, float, float]

    def __len__(self) -> int:
        return int(self.edges.shape[0])

    def __repr__(self) -> str:
        return f"RegionAdjacencyGraph({len(self)} edges)"

    @property
    def nodes(self) -> np.ndarray:
        """The sorted ids that have at least one neighbour."""
        return np.unique(self.edges)

    def neighbors(self, region: int) -> np.ndarray:
        """The ids adjacent to ``region``, sorted."""
        a, b = self.edges[:, 0], self.edges[:, 1]
        return np.sort(np.concatenate([b[a == region], a[b == region]]))

    def to_table(self) -> RegionTable:
        """Columns ``a``, ``b``, ``contact``, ``area`` and (with an image) ``mean``."""
        cols = {
            "a": self.edges[:, 0],
            "b": self.edges[:, 1],
            "contact": self.contact,
            "area": self.area,
        }
        if self.mean is not None:
            cols["mean"] = self.mean
        return RegionTable(cols)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_table` as CSV; returns the path."""
        return self.to_table().to_csv(path)

    def to_sparse(self, n: int | None = None, *, weight: str = "contact") -> Any:
        """A symmetric ``scipy.sparse.csr_array`` of shape (n + 1, n + 1) indexed by id.

        ``weight`` is ``"contact"``, ``"area"`` or ``"mean"``; ``n`` defaults to the largest id.
        """
        from scipy import sparse

        values = {"contact": self.contact, "area": self.area, "mean": self.mean}.get(weight)
        if weight not in ("contact", "area", "mean") or values is None:
            raise ValueError(
                f"Expected weight as 'contact', 'area' or 'mean' (with an image), got {weight!r}"
            )
        size = (int(self.edges.max()) if len(self) else 0) if n is None else int(n)
        a = self.edges[:, 0].astype(np.int64)
        b = self.edges[:, 1].astype(np.int64)
        rows, cols = np.r_[a, b], np.r_[b, a]
        return sparse.csr_array(
            (np.r_[values, values].astype(np.float64), (rows, cols)), shape=(size + 1, size + 1)
        )


def _unique_pairs(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an (N, 2) id array and each row's position among them."""
    if pairs.shape[0] and pairs.min() >= 0 and pairs.max() < 2**32:
        key = (pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1].astype(np.uint64)
        ukey, inv = np.unique(key, return_inverse=True)
        out = np.stack([ukey >> np.uint64(32), ukey & np.uint64(0xFFFFFFFF)], axis=1)
        return out.astype(pairs.dtype), inv.ravel()
    out, inv = np.unique(pairs, axis=0, return_inverse=True)
    return out, inv.ravel()


def _block_pairs(
    labels: np.ndarray,
    image: np.ndarray | None,
    *,
    low: tuple[int, int, int],
    high: tuple[int, int, int],
) -> dict[str, np.ndarray]:
    """Distinct face-adjacent id pairs whose first voxel lies in the chunk, with per-axis counts.

    ``labels`` is the chunk extended by ``low``/``high`` (0 or 1) voxels per side. A face between
    voxels p and p + e_axis belongs to the chunk holding p, so every face is counted once.
    """
    work = np.uint64 if labels.dtype.kind == "u" else np.int64
    keys, axes, sums = [], [], []
    for axis in range(3):
        first = []
        second = []
        for ax in range(3):
            n = labels.shape[ax]
            if ax == axis:
                first.append(slice(low[ax], n - 1))
                second.append(slice(low[ax] + 1, n))
            else:
                first.append(slice(low[ax], n - high[ax]))
                second.append(slice(low[ax], n - high[ax]))
        a = labels[tuple(first)].ravel()
        b = labels[tuple(second)].ravel()
        sel = (a != b) & (a != 0) & (b != 0)
        if not sel.any():
            continue
        a, b = a[sel].astype(work), b[sel].astype(work)
        keys.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
        axes.append(np.full(a.size, axis, dtype=np.int64))
        if image is not None:
            wa = image[tuple(first)].ravel()[sel].astype(np.float64)
            wb = image[tuple(second)].ravel()[sel].astype(np.float64)
            sums.append((wa + wb) / 2)
    if not keys:
        return {
            "pairs": np.empty((0, 2), work),
            "count": np.empty((0, 3), np.int64),
            "sum": np.empty(0),
        }
    pairs, inv = _unique_pairs(np.concatenate(keys))
    n_pairs = pairs.shape[0]
    count = np.bincount(inv * 3 + np.concatenate(axes), minlength=3 * n_pairs)
    total = np.bincount(inv, np.concatenate(sums), minlength=n_pairs) if sums else np.empty(0)
    return {"pairs": pairs, "count": count.reshape(n_pairs, 3), "sum": total}


def region_adjacency(
    labels: Any,
    *,
    image: Any = None,
    spacing: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> RegionAdjacencyGraph:
    """The region adjacency graph of a label volume: ids that share a voxel face (6-neighbours).

    Each chunk, extended by one voxel into its neighbours, yields the id pairs across faces
    inside it and across its faces to the next chunks, so the edges are exactly those of the
    whole volume, whatever the chunking. Memory is O(number of edges), never O(voxels).

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        NumPy, dask or zarr array; 0 is background and has no edges.
    image : (Z, Y, X) array, optional
        Values averaged over each contact, e.g. a gradient magnitude (mean boundary gradient)
        or a membrane probability; gives ``mean``.
    spacing : float or (3,) floats, optional
        Voxel size (z, y, x) for ``area``; default 1.
    scheduler, progress
        Where to run and ``progress(done, total)``; see :func:`voxelwise.blockwise.compute`.

    Returns
    -------
    RegionAdjacencyGraph
        ``edges`` (E, 2) with a < b in the labels' unsigned dtype (uint32 for supervoxels),
        ``contact``, ``area`` and ``mean``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.array([[[1, 1, 2], [3, 3, 2]]])
    >>> rag = region_adjacency(labels)
    >>> rag.edges.tolist(), rag.contact.tolist()
    ([[1, 2], [1, 3], [2, 3]], [1, 2, 1])
    """
    arr = as_volume(labels, what="labels")
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"Expected integer labels, got dtype {arr.dtype} instead; cast them first, e.g. "
            "labels.astype('uint32')"
        )
    if arr.dtype.kind == "i":
        arr = arr.astype(np.int64)
    shape = tuple(int(s) for s in arr.shape)
    sp = parse_spacing((1.0, 1.0, 1.0) if spacing is None else spacing)
    inputs = [arr]
    if image is not None:
        if not hasattr(image, "shape") or tuple(int(s) for s in image.shape) != shape:
            got = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
            raise ValueError(
                f"Expected image of the labels' shape {shape} (z, y, x), got {got} instead"
            )
        img = image if isinstance(image, da.Array) else da.from_array(image, asarray=True)
        inputs.append(img.rechunk(arr.chunks))
    extended = [overlap(a, depth={0: 1, 1: 1, 2: 1}, boundary="none") for a in inputs]
    blocks = [e.to_delayed() for e in extended]
    tasks = []
    for idx in np.ndindex(*arr.numblocks):
        low = tuple(1 if i > 0 else 0 for i in idx)
        high = tuple(1 if i < n - 1 else 0 for i, n in zip(idx, arr.numblocks))
        lab = blocks[0][idx]
        img_block = blocks[1][idx] if image is not None else None
        tasks.append(dask.delayed(_block_pairs)(lab, img_block, low=low, high=high))
    parts = [p for p in _compute.compute(*tasks, scheduler=scheduler, progress=progress)]
    return _combine(parts, arr.dtype, sp, with_mean=image is not None)


def _combine(
    parts: list[dict[str, np.ndarray]],
    dtype: np.dtype,
    spacing: tuple[float, float, float],
    *,
    with_mean: bool,
) -> RegionAdjacencyGraph:
    out_dtype = dtype if dtype.kind == "u" else np.dtype(np.int64)
    parts = [p for p in parts if p["pairs"].shape[0]]
    if not parts:
        empty = np.empty(0)
        return RegionAdjacencyGraph(
            edges=np.empty((0, 2), out_dtype),
            contact=np.empty(0, np.int64),
            area=empty,
            mean=empty if with_mean else None,
            spacing=spacing,
        )
    pairs, inv = _unique_pairs(np.concatenate([p["pairs"] for p in parts]))
    counts = np.concatenate([p["count"] for p in parts])
    per_axis = np.stack(
        [np.bincount(inv, counts[:, ax], minlength=len(pairs)) for ax in range(3)], axis=1
    ).astype(np.int64)
    contact = per_axis.sum(axis=1)
    sz, sy, sx = spacing
    area = per_axis @ np.array([sy * sx, sz * sx, sz * sy])
    mean = None
    if with_mean:
        total = np.bincount(inv, np.concatenate([p["sum"] for p in parts]), minlength=len(pairs))
        mean = total / contact
    edges = pairs.astype(out_dtype)
    return RegionAdjacencyGraph(edges=edges, contact=contact, area=area, mean=mean, spacing=spacing)
