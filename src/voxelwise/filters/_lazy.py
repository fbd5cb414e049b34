"""Lazy, chunked filtering of dask (or zarr, NumPy) volumes through the blockwise engine."""

from __future__ import annotations

import math
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._validate import parse_chunks
from voxelwise.blockwise import map_chunks
from voxelwise.errors import ChunkingError, InvalidVolumeError
from voxelwise.filters._registry import get_filter
from voxelwise.filters._spec import FilterSpec, embed_core

__all__ = [
    "MAX_BLOCK_VOXELS",
    "apply_filter",
    "as_volume",
    "check_block",
    "lazy_filter",
    "resolve_params",
]

#: Largest block (chunk plus halo) a filter may need, in voxels (1 GiB of float32).
MAX_BLOCK_VOXELS = 2**28

Halo = tuple[int, int, int]


def as_volume(image: Any) -> da.Array:
    """A (Z, Y, X) dask array over ``image`` (dask, zarr or NumPy), keeping stored chunks."""
    if isinstance(image, da.Array):
        arr = image
    elif hasattr(image, "shape") and hasattr(image, "dtype"):
        stored = getattr(image, "chunks", None)
        shape = tuple(int(s) for s in image.shape)
        if (
            isinstance(stored, tuple)
            and len(stored) == len(shape)
            and all(isinstance(c, int) for c in stored)
        ):
            chunks: Any = stored
        else:
            chunks = parse_chunks(None, shape) if len(shape) == 3 else "auto"
        arr = da.from_array(image, chunks=chunks)
    else:
        raise TypeError(
            f"Expected the image as an array (dask, zarr, NumPy), got {type(image).__name__}"
        )
    if arr.ndim != 3 or any(s == 0 for s in arr.shape):
        raise InvalidVolumeError(
            f"Expected a non-empty (Z, Y, X) volume, got shape {tuple(arr.shape)} instead "
            "(for a 2D image use image[None] to make it one slice)"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Expected a real-valued volume, got dtype {arr.dtype} instead")
    return arr


def check_block(arr: da.Array, halo: Halo, what: str, channels: int = 1) -> None:
    """Refuse a halo that would make blocks (chunk merged up to the halo, plus the halo on both
    sides) larger than :data:`MAX_BLOCK_VOXELS` voxels per output channel."""
    sizes = []
    for h, c, n in zip(halo, arr.chunks, arr.shape):
        side = n if n <= h else min(n, max(max(c), 2 * h))
        sizes.append(side + 2 * h)
    voxels = math.prod(sizes) * max(1, channels)
    if voxels > MAX_BLOCK_VOXELS:
        raise ChunkingError(
            f"{what} needs a halo of {halo} voxels (z, y, x), so each chunk would be computed as "
            f"a block of {' x '.join(map(str, sizes))} voxels"
            + (f" x {channels} outputs" if channels > 1 else "")
            + f" (about {voxels * 4 / 2**30:.1f} GiB); use smaller parameters (sigma, radius, "
            "n_iter, max_distance) or rechunk the volume into smaller chunks"
        )


def lazy_filter(spec: FilterSpec, image: da.Array, params: dict[str, Any]) -> da.Array:
    """Map ``spec`` over the chunks of ``image`` with already normalised and resolved params."""
    halo = spec.halo_of(params)
    check_block(image, halo, f"The filter {spec.name!r}", spec.n_outputs)
    return map_chunks(
        embed_core(spec.core),
        image,
        halo=halo,
        dtype=np.dtype(spec.dtype),
        channels=spec.n_outputs if spec.outputs else None,
        name=f"vw-{spec.name}",
        margin=halo,
        **params,
    )


def apply_filter(
    image: Any, name: str | FilterSpec, *, scheduler: Any = None, **params: Any
) -> da.Array:
    """Apply a registered filter lazily, chunk by chunk, to a (Z, Y, X) volume.

    Every chunk is extended by the filter's halo (the volume's border by symmetric reflection)
    and trimmed again, so the result equals the array function on the whole volume. Chunks
    smaller than the halo are merged with their neighbours first.

    Parameters
    ----------
    image : (Z, Y, X) dask, zarr or NumPy array
    name : str
        A registered filter (see :func:`list_filters`), or a :class:`FilterSpec`.
    scheduler : optional
        Where to run the one global pass that some filters need before the lazy result can be
        built: parameters left to be taken from the whole volume (``in_range=None``,
        ``noise_std=None``, Frangi's ``gamma=None``). See :mod:`voxelwise._compute`.
    **params
        The filter's parameters (as for its array function).

    Returns
    -------
    (Z, Y, X) or (C, Z, Y, X) dask array
        Lazy; float32 (uint8 for masks). Multi-output filters are channels-first.

    Raises
    ------
    UnknownFilterError, FilterParameterError
        Unknown filter or bad parameter.
    ChunkingError
        The halo is so large that a single block would exceed :data:`MAX_BLOCK_VOXELS`.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> image = da.from_array(np.random.default_rng(0).random((20, 30, 30)), chunks=(7, 16, 16))
    >>> out = apply_filter(image, "gaussian", sigma=1.5)
    >>> from voxelwise.filters import gaussian
    >>> bool(np.allclose(out.compute(), gaussian(image.compute(), 1.5), atol=1e-6))
    True
    """
    spec = get_filter(name)  # type: ignore[arg-type]
    arr = as_volume(image)
    p = resolve_params(spec, arr, params, scheduler=scheduler)
    return lazy_filter(spec, arr, p)


def resolve_params(
    spec: FilterSpec, image: da.Array, params: dict[str, Any], *, scheduler: Any = None
) -> dict[str, Any]:
    """Normalise ``params`` and fill in the ones that depend on the whole volume."""
    p = spec.normalize(params)
    if spec.resolve is not None:
        p = spec.resolve(image, p, scheduler)
    return p
