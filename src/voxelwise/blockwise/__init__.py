"""Blockwise engine: run chunk functions with a halo, merge labels across chunks, tile patches.

Everything here works chunk by chunk on (Z, Y, X) volumes larger than memory (NumPy, dask or
zarr input; lazy dask output), and runs locally or on a dask.distributed cluster given by its
address (``scheduler="tcp://host:port"``).

Chunk functions
    :func:`map_chunks` applies ``func(block, ...)`` to every chunk extended by a halo (declared
    by the caller or by the function as ``func.halo``) and trims it off again, so a chunked
    filter equals the whole-array one. :func:`halo_of` reads a function's declared halo.
Writing and computing
    :func:`store_chunks` writes a lazy result into a zarr array chunk by chunk;
    :func:`compute` computes small results. Both take ``scheduler`` (``None``/``"threads"``,
    ``"sync"``, ``"tcp://host:port"`` or a ``distributed.Client``) and ``progress(done, total)``,
    which may raise :class:`~voxelwise.errors.CancelledError` to stop.
Labels
    :func:`label` finds connected components across chunks; :func:`relabel_sequential` renumbers
    ids to 1..n; :func:`merge_chunk_labels` makes per-chunk ids globally unique. Memory is
    O(number of labels), never O(voxels).
Patches
    :class:`PatchGrid` lays overlapping patches over a volume; :class:`Stitcher` / :func:`stitch`
    blend per-patch predictions with a smooth window; :func:`map_patches` does both around a
    function (tiled prediction).

Conventions: axes are (Z, Y, X); multi-output functions are channels-first, (C, Z, Y, X);
``boundary`` names follow :mod:`scipy.ndimage`'s ``mode``. See ``docs/design/chunking.md``.
"""

from __future__ import annotations

from voxelwise._compute import ProgressCallback, Scheduler, compute, store_chunks
from voxelwise.blockwise._label import label
from voxelwise.blockwise._map import BOUNDARY_MODES, halo_of, map_chunks
from voxelwise.blockwise._patches import WINDOWS, Patch, PatchGrid, window
from voxelwise.blockwise._relabel import merge_chunk_labels, relabel_sequential
from voxelwise.blockwise._stitch import Stitcher, map_patches, stitch

__all__ = [
    "BOUNDARY_MODES",
    "WINDOWS",
    "Patch",
    "PatchGrid",
    "ProgressCallback",
    "Scheduler",
    "Stitcher",
    "compute",
    "halo_of",
    "label",
    "map_chunks",
    "map_patches",
    "merge_chunk_labels",
    "relabel_sequential",
    "stitch",
    "store_chunks",
    "window",
]
