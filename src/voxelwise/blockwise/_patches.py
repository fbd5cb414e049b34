"""A grid of overlapping patches covering a volume, and the blending windows used to stitch them.

Sampling (which patches, where) is kept apart from stitching (:mod:`._stitch`), as in torchio:
a :class:`PatchGrid` is a plain, deterministic description that can be iterated, indexed, sent
to workers or saved, and a :class:`~voxelwise.blockwise.Stitcher` only needs the grid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from voxelwise.blockwise._arrays import parse_size
from voxelwise.blockwise._map import BOUNDARY_MODES, parse_boundary
from voxelwise.errors import ChunkingError

__all__ = ["WINDOWS", "Patch", "PatchGrid", "window"]

WINDOWS = ("cosine", "gaussian", "linear", "uniform")


@dataclasses.dataclass(frozen=True)
class Patch:
    """One patch of a :class:`PatchGrid`.

    Attributes
    ----------
    index : int
        Position in the grid's C-order listing.
    start, stop : (int, int, int)
        The patch's region in the volume, (z, y, x); clipped to the volume.
    padding : ((int, int), (int, int), (int, int))
        Voxels (before, after) to add per axis to reach the grid's ``patch_size``; non-zero only
        on axes where the volume is smaller than the patch.
    """

    index: int
    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    padding: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The region as three slices: ``image[patch.slices]``."""
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        """The region's shape (the patch size, smaller where the volume is)."""
        return tuple(b - a for a, b in zip(self.start, self.stop))  # type: ignore[return-value]


def _positions(size: int, patch: int, overlap: int) -> list[int]:
    if size <= patch:
        return [0]
    step = patch - overlap
    count = math.ceil((size - patch) / step) + 1
    return sorted({round(v) for v in np.linspace(0, size - patch, count)})


class PatchGrid:
    """Overlapping patches of a fixed size that cover a (Z, Y, X) volume.

    Along each axis patches start at evenly spread positions from 0 to ``size - patch``, so
    neighbours overlap by at least ``overlap`` voxels and the last patch ends exactly at the
    volume's edge (never outside it). Where the volume is smaller than the patch, the patch is
    clipped to the volume and :attr:`Patch.padding` says how much to pad (split evenly before
    and after) to reach ``patch_size``; :meth:`read` does that padding.

    Parameters
    ----------
    shape : (int, int, int)
        The volume's (Z, Y, X) shape.
    patch_size : int or (int, int, int)
        Patch shape (z, y, x); e.g. ``(1, 256, 256)`` for 2D patches.
    overlap : int or (int, int, int), optional
        Minimum overlap of neighbouring patches in voxels, per axis; smaller than the patch.
        Default: a quarter of the patch size.

    Examples
    --------
    >>> grid = PatchGrid((10, 100, 100), (10, 64, 64), overlap=(0, 16, 16))
    >>> len(grid), grid.counts
    (4, (1, 2, 2))
    >>> grid[3].slices
    (slice(0, 10, None), slice(36, 100, None), slice(36, 100, None))
    """

    def __init__(self, shape: Any, patch_size: Any, *, overlap: Any = None) -> None:
        self.shape = parse_size(tuple(shape) if not isinstance(shape, int) else shape, "shape")
        self.patch_size = parse_size(patch_size, "patch_size")
        self.overlap: tuple[int, int, int]
        if overlap is None:
            self.overlap = (
                self.patch_size[0] // 4,
                self.patch_size[1] // 4,
                self.patch_size[2] // 4,
            )
        else:
            self.overlap = parse_size(overlap, "overlap", minimum=0)
        if any(o >= p for o, p in zip(self.overlap, self.patch_size)):
            raise ChunkingError(
                f"Expected overlap smaller than patch_size on every axis, got overlap="
                f"{self.overlap} for patch_size={self.patch_size} instead (patches would never "
                "advance); give one value per axis, e.g. overlap=(0, 16, 16) for 2D patches"
            )
        self.positions: tuple[tuple[int, ...], ...] = tuple(
            tuple(_positions(s, p, o)) for s, p, o in zip(self.shape, self.patch_size, self.overlap)
        )

    @property
    def counts(self) -> tuple[int, int, int]:
        """Number of patches along each axis."""
        return tuple(len(p) for p in self.positions)  # type: ignore[return-value]

    def __len__(self) -> int:
        return math.prod(self.counts)

    def __getitem__(self, index: int) -> Patch:
        if not -len(self) <= index < len(self):
            raise IndexError(f"patch index {index} out of range for a grid of {len(self)}")
        index %= len(self)
        where = np.unravel_index(index, self.counts)
        start, stop, padding = [], [], []
        for axis, i in enumerate(where):
            a = self.positions[axis][int(i)]
            b = min(a + self.patch_size[axis], self.shape[axis])
            missing = self.patch_size[axis] - (b - a)
            start.append(a)
            stop.append(b)
            padding.append((missing // 2, missing - missing // 2))
        return Patch(index, tuple(start), tuple(stop), tuple(padding))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Patch]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return (
            f"PatchGrid(shape={self.shape}, patch_size={self.patch_size}, "
            f"overlap={self.overlap}, patches={len(self)})"
        )

    def read(
        self, image: Any, patch: Patch | int, *, boundary: str = "reflect", cval: float = 0.0
    ) -> np.ndarray:
        """Read one patch of ``image`` as a NumPy array of the full ``patch_size``.

        ``image`` is (Z, Y, X) or (C, Z, Y, X) (NumPy, dask or zarr); only the patch is read.
        Where the volume is smaller than the patch the region is padded with ``boundary`` (as
        in :func:`map_chunks`; 'none' returns the clipped region unpadded).
        """
        if not isinstance(patch, Patch):
            patch = self[int(patch)]
        if tuple(image.shape[-3:]) != self.shape:
            raise ValueError(
                f"Expected an image of (Z, Y, X) shape {self.shape} for this grid, got "
                f"{tuple(image.shape)} instead"
            )
        region = image[(..., *patch.slices)]
        data = np.asarray(region.compute() if hasattr(region, "compute") else region)
        mode = BOUNDARY_MODES[parse_boundary(boundary)]
        if mode is None or all(p == (0, 0) for p in patch.padding):
            return data
        extra: dict[str, Any] = {"constant_values": cval} if mode == "constant" else {}
        pads = [(0, 0)] * (data.ndim - 3) + list(patch.padding)
        return np.pad(data, pads, mode=mode, **extra)  # type: ignore[call-overload]


def window(kind: str, size: int) -> np.ndarray:
    """A 1D blending window of ``size`` samples, > 0 everywhere, peak 1 in the middle.

    ``'cosine'``: Hann window sampled at voxel centres, sin²(π (i + ½) / n); ``'gaussian'``:
    σ = n / 8 (as nnU-Net); ``'linear'``: a triangle; ``'uniform'``: all ones (plain averaging).
    The 3D window is the outer product of the three 1D windows.
    """
    if kind not in WINDOWS:
        raise ValueError(f"Expected window as one of {WINDOWS}, got {kind!r} instead")
    centres = (np.arange(size) + 0.5) / size  # in (0, 1)
    if kind == "cosine":
        w = np.sin(np.pi * centres) ** 2
    elif kind == "gaussian":
        w = np.exp(-0.5 * ((centres - 0.5) * 8.0) ** 2)
    elif kind == "linear":
        w = 1.0 - np.abs(2.0 * centres - 1.0)
    else:
        w = np.ones(size)
    return w / w.max()
