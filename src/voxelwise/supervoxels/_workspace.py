"""Supervoxels, their features and their graph on a :class:`~voxelwise.workspace.Workspace`."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.supervoxels._chunk import slic_block, watershed_block
from voxelwise.supervoxels._features import region_features
from voxelwise.supervoxels._graph import RegionAdjacencyGraph, region_adjacency
from voxelwise.supervoxels._params import (
    MIN_SIZE_FACTOR,
    SLIC_ITERATIONS,
    parse_compactness,
    parse_method,
    parse_positive,
)
from voxelwise.supervoxels._segment import range_from_stats, segment
from voxelwise.supervoxels._table import RegionTable

if TYPE_CHECKING:
    from voxelwise.workspace import LayerInfo, Workspace

__all__ = ["compute_supervoxels", "supervoxel_features", "supervoxel_graph"]


def _two_phases(
    progress: ProgressCallback | None,
) -> tuple[ProgressCallback | None, ProgressCallback | None]:
    """Split one progress bar in two halves: computing, then storing the layer."""
    if progress is None:
        return None, None
    scale = 1000

    def first(done: int, total: int) -> None:
        progress(scale * done // max(total, 1), 2 * scale)

    def second(done: int, total: int) -> None:
        progress(scale + scale * done // max(total, 1), 2 * scale)

    return first, second


def _mask_of(ws: Workspace, mask: Any) -> Any:
    if mask is None or not isinstance(mask, str):
        return mask
    return ws.get(mask)


def compute_supervoxels(
    ws: Workspace,
    *,
    source: str = "raw",
    name: str = "supervoxels",
    method: str = "slic",
    size: float = 10,
    compactness: float | None = None,
    mask: Any = None,
    sigma: float = 1.5,
    gradient: bool = True,
    overwrite: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> LayerInfo:
    """Compute supervoxels of a workspace layer and store them as a ``"supervoxels"`` layer.

    The chunks of the workspace are the processing chunks; the voxel size comes from the
    workspace and intensities are normalised with the source layer's stored 0.1 and 99.9
    percentiles, so the defaults suit any dtype. See :func:`slic` and :func:`seeded_watershed`
    for the methods and their parameters.

    Parameters
    ----------
    ws : Workspace
        The workspace.
    source : str
        Layer to segment: the raw image by default, or e.g. a denoised layer; for
        ``method="watershed"`` with ``gradient=False``, an edge map (a gradient magnitude or
        membrane probability layer) that is flooded as it is.
    name : str
        Name of the new layer.
    method : {"slic", "watershed"}
        SLIC follows image edges best; the seeded watershed is faster on very large volumes.
    size : float
        Target supervoxel edge in voxels along the finest axis (see :func:`slic`).
    compactness : float, optional
        Default 7 for SLIC (0..100 intensity units), 0 for the watershed.
    mask : str or (Z, Y, X) bool array, optional
        A layer name or an array; voxels outside get id 0.
    sigma : float
        Smoothing in voxels of the finest axis.
    gradient : bool
        Watershed only: flood the gradient magnitude of ``source`` (True) or ``source`` itself.
    overwrite : bool
        Replace an existing layer ``name``.
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress`` may raise ``CancelledError``.

    Returns
    -------
    LayerInfo
        The new layer; ``params`` records the method, its parameters, the seed grid,
        ``n_supervoxels`` and ``mean_size`` (voxels per supervoxel; None with a mask).

    Raises
    ------
    LayerNotFoundError
        ``source`` or ``mask`` is not a layer.
    LayerExistsError
        ``name`` exists and ``overwrite`` is False (checked before any work).
    """
    from voxelwise.errors import LayerExistsError, LayerNotFoundError

    method = parse_method(method)
    c = parse_compactness(compactness, method)
    ws.layer(source)  # raises LayerNotFoundError listing the layers
    if isinstance(mask, str) and mask not in ws:
        raise LayerNotFoundError(
            f"No mask layer named {mask!r} in the workspace {ws.path}; existing layers: "
            f"{', '.join(ws.layers)}"
        )
    if name in ws and not overwrite:
        raise LayerExistsError(
            f"A layer named {name!r} exists already in the workspace {ws.path}; pass "
            "overwrite=True to replace it, or choose another name"
        )
    sigma = parse_positive(sigma, "sigma", strict=False)
    stats = ws.stats(source, scheduler=scheduler)
    if mask is None and (stats.get("nan_count") or stats.get("inf_count")):
        from voxelwise.errors import InvalidVolumeError

        raise InvalidVolumeError(
            f"The layer {source!r} holds {stats.get('nan_count', 0)} NaN and "
            f"{stats.get('inf_count', 0)} infinite values; supervoxels need finite intensities. "
            "Fill them first, or pass a mask that excludes them"
        )
    lo, hi = range_from_stats(stats)
    if method == "slic":
        block_func: Any = slic_block
        func_kwargs: dict[str, Any] = {
            "compactness": c,
            "sigma": sigma,
            "max_num_iter": SLIC_ITERATIONS,
            "min_size_factor": MIN_SIZE_FACTOR,
        }
    else:
        block_func = watershed_block
        func_kwargs = {"compactness": c, "sigma": sigma, "gradient": bool(gradient)}
    first, second = _two_phases(progress)
    with tempfile.TemporaryDirectory(dir=ws.path, prefix=".supervoxels-") as tmp:
        labels, n, grid = segment(
            ws.get(source),
            block_func,
            grid_kwargs={"size": size, "spacing": ws.spacing, "halo": None},
            func_kwargs=func_kwargs,
            mask=_mask_of(ws, mask),
            chunks=ws.chunks,
            intensity_range=(lo, hi),
            out=f"{tmp}/local.zarr",
            scheduler=scheduler,
            progress=first,
        )
        params = {
            "method": method,
            "size": float(size),
            "compactness": c,
            "sigma": sigma,
            "mask": mask if isinstance(mask, str) else (None if mask is None else "array"),
            "steps": list(grid.steps),
            "slab": grid.slab,
            "halo": list(grid.halo),
            "intensity_range": [lo, hi],
            "n_supervoxels": n,
            "mean_size": None if mask is not None else float(np.prod(ws.shape)) / max(n, 1),
            **{k: v for k, v in func_kwargs.items() if k not in ("compactness", "sigma")},
        }
        sources = [source] + ([mask] if isinstance(mask, str) else [])
        return ws.add_layer(
            name,
            labels,
            kind="supervoxels",
            sources=sources,
            params=params,
            overwrite=overwrite,
            scheduler=scheduler,
            progress=second,
        )


def supervoxel_features(
    ws: Workspace,
    features: str | Sequence[str] = ("raw",),
    *,
    supervoxels: str = "supervoxels",
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> RegionTable:
    """Per-supervoxel size, centroid and mean, std, min, max of the given feature layers.

    See :func:`region_features`; columns are named after the layers (``raw_mean``, ...).
    """
    names = [features] if isinstance(features, str) else list(features)
    arrays = {n: ws.get(n) for n in names}
    return region_features(ws.get(supervoxels), arrays, scheduler=scheduler, progress=progress)


def supervoxel_graph(
    ws: Workspace,
    *,
    supervoxels: str = "supervoxels",
    image: str | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> RegionAdjacencyGraph:
    """The region adjacency graph of a supervoxel layer, with areas in the workspace's unit.

    ``image`` names a layer averaged over each contact (e.g. a gradient magnitude layer gives
    the mean boundary gradient). See :func:`region_adjacency`.
    """
    return region_adjacency(
        ws.get(supervoxels),
        image=None if image is None else ws.get(image),
        spacing=ws.spacing,
        scheduler=scheduler,
        progress=progress,
    )
