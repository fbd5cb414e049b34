"""Stitch per-patch predictions back into a volume with weighted blending.

Each patch's prediction is multiplied by a smooth window (> 0 everywhere) and added into an
accumulator; at the end every voxel is divided by the sum of the windows that covered it. The
windows are outer products of 1D windows and the grid is a product of 1D positions, so that sum
is itself an outer product of three 1D profiles: no weight volume is ever stored. The
accumulator is a NumPy array (small volumes) or a float zarr array that is updated patch by patch
and normalised chunk by chunk at the end, so memory stays at a few patches and chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.blockwise._patches import Patch, PatchGrid
from voxelwise.blockwise._patches import window as window_1d
from voxelwise.errors import ChunkingError

__all__ = ["Stitcher", "map_patches", "stitch"]


class Stitcher:
    """Accumulate predictions for the patches of a :class:`PatchGrid` and blend them.

    Parameters
    ----------
    grid : PatchGrid
        The patches; every one must be added exactly once before :meth:`result`.
    channels : int, optional
        Predictions have a leading channel axis of this size (e.g. class probabilities); the
        result is then (channels, Z, Y, X). Default: (Z, Y, X) predictions.
    window : {'cosine', 'gaussian', 'linear', 'uniform'}
        Blending weight across a patch (see :func:`window`); 'uniform' averages plainly.
    out : float ndarray or float zarr array, optional
        Where to accumulate and return the result, shaped like the result. A zarr array keeps
        memory bounded for volumes larger than memory: chunks are zeroed when first touched,
        updated patch by patch and normalised chunk by chunk by :meth:`result`. Default: a new
        float32 NumPy array.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((8, 40, 40)).astype(np.float32)
    >>> grid = PatchGrid(image.shape, (8, 16, 16), overlap=4)
    >>> stitcher = Stitcher(grid)
    >>> for patch in grid:
    ...     stitcher.add(patch, image[patch.slices])
    >>> bool(np.allclose(stitcher.result(), image, atol=1e-6))
    True
    """

    def __init__(
        self,
        grid: PatchGrid,
        *,
        channels: int | None = None,
        window: str = "cosine",
        out: Any = None,
    ) -> None:
        if not isinstance(grid, PatchGrid):
            raise TypeError(f"Expected grid as a PatchGrid, got {type(grid).__name__} instead")
        self.grid = grid
        self.channels = channels
        self.window = window
        lead = () if channels is None else (int(channels),)
        self.shape = (*lead, *grid.shape)
        self._windows = [window_1d(window, p) for p in grid.patch_size]  # validates the kind
        if out is None:
            out = np.zeros(self.shape, dtype=np.float32)
        else:
            if tuple(out.shape) != self.shape:
                raise ValueError(
                    f"Expected out of shape {self.shape}, got {tuple(out.shape)} instead"
                )
            if np.dtype(out.dtype).kind != "f":
                raise TypeError(
                    f"Expected a floating-point out array, got dtype {out.dtype} instead; stitch "
                    "into float32 and convert afterwards (e.g. argmax or scaling to uint8)"
                )
            if isinstance(out, np.ndarray):
                out[...] = 0
        self.out = out
        self._in_memory = isinstance(out, np.ndarray)
        # zero and normalise whole stored chunks (whole shards for a sharded zarr array)
        chunks = getattr(out, "shards", None) or getattr(out, "chunks", None) or self.shape
        self._chunks = None if self._in_memory else tuple(int(c) for c in chunks)
        self._zeroed: set[tuple[int, ...]] = set()
        self._added = np.zeros(len(grid), dtype=bool)
        self._finished = False

    @property
    def remaining(self) -> int:
        """How many patches have not been added yet."""
        return int((~self._added).sum())

    def _zero_new_chunks(self, region: tuple[slice, ...]) -> None:
        assert self._chunks is not None
        ranges = [range(s.start // c, (s.stop - 1) // c + 1) for s, c in zip(region, self._chunks)]
        for idx in np.ndindex(*[len(r) for r in ranges]):
            key = tuple(r[i] for r, i in zip(ranges, idx))
            if key in self._zeroed:
                continue
            block = tuple(
                slice(k * c, min((k + 1) * c, n)) for k, c, n in zip(key, self._chunks, self.shape)
            )
            self.out[block] = 0
            self._zeroed.add(key)

    def _weights(self, patch: Patch) -> np.ndarray:
        parts = []
        for w, (before, after) in zip(self._windows, patch.padding):
            parts.append(w[before : len(w) - after])
        return (parts[0][:, None, None] * parts[1][None, :, None] * parts[2][None, None, :]).astype(
            np.float32
        )

    def add(self, patch: Patch | int, prediction: Any) -> None:
        """Add the prediction for ``patch`` (a :class:`Patch` or its index).

        ``prediction`` is ([C,] pz, py, px): either the full ``patch_size`` (padding is cropped
        off) or the patch's clipped :attr:`Patch.shape`.
        """
        if self._finished:
            raise RuntimeError("This Stitcher's result was already computed; start a new one")
        if isinstance(patch, int | np.integer):
            patch = self.grid[int(patch)]
        if self._added[patch.index]:
            raise ValueError(f"Patch {patch.index} was added already; add every patch once")
        pred = np.asarray(prediction, dtype=np.float32)
        lead = self.shape[:-3]
        full = (*lead, *self.grid.patch_size)
        clipped = (*lead, *patch.shape)
        if pred.shape == full and pred.shape != clipped:
            crop: tuple[Any, ...] = (
                ...,
                *(slice(b, n - a) for (b, a), n in zip(patch.padding, full[-3:])),
            )
            pred = pred[crop]
        elif pred.shape != clipped:
            raise ValueError(
                f"Expected the prediction for patch {patch.index} of shape {clipped} (or {full} "
                f"with padding), got {pred.shape} instead"
                + (
                    "; pass channels= to the Stitcher for a leading channel axis"
                    if pred.ndim == 4 and not lead
                    else ""
                )
            )
        region = tuple(slice(0, n) for n in lead) + patch.slices
        weighted = pred * self._weights(patch)
        if self._in_memory:
            self.out[region] += weighted
        else:
            self._zero_new_chunks(region)
            self.out[region] = np.asarray(self.out[region], dtype=np.float32) + weighted
        self._added[patch.index] = True

    def _profiles(self) -> list[np.ndarray]:
        """Per axis, the sum of the 1D windows of all patches over each voxel (all > 0)."""
        profiles = []
        for size, patch, positions, w in zip(
            self.grid.shape, self.grid.patch_size, self.grid.positions, self._windows
        ):
            total = np.zeros(size, dtype=np.float64)
            for start in positions:
                stop = min(start + patch, size)
                missing = patch - (stop - start)
                before = missing // 2
                total[start:stop] += w[before : before + stop - start]
            profiles.append(total)
        return profiles

    def result(
        self, *, scheduler: Scheduler = None, progress: ProgressCallback | None = None
    ) -> Any:
        """Normalise the accumulated sum and return ``out`` (the blended volume).

        For a zarr ``out`` this runs chunk by chunk (``scheduler``, ``progress`` as in
        :func:`compute`); every patch must have been added.
        """
        if self._finished:
            return self.out
        if self.remaining:
            raise ChunkingError(
                f"{self.remaining} of {len(self.grid)} patches were not added yet; add a "
                "prediction for every patch of the grid before taking the result"
            )
        pz, py, px = (p.astype(np.float32) for p in self._profiles())
        if self._in_memory:
            self.out /= pz[:, None, None] * py[None, :, None] * px[None, None, :]
        else:
            assert self._chunks is not None
            acc = da.from_array(self.out, chunks=self._chunks, asarray=True)
            spatial = self._chunks[-3:]
            weight = (
                da.from_array(pz, chunks=spatial[0])[:, None, None]
                * da.from_array(py, chunks=spatial[1])[None, :, None]
                * da.from_array(px, chunks=spatial[2])[None, None, :]
            )
            normalised = (acc / weight).astype(self.out.dtype)
            _compute.store_chunks(normalised, self.out, scheduler=scheduler, progress=progress)
        self._finished = True
        return self.out


def stitch(
    grid: PatchGrid,
    predictions: Iterable[tuple[Patch | int, Any]],
    *,
    channels: int | None = None,
    window: str = "cosine",
    out: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Any:
    """Blend ``(patch, prediction)`` pairs covering ``grid`` into one volume.

    A one-call form of :class:`Stitcher` (see it for the parameters); ``progress(done, total)``
    is called after each patch and may raise :class:`~voxelwise.errors.CancelledError`.

    Returns
    -------
    ([channels,] Z, Y, X) float32 ndarray, or ``out``
    """
    stitcher = Stitcher(grid, channels=channels, window=window, out=out)
    for done, (patch, prediction) in enumerate(predictions, start=1):
        stitcher.add(patch, prediction)
        if progress is not None:
            progress(done, len(grid))
    return stitcher.result(scheduler=scheduler)


def map_patches(
    func: Callable[..., Any],
    image: Any,
    patch_size: Any,
    *,
    overlap: Any = None,
    channels: int | None = None,
    window: str = "cosine",
    boundary: str = "reflect",
    cval: float = 0.0,
    out: Any = None,
    progress: ProgressCallback | None = None,
    **kwargs: Any,
) -> Any:
    """Apply ``func`` to overlapping patches of ``image`` and blend the results (tiled prediction).

    Patches are read one at a time (``image`` may be a zarr or dask array larger than memory),
    padded to ``patch_size`` where the volume is smaller (see :class:`PatchGrid`), passed to
    ``func(patch, **kwargs)``, and stitched with :class:`Stitcher`. Patches run one after the
    other in the calling thread, which suits a GPU model; use :func:`map_chunks` for functions
    that only need a fixed halo.

    Parameters
    ----------
    func : callable
        ``func(patch, **kwargs) -> ([channels,] pz, py, px)`` for a ([C,] pz, py, px) patch.
    image : (Z, Y, X) or (C, Z, Y, X) array
    patch_size, overlap
        See :class:`PatchGrid`.
    channels, window, out
        See :class:`Stitcher`.
    boundary, cval
        Padding of patches larger than the volume (see :meth:`PatchGrid.read`).
    progress : callable, optional
        ``progress(done, total)`` after each patch; may raise
        :class:`~voxelwise.errors.CancelledError` to stop.

    Returns
    -------
    ([channels,] Z, Y, X) float32 ndarray, or ``out``
    """
    grid = PatchGrid(tuple(image.shape[-3:]), patch_size, overlap=overlap)
    stitcher = Stitcher(grid, channels=channels, window=window, out=out)
    for done, patch in enumerate(grid, start=1):
        block = grid.read(image, patch, boundary=boundary, cval=cval)
        stitcher.add(patch, func(block, **kwargs))
        if progress is not None:
            progress(done, len(grid))
    return stitcher.result()
