"""More image layers on the workspace grid: multimodal and multi-channel workspaces.

A workspace can hold several registered images of the same grid (cryo-SXT and cryo-SIM
fluorescence, two X-ray energies, ...) besides ``raw``: each is a layer of kind ``"image"``
added after creation from any file :func:`voxelwise.io.open_volume` reads, or from an array.
Every image layer can be the source of features and supervoxels, and classifiers take several
as input channels. Shapes must match the workspace's grid; an image of another voxel size is
resampled onto the grid on request, chunk by chunk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_spacing
from voxelwise.workspace._errors import InvalidLayerError
from voxelwise.workspace._records import RAW, LayerInfo
from voxelwise.workspace._store import as_dask

__all__ = ["add_image", "image_layers", "resample_to_grid"]

_RTOL = 1e-3  # voxel sizes this close are the same


def image_layers(ws: Any) -> list[str]:
    """Names of the workspace's image layers: ``"raw"`` first, then every layer of kind
    ``"image"`` in catalog order."""
    return [RAW] + [n for n, info in ws.layers.items() if n != RAW and info.kind == "image"]


class _Reader:
    """Holds the source array so dask does not see it as a dependency of the resampling graph
    (each task reads only the input slab its output chunk needs)."""

    def __init__(self, array: da.Array) -> None:
        self.array = array

    def read(self, index: tuple[slice, ...]) -> np.ndarray:
        return np.asarray(self.array[index].compute(scheduler="sync"))


def _resample_block(
    template: np.ndarray,
    *,
    reader: _Reader,
    factors: tuple[float, float, float],
    order: int,
    block_info: Any = None,
) -> np.ndarray:
    from scipy import ndimage

    location = block_info[0]["array-location"]
    source_shape = reader.array.shape
    index, offset = [], []
    for (start, stop), f, n in zip(location, factors, source_shape):
        lo_c = (start + 0.5) * f - 0.5
        hi_c = (stop - 0.5) * f - 0.5
        lo = max(0, math.floor(lo_c) - 1 - order)
        hi = min(n, math.ceil(hi_c) + 2 + order)
        index.append(slice(lo, hi))
        offset.append(lo_c - lo)
    slab = reader.read(tuple(index)).astype(np.float32, copy=False)
    return ndimage.affine_transform(
        slab,
        np.asarray(factors, dtype=np.float64),
        offset=offset,
        output_shape=template.shape,
        output=np.float32,
        order=order,
        mode="nearest",
    )


def resample_to_grid(
    image: da.Array,
    spacing: Sequence[float],
    *,
    shape: Sequence[int],
    grid_spacing: Sequence[float],
    chunks: Sequence[int],
    order: int = 1,
) -> da.Array:
    """Lazy float32 resampling of a (Z, Y, X) volume of voxel size ``spacing`` onto a grid of
    ``shape`` and ``grid_spacing`` (voxel centres aligned at the corner of the field of view),
    chunk by chunk: each output chunk reads only the input slab it needs.

    ``order`` is the spline order (0 nearest, 1 linear, 3 cubic); borders repeat the edge.
    """
    factors = tuple(float(g) / float(s) for g, s in zip(grid_spacing, spacing))
    template = da.zeros(tuple(shape), chunks=tuple(chunks), dtype=np.uint8)
    return da.map_blocks(
        _resample_block,
        template,
        reader=_Reader(image),
        factors=factors,
        order=int(order),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
        name=f"vw-resample-{tokenize(image.name, factors, tuple(shape), order)}",
    )


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _open(image: Any, key: str | None, roi: Any) -> tuple[da.Array, Any, str]:
    if isinstance(image, str | os.PathLike):
        from voxelwise.io import open_volume

        vol = open_volume(image, key=key, roi=roi)
        return vol.data, vol.spacing, str(vol.path)
    if roi is not None:
        from voxelwise._validate import parse_roi

        arr = as_dask(image, what="image")
        return arr[parse_roi(roi, arr.shape)], None, "array"
    return as_dask(image, what="image"), None, "array"


def add_image(
    ws: Any,
    name: str,
    image: Any,
    *,
    key: str | None = None,
    roi: Any = None,
    spacing: Any = None,
    resample: bool = False,
    order: int = 1,
    overwrite: bool = False,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> LayerInfo:
    """Add another image (modality or channel) of the workspace's grid as a layer of kind
    ``"image"``, streamed chunk by chunk, with a pyramid for viewing.

    Parameters
    ----------
    ws : Workspace
    name : str
        Layer name (e.g. ``"fluo"``).
    image : path or (Z, Y, X) array
        Any file :func:`voxelwise.io.open_volume` reads, or a NumPy/dask/zarr array.
    key : str, optional
        Dataset inside a container file (HDF5, Zarr).
    roi : str or slices, optional
        Region of the file to take (``"z0:z1,y0:y1,x0:x1"``), e.g. the region the workspace was
        cropped to.
    spacing : float or (3,) floats, optional
        The image's voxel size (z, y, x); default from the file, else the workspace's.
    resample : bool
        Resample an image of another voxel size onto the workspace's grid (its field of view
        must match the workspace's to within one voxel per axis). Without it, another voxel
        size is an error.
    order : int
        Spline order of the resampling (0 nearest, 1 linear, 3 cubic).
    overwrite : bool
        Replace an existing layer of that name.
    scheduler, progress
        See :mod:`voxelwise._compute`.

    Returns
    -------
    LayerInfo
        The new layer (its ``params`` record the file, key, ROI, voxel size and resampling).

    Raises
    ------
    InvalidLayerError
        The shape (or, with ``resample=True``, the field of view) differs from the workspace's
        grid (the message gives both), or the voxel size differs and ``resample`` is False.

    Examples
    --------
    >>> add_image(ws, "fluo", "sim.tif")  # doctest: +SKIP
    >>> add_image(ws, "fluo", "sim_coarse.tif", resample=True)  # doctest: +SKIP
    """
    data, file_spacing, where = _open(image, key, roi)
    src_spacing = parse_spacing(spacing) if spacing is not None else file_spacing
    grid = tuple(float(s) for s in ws.spacing)
    shape = tuple(int(s) for s in data.shape)
    same = src_spacing is None or all(
        math.isclose(a, b, rel_tol=_RTOL) for a, b in zip(src_spacing, grid)
    )
    resampled = False
    if not same and not resample:
        raise InvalidLayerError(
            f"Image {name!r} ({where}) has voxel size {_fmt(src_spacing)} but the workspace's "
            f"grid has {_fmt(grid)} (z, y, x); pass resample=True (CLI: --resample) to resample "
            "it onto the grid, or spacing= if its stored voxel size is wrong"
        )
    if not same:
        extent = [n * s for n, s in zip(shape, src_spacing)]
        grid_extent = [n * s for n, s in zip(ws.shape, grid)]
        if any(abs(a - b) > s for a, b, s in zip(extent, grid_extent, grid)):
            raise InvalidLayerError(
                f"Image {name!r} ({where}) of shape {shape} and voxel size {_fmt(src_spacing)} "
                f"covers {_fmt(extent)}, but the workspace's grid of shape {ws.shape} and voxel "
                f"size {_fmt(grid)} covers {_fmt(grid_extent)} (z, y, x); crop the image to the "
                "same field of view (roi=) first"
            )
        data = resample_to_grid(
            data, src_spacing, shape=ws.shape, grid_spacing=grid, chunks=ws.chunks, order=order
        )
        resampled = True
    elif shape != tuple(ws.shape):
        raise InvalidLayerError(
            f"Image {name!r} ({where}) has shape {shape} but the workspace's grid has shape "
            f"{tuple(ws.shape)} (z, y, x); every image layer must match it voxel for voxel: "
            "crop it (roi=) or, for another voxel size, pass spacing= and resample=True"
        )
    params = {
        "file": where,
        "key": key,
        "roi": None if roi is None else str(roi),
        "spacing": None if src_spacing is None else list(src_spacing),
        "resampled": resampled,
        "order": int(order) if resampled else None,
    }
    return ws.add_layer(
        name,
        data,
        kind="image",
        params=params,
        overwrite=overwrite,
        pyramid=True,
        scheduler=scheduler,
        progress=progress,
    )
