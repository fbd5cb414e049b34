"""Apply a function to every chunk of a volume, extended by a halo, and trim the halo off."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from dask.array.overlap import ensure_minimum_chunksize, overlap
from dask.base import tokenize

from voxelwise._validate import parse_halo
from voxelwise.blockwise._arrays import as_dask
from voxelwise.errors import ChunkingError

__all__ = ["BOUNDARY_MODES", "halo_of", "map_chunks", "parse_boundary"]

# Our names follow scipy.ndimage's ``mode``; values are the matching numpy.pad modes.
BOUNDARY_MODES: dict[str, str | None] = {
    "reflect": "symmetric",  # d c b a | a b c d   (scipy "reflect", dask "reflect")
    "mirror": "reflect",  # d c b | a b c d       (scipy "mirror")
    "nearest": "edge",  # a a a a | a b c d
    "constant": "constant",  # k k k k | a b c d (k = cval)
    "none": None,  # no padding: the outermost chunks see less context
}


def parse_boundary(boundary: Any) -> str:
    """Check a boundary mode name (see :data:`BOUNDARY_MODES`) and return it."""
    if boundary in BOUNDARY_MODES:
        return str(boundary)
    if boundary in ("wrap", "grid-wrap", "periodic"):
        raise ValueError(
            f"boundary={boundary!r} is not supported: periodic borders need voxels from the far "
            "side of the volume, which a chunk does not have; use 'reflect', 'mirror', 'nearest', "
            "'constant' or 'none'"
        )
    raise ValueError(
        f"Expected boundary as one of {sorted(BOUNDARY_MODES)} (named as scipy.ndimage's mode), "
        f"got {boundary!r} instead"
    )


def halo_of(func: Callable[..., Any], **kwargs: Any) -> tuple[int, int, int]:
    """The halo ``func`` declares for the keyword arguments ``kwargs``, as (z, y, x) voxels.

    A function declares its halo with an attribute ``func.halo``: an int or (z, y, x) tuple, or a
    callable called as ``func.halo(**kwargs)`` with the same keyword arguments the function gets
    (so a Gaussian filter can return ``ceil(truncate * sigma)``). Functions without the attribute
    need no halo: ``(0, 0, 0)``.

    Examples
    --------
    >>> import math
    >>> def smooth(block, sigma=1.0):
    ...     return block
    >>> smooth.halo = lambda sigma=1.0, **_: math.ceil(4 * sigma)
    >>> halo_of(smooth, sigma=2.0)
    (8, 8, 8)
    """
    declared = getattr(func, "halo", None)
    if declared is None:
        return (0, 0, 0)
    if callable(declared):
        declared = declared(**kwargs)
    return parse_halo(declared)


def _fit_chunks(
    arr: da.Array, halo: tuple[int, int, int]
) -> tuple[tuple[tuple[int, ...], ...], dict[int, int]]:
    """Spatial chunks in which every chunk is at least the halo, and the internal overlap depth."""
    lead = arr.ndim - 3
    chunks = []
    depth = {i: 0 for i in range(lead)}
    for axis, (h, c) in enumerate(zip(halo, arr.chunks[lead:])):
        size = sum(c)
        if h == 0:
            chunks.append(tuple(c))
            depth[lead + axis] = 0
        elif size <= h:  # whole axis in one chunk; np.pad supplies the rest
            chunks.append((size,))
            depth[lead + axis] = 0
        else:
            chunks.append(tuple(ensure_minimum_chunksize(h, tuple(c))))
            depth[lead + axis] = h
    return tuple(chunks), depth


def _apply(
    *blocks: np.ndarray,
    block_id: tuple[int, ...] | None = None,
    chunk_func: Callable[..., Any],
    halo: tuple[int, int, int],
    numblocks: tuple[int, int, int],
    pad_mode: str | None,
    cval: float,
    channels: int | None,
    trim: bool,
    out_dtype: np.dtype,
    kwargs: dict[str, Any],
) -> np.ndarray:
    loc = tuple(block_id[-3:]) if block_id is not None else (0, 0, 0)
    pads = []
    trims = []
    for h, i, n in zip(halo, loc, numblocks):
        low_pad = h if (pad_mode is not None and i == 0) else 0
        high_pad = h if (pad_mode is not None and i == n - 1) else 0
        pads.append((low_pad, high_pad))
        trims.append((h if (i > 0 or low_pad) else 0, h if (i < n - 1 or high_pad) else 0))
    if pad_mode is not None and any(p != (0, 0) for p in pads):
        extra: dict[str, Any] = {"constant_values": cval} if pad_mode == "constant" else {}
        blocks = tuple(
            np.pad(b, [(0, 0)] * (b.ndim - 3) + pads, mode=pad_mode, **extra)  # type: ignore[call-overload]
            for b in blocks
        )
    func = chunk_func
    out = np.asarray(func(*blocks, **kwargs))
    spatial = blocks[0].shape[-3:]
    if trim:
        expected = spatial
    else:  # func returned the interior itself
        expected = tuple(s - lo - hi for (lo, hi), s in zip(trims, spatial))
    want = expected if channels is None else (channels, *expected)
    if out.shape != want:
        layout = "(Z, Y, X)" if channels is None else f"(C={channels}, Z, Y, X)"
        what = "the same (z, y, x) shape as the block" if trim else "the block minus the halo"
        raise ChunkingError(
            f"Expected {func_name(func)} to return a {layout} block of shape {want} for an "
            f"input block of shape {blocks[0].shape} ({what}, trim={trim}), got shape "
            f"{out.shape} instead; declare extra leading channels with channels="
        )
    if trim:
        core: tuple[Any, ...] = (..., *(slice(lo, s - hi) for (lo, hi), s in zip(trims, spatial)))
        out = out[core]
    return out.astype(out_dtype, copy=False)


def func_name(func: Callable[..., Any]) -> str:
    """A short name for ``func`` (its ``__name__``, or the wrapped function's for a partial)."""
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)


def _probe(
    func: Callable[..., Any],
    arrays: list[da.Array],
    halo: tuple[int, int, int],
    kwargs: dict[str, Any],
) -> np.ndarray:
    """Call ``func`` once on small blocks of zeros to learn its output dtype and layout."""
    spatial = tuple(min(int(s), 4) + 2 * h for s, h in zip(arrays[0].shape[-3:], halo))
    zeros = [np.zeros((*a.shape[:-3], *spatial), dtype=a.dtype) for a in arrays]
    try:
        return np.asarray(func(*zeros, **kwargs))
    except Exception as e:
        raise TypeError(
            f"Could not find the output dtype of {func_name(func)} by calling it on a small block "
            f"of zeros ({type(e).__name__}: {e}); pass dtype= (and channels= for (C, Z, Y, X) "
            "output) to map_chunks"
        ) from e


def map_chunks(
    func: Callable[..., Any],
    image: Any,
    *more_images: Any,
    halo: Any = None,
    boundary: str = "reflect",
    cval: float = 0.0,
    dtype: Any = None,
    channels: int | None = None,
    trim: bool = True,
    chunks: Any = None,
    name: str | None = None,
    **kwargs: Any,
) -> da.Array:
    """Apply ``func`` to every chunk of ``image`` extended by a halo; return the lazy result.

    Each call gets ``func(block, *more_blocks, **kwargs)`` where ``block`` is one chunk of
    ``image`` plus ``halo`` voxels of its neighbours on every side (at the volume's border the
    halo is filled according to ``boundary``). ``func`` returns an array of the same (z, y, x)
    shape; the halo is trimmed off and the chunks form the result. Nothing is computed until the
    result is computed or stored (:func:`store_chunks`).

    Parameters
    ----------
    func : callable
        ``func(block, *more_blocks, **kwargs) -> ndarray``. ``block`` has shape
        (z + 2 hz, y + 2 hy, x + 2 hx), or (C, z + 2 hz, ...) for a (C, Z, Y, X) input. It
        returns a (z + 2 hz, y + 2 hy, x + 2 hx) array, or (channels, z + 2 hz, ...) when
        ``channels`` is given. It may declare its own halo (see :func:`halo_of`).
    image : (Z, Y, X) or (C, Z, Y, X) array
        NumPy, dask or zarr array. Its chunks define the blocks (leading channel axes are one
        chunk).
    *more_images : (Z, Y, X) or (C, Z, Y, X) arrays
        Further inputs of the same (Z, Y, X) shape (e.g. a mask), rechunked to ``image``'s chunks
        and passed to ``func`` as further blocks with the same halo.
    halo : int or (int, int, int), optional
        Voxels of context on each side, per axis (z, y, x). Default: ``func.halo`` if the function
        declares it, else 0. Chunks smaller than the halo are merged with their neighbours
        automatically (so the result's chunks can be larger than the input's, never smaller); an
        axis shorter than the halo becomes one chunk padded by ``boundary``.
    boundary : {'reflect', 'mirror', 'nearest', 'constant', 'none'}
        How the halo is filled outside the volume, named and defined as ``mode`` in
        :mod:`scipy.ndimage`, so ``boundary=mode`` makes a chunked filter equal to the whole-array
        one: 'reflect' (d c b a | a b c d), 'mirror' (d c b | a b c d), 'nearest' (a a a | a b c d),
        'constant' (``cval`` | a b c d), or 'none' (no padding: the outermost chunks get a
        smaller block). 'wrap' is not supported.
    cval : float
        The fill value for ``boundary='constant'`` (used for the padding, not passed to
        ``func``).
    dtype : dtype, optional
        Output dtype; the blocks ``func`` returns are converted to it. Default: found by calling
        ``func`` once on a small block of zeros (pass it explicitly when that is expensive).
    channels : int, optional
        ``func`` returns (channels, z, y, x) blocks (channels-first, e.g. Hessian eigenvalues or
        class probabilities); the result is then (channels, Z, Y, X). Default: (Z, Y, X) output.
    trim : bool
        True: ``func`` returns the whole block and the halo is trimmed off here. False: ``func``
        returns only the block's interior (the block minus ``halo`` voxels on each side, i.e. the
        chunk itself), for functions that skip computing the halo; needs a padding
        ``boundary`` (not 'none'), so every block carries the full halo on every side.
    chunks : int or (int, int, int), optional
        Rechunk ``image`` (and the other inputs) to this (z, y, x) chunk shape first.
    name : str, optional
        Prefix of the dask task names (default: ``func``'s name), shown in progress displays.
    **kwargs
        Passed to ``func`` (and to ``func.halo`` when it is callable).

    Returns
    -------
    (Z, Y, X) or (channels, Z, Y, X) dask array
        Chunked like ``image`` after any merge of too-small chunks.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> image = np.random.default_rng(0).random((20, 30, 30)).astype(np.float32)
    >>> out = map_chunks(ndi.gaussian_filter, image, halo=4, sigma=1.0, mode="reflect",
    ...                  chunks=10)
    >>> bool(np.allclose(out.compute(), ndi.gaussian_filter(image, 1.0, mode="reflect"),
    ...                  atol=1e-6))
    True
    """
    if not callable(func):
        raise TypeError(f"Expected func to be callable, got {func!r} instead")
    halo_t = parse_halo(halo) if halo is not None else halo_of(func, **kwargs)
    boundary = parse_boundary(boundary)
    if not trim and boundary == "none":
        raise ValueError(
            "trim=False needs a padding boundary ('reflect', 'mirror', 'nearest' or 'constant'): "
            "with boundary='none' the outermost blocks lack part of the halo"
        )
    if channels is not None and (isinstance(channels, bool) or int(channels) < 1):
        raise ValueError(f"Expected channels as a positive int or None, got {channels!r} instead")

    arr = as_dask(image, chunks=chunks, channels_ok=True)
    spatial_chunks, depth = _fit_chunks(arr, halo_t)
    arrays = []
    for i, other in enumerate((image, *more_images)):
        a = arr if i == 0 else as_dask(other, what=f"image #{i + 1}", channels_ok=True)
        if a.shape[-3:] != arr.shape[-3:]:
            raise ValueError(
                f"Expected every image to have the (Z, Y, X) shape {arr.shape[-3:]} of the first, "
                f"got {a.shape[-3:]} for image #{i + 1} instead"
            )
        lead = tuple((s,) for s in a.shape[:-3])
        a = a.rechunk(lead + spatial_chunks)
        arrays.append(a)

    if dtype is None:
        sample = _probe(func, arrays, halo_t, kwargs)
        dtype = sample.dtype
        if channels is None and sample.ndim == 4:
            raise ChunkingError(
                f"{func_name(func)} returns (C, Z, Y, X) blocks (C={sample.shape[0]}); pass "
                f"channels={sample.shape[0]} to map_chunks"
            )
    dtype = np.dtype(dtype)

    extended = []
    for a in arrays:
        d = {i: 0 for i in range(a.ndim - 3)}
        d.update({a.ndim - 3 + k: depth[arr.ndim - 3 + k] for k in range(3)})
        extended.append(overlap(a, depth=d, boundary="none", allow_rechunk=False))

    out_ndim = 3 if channels is None else 4
    in_ndim = max(a.ndim for a in arrays)
    out_chunks = spatial_chunks if channels is None else ((int(channels),), *spatial_chunks)
    axis_args: dict[str, Any] = {}
    if out_ndim > in_ndim:
        axis_args["new_axis"] = [0]
    elif out_ndim < in_ndim:
        axis_args["drop_axis"] = [0]
    numblocks = (len(spatial_chunks[0]), len(spatial_chunks[1]), len(spatial_chunks[2]))
    prefix = name or f"vw-{func_name(func)}"
    token = tokenize(func, *arrays, halo_t, boundary, cval, dtype, channels, trim, kwargs)
    apply = functools.partial(
        _apply,
        chunk_func=func,
        halo=halo_t,
        numblocks=numblocks,
        pad_mode=BOUNDARY_MODES[boundary],
        cval=cval,
        channels=None if channels is None else int(channels),
        trim=bool(trim),
        out_dtype=dtype,
        kwargs=kwargs,
    )
    return da.map_blocks(
        apply,
        *extended,
        chunks=out_chunks,
        dtype=dtype,
        meta=np.empty((0,) * out_ndim, dtype=dtype),
        name=f"{prefix}-{token}",
        **axis_args,
    )
