"""OME-Zarr (NGFF 0.5, zarr v3) multiscale pyramids: planning, writing, reading metadata.

Shared by :func:`voxelwise.io.write_volume` (``.ome.zarr`` output) and the workspace store.
Downsampling is anisotropy-aware: at each level only the axes whose voxel size is close to the
finest one are halved, so a thick-section stack (50 x 4 x 4 nm) is first reduced in y and x
until its voxels are roughly isotropic, and only then in z too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import zarr

from voxelwise._compute import ProgressCallback, Scheduler, store_chunks

__all__ = [
    "NGFF_VERSION",
    "downsample",
    "label_metadata",
    "multiscales_metadata",
    "plan_pyramid",
    "read_multiscales",
    "write_multiscale",
]

NGFF_VERSION = "0.5"
AXES = ("z", "y", "x")


def plan_pyramid(
    shape: Sequence[int],
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    min_size: int = 64,
    max_levels: int = 8,
) -> list[tuple[int, int, int]]:
    """Per-level downsampling factors (relative to the level before) for a pyramid.

    An axis can be halved while it has at least ``2 * min_size`` voxels; among those axes, the
    ones whose current voxel size is below 1.5 x the finest are halved. Planning stops when no
    axis can be halved or after ``max_levels`` levels (level 0 included).

    Examples
    --------
    >>> plan_pyramid((20, 1024, 1024), (50, 4.6, 4.6))[:3]
    [(1, 2, 2), (1, 2, 2), (1, 2, 2)]
    >>> plan_pyramid((256, 256, 256), (1, 1, 1))
    [(2, 2, 2), (2, 2, 2)]
    >>> plan_pyramid((256, 256, 256), (1, 1, 1), min_size=128)
    [(2, 2, 2)]
    """
    size = [int(s) for s in shape]
    vox = [float(s) for s in spacing]
    factors: list[tuple[int, int, int]] = []
    while len(factors) < max_levels - 1:
        can = [n >= 2 * min_size for n in size]
        if not any(can):
            break
        finest = min(v for v, c in zip(vox, can) if c)
        f = tuple(2 if (c and v < 1.5 * finest) else 1 for v, c in zip(vox, can))
        factors.append(f)  # type: ignore[arg-type]
        size = [math.ceil(n / x) for n, x in zip(size, f)]
        vox = [v * x for v, x in zip(vox, f)]
    return factors


def downsample(image: da.Array, factors: Sequence[int], *, is_label: bool = False) -> da.Array:
    """Downsample a dask array by integer ``factors``: block mean for images, stride for labels.

    Edges that do not divide evenly are padded by edge replication (images) so no voxel is
    dropped; the output shape is ``ceil(shape / factors)``. The dtype is kept (integer means
    are rounded).
    """
    factors = tuple(int(f) for f in factors)
    if is_label:
        return image[tuple(slice(None, None, f) for f in factors)]
    pad = [(0, (-n) % f) for n, f in zip(image.shape, factors)]
    if any(p[1] for p in pad):
        image = da.pad(image, pad, mode="edge")
    # coarsen needs chunks divisible by the factors
    chunks = tuple(max(f, (c // f) * f) for c, f in zip(image.chunksize, factors))
    image = image.rechunk(chunks)
    dtype = image.dtype
    # np.mean(dtype=float32) averages without a float copy of each chunk (4x its size)
    out = da.coarsen(np.mean, image, dict(enumerate(factors)), trim_excess=True, dtype=np.float32)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        out = da.clip(da.round(out), info.min, info.max)
    return out.astype(dtype)


def multiscales_metadata(
    spacings: Sequence[Sequence[float]],
    *,
    unit: str | None = None,
    name: str = "image",
    paths: Sequence[str] | None = None,
    method: str = "mean",
) -> dict[str, Any]:
    """The NGFF ``multiscales`` entry for levels with the given voxel sizes."""
    paths = list(paths) if paths is not None else [str(i) for i in range(len(spacings))]
    axes = []
    for a in AXES:
        axis: dict[str, Any] = {"name": a, "type": "space"}
        if unit:
            axis["unit"] = unit
        axes.append(axis)
    datasets = [
        {
            "path": p,
            "coordinateTransformations": [{"type": "scale", "scale": [float(v) for v in s]}],
        }
        for p, s in zip(paths, spacings)
    ]
    return {
        "version": NGFF_VERSION,
        "name": name,
        "axes": axes,
        "datasets": datasets,
        "metadata": {"method": method, "description": "voxelwise anisotropy-aware pyramid"},
    }


def label_metadata(
    colors: dict[int, Sequence[int]] | None = None,
    names: dict[int, str] | None = None,
    *,
    source: str = "../../",
) -> dict[str, Any]:
    """The NGFF ``image-label`` entry: colours (RGBA 0-255) and names per label value."""
    colors = colors or {}
    names = names or {}
    out: dict[str, Any] = {
        "version": NGFF_VERSION,
        "colors": [
            {"label-value": int(v), "rgba": [int(c) for c in rgba]}
            for v, rgba in sorted(colors.items())
        ],
        "source": {"image": source},
    }
    if names:
        out["properties"] = [
            {"label-value": int(v), "name": str(n)} for v, n in sorted(names.items())
        ]
    return out


def write_multiscale(
    group: zarr.Group,
    image: da.Array,
    *,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    unit: str | None = None,
    chunks: Sequence[int] | None = None,
    name: str = "image",
    is_label: bool = False,
    levels: int | None = None,
    min_size: int = 64,
    extra_attrs: dict[str, Any] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> list[tuple[float, float, float]]:
    """Write ``image`` and its pyramid into ``group`` (arrays ``"0"``, ``"1"``, ...) with NGFF metadata.

    Each level is computed from the level written before it, read back chunk by chunk, so memory
    stays bounded whatever the volume size. Returns the voxel size of every level.

    Parameters
    ----------
    group : zarr.Group
        An empty (or to-be-overwritten) zarr v3 group.
    image : (Z, Y, X) dask array
    spacing : (3,) floats
        Voxel size of level 0.
    levels : int, optional
        Number of levels including level 0; default: as many as :func:`plan_pyramid` plans.
    extra_attrs : dict, optional
        More entries for the group's ``ome`` attribute (e.g. ``{"image-label": ...}``).
    """
    from voxelwise._validate import parse_chunks

    chunk_shape = parse_chunks(chunks, image.shape)
    plan = plan_pyramid(image.shape, spacing, min_size=min_size)
    if levels is not None:
        plan = plan[: max(0, int(levels) - 1)]
    # total chunk count across levels, for one progress bar
    shapes = [tuple(image.shape)]
    for f in plan:
        shapes.append(tuple(math.ceil(n / x) for n, x in zip(shapes[-1], f)))
    counts = [math.prod(math.ceil(n / min(c, n)) for n, c in zip(s, chunk_shape)) for s in shapes]
    total = sum(counts)
    offset = 0

    def level_progress(done: int, _total: int) -> None:
        if progress is not None:
            progress(offset + done, total)

    spacings = [tuple(float(s) for s in spacing)]
    current = image
    for level, shape in enumerate(shapes):
        if level > 0:
            f = plan[level - 1]
            current = downsample(da.from_zarr(group[str(level - 1)]), f, is_label=is_label)
            spacings.append(tuple(s * x for s, x in zip(spacings[-1], f)))
        arr = group.create_array(
            str(level),
            shape=shape,
            chunks=tuple(min(c, n) for c, n in zip(chunk_shape, shape)),
            dtype=image.dtype,
            dimension_names=AXES,
            fill_value=0,
            overwrite=True,
        )
        store_chunks(current, arr, scheduler=scheduler, progress=level_progress)
        offset += counts[level]
    ome: dict[str, Any] = {
        "version": NGFF_VERSION,
        "multiscales": [
            multiscales_metadata(
                spacings, unit=unit, name=name, method="stride" if is_label else "mean"
            )
        ],
    }
    if extra_attrs:
        ome.update(extra_attrs)
    group.attrs["ome"] = ome
    return spacings  # type: ignore[return-value]


def read_multiscales(group: zarr.Group) -> dict[str, Any] | None:
    """The first ``multiscales`` entry of an NGFF group (0.4 or 0.5 layout), or None."""
    attrs = dict(group.attrs)
    ome = attrs.get("ome", attrs)
    ms = ome.get("multiscales") if isinstance(ome, dict) else None
    if not ms:
        return None
    return dict(ms[0])
