"""The pool: candidate patches over (a region of) a volume, read block by block.

A :class:`Pool` lays a regular grid of candidate patches over a region of interest: 2D patches
(one plane thick) across any axis, or 3D windows. It is a plain description (shape, patch size,
positions) plus one "available" flag per candidate, so even a pool of millions of candidates
costs a byte each. Reading candidates, and scanning a label volume for what is labelled
already, visit the candidates grouped by the storage chunk they start in: each group's bounding
block is read once and the patches are cut from it, so memory stays at one block and one batch
whatever the size of the volume.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from voxelwise._validate import as_volume_shape, parse_roi, roi_to_str
from voxelwise.active._strategies import Duplicate

__all__ = ["AXES", "Pool", "parse_axis"]

AXES = ("z", "y", "x")
_DEFAULT_TILE = (64, 256, 256)


def parse_axis(axis: Any) -> str | None:
    """``'z'``, ``'y'``, ``'x'`` (2D patches across that axis) or None / ``'3d'`` (3D windows)."""
    if axis is None or (isinstance(axis, str) and axis.lower() in ("3d", "none", "")):
        return None
    if isinstance(axis, str) and axis.lower() in AXES:
        return axis.lower()
    raise ValueError(
        f"Expected axis as 'z', 'y', 'x' (2D patches across that axis) or None (3D windows), "
        f"got {axis!r} instead"
    )


def _ints(value: Any, n: int, name: str) -> tuple[int, ...]:
    items = [value] * n if isinstance(value, int | np.integer) else list(value)
    if len(items) != n or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items
    ):
        raise TypeError(f"Expected {name} as {n} whole numbers, got {value!r} instead")
    if any(int(v) < 1 for v in items):
        raise ValueError(f"Expected {name} >= 1 on every axis, got {value!r} instead")
    return tuple(int(v) for v in items)


def _positions(size: int, patch: int, step: int) -> tuple[int, ...]:
    """Evenly spread starts from 0 to ``size - patch``, at most ``step`` apart."""
    if size <= patch:
        return (0,)
    count = math.ceil((size - patch) / step) + 1
    return tuple(sorted({round(v) for v in np.linspace(0, size - patch, count)}))


def _read(source: Any, box: tuple[Any, ...]) -> np.ndarray:
    block = source[box]
    return np.asarray(block.compute() if hasattr(block, "compute") else block)


def _tile(source: Any, box: tuple[int, int, int]) -> tuple[int, int, int]:
    """Group size: the source's storage chunks (at least the patch box)."""
    chunks = getattr(source, "chunks", None)
    tile: list[int] = list(_DEFAULT_TILE)
    if chunks is not None:
        try:
            last = [c[0] if isinstance(c, tuple) else c for c in tuple(chunks)[-3:]]
            tile = [int(c) for c in last]
        except (TypeError, ValueError):
            tile = list(_DEFAULT_TILE)
    return tuple(max(t, b) for t, b in zip(tile, box))  # type: ignore[return-value]


class Pool:
    """Candidate patches over a region of a (Z, Y, X) volume.

    Parameters
    ----------
    shape : (int, int, int)
        The volume's shape.
    patch_size : (int, int) or (int, int, int)
        2D patches: (rows, cols) in the order of the two remaining axes (e.g. (y, x) for
        ``axis='z'``, (z, x) for ``axis='y'``); 3D windows (``axis=None``): (z, y, x).
    axis : {'z', 'y', 'x'} or None
        The axis 2D patches lie across (each is one plane thick); None for 3D windows.
    stride : int or tuple, optional
        In-plane (2D) or (z, y, x) (3D) step between candidates; default the patch size (no
        overlap). Positions are spread evenly so the last candidate ends at the region's edge.
    plane_step : int
        2D patches: take every ``plane_step``-th plane along ``axis``.
    roi : str or slices, optional
        The region the candidates cover (``"z0:z1,y0:y1,x0:x1"``); default the whole volume.

    Examples
    --------
    >>> pool = Pool((16, 1024, 1024), (128, 128), axis="z")
    >>> len(pool), pool.box_size
    (1024, (1, 128, 128))
    >>> pool.roi_string(9)
    '0:1,128:256,128:256'
    """

    def __init__(
        self,
        shape: Any,
        patch_size: Any,
        *,
        axis: Any = "z",
        stride: Any = None,
        plane_step: int = 1,
        roi: Any = None,
    ) -> None:
        self.shape = as_volume_shape(tuple(shape), what="volume")
        self.axis = parse_axis(axis)
        self.roi = parse_roi(roi, self.shape)
        ndim = 3 if self.axis is None else 2
        self.patch_size = _ints(patch_size, ndim, "patch_size")
        if self.axis is None:
            self.box_size: tuple[int, int, int] = self.patch_size  # type: ignore[assignment]
            steps = _ints(stride if stride is not None else self.patch_size, 3, "stride")
        else:
            a = AXES.index(self.axis)
            box = list(self.patch_size)
            box.insert(a, 1)
            self.box_size = tuple(box)  # type: ignore[assignment]
            inplane = _ints(stride if stride is not None else self.patch_size, 2, "stride")
            step_list = list(inplane)
            step_list.insert(a, _ints(plane_step, 1, "plane_step")[0])
            steps = tuple(step_list)
        self.stride = steps
        sizes = [s.stop - s.start for s in self.roi]
        self.positions: tuple[tuple[int, ...], ...] = tuple(
            tuple(r.start + p for p in _positions(n, b, st))
            for r, n, b, st in zip(self.roi, sizes, self.box_size, steps)
        )
        self.counts: tuple[int, int, int] = tuple(len(p) for p in self.positions)  # type: ignore[assignment]
        self._pos = [np.asarray(p, dtype=np.int64) for p in self.positions]
        self.available = np.ones(len(self), dtype=bool)

    # -- description ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(np.prod(self.counts))

    def __repr__(self) -> str:
        return (
            f"Pool(shape={self.shape}, patch_size={self.patch_size}, axis={self.axis!r}, "
            f"roi={roi_to_str(self.roi)!r}, candidates={len(self)}, "
            f"available={int(self.available.sum())})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able parameters (``Pool(**d)`` rebuilds it, availability aside)."""
        in_plane = (
            list(self.stride)
            if self.axis is None
            else [s for i, s in enumerate(self.stride) if i != AXES.index(self.axis)]
        )
        return {
            "shape": list(self.shape),
            "patch_size": list(self.patch_size),
            "axis": self.axis,
            "stride": in_plane,
            "plane_step": 1 if self.axis is None else self.stride[AXES.index(self.axis)],
            "roi": roi_to_str(self.roi),
        }

    def _check(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(
                f"Expected candidate indices from 0 to {len(self) - 1}, got {idx.min()} to "
                f"{idx.max()} instead"
            )
        return idx

    def starts(self, indices: Any) -> np.ndarray:
        """(n, 3) start (z, y, x) of candidates."""
        idx = self._check(indices)
        where = np.unravel_index(idx, self.counts)
        return np.stack([p[w] for p, w in zip(self._pos, where)], axis=1).reshape(-1, 3)

    def stops(self, indices: Any) -> np.ndarray:
        """(n, 3) stop (z, y, x) of candidates, clipped to the region."""
        ends = np.asarray([r.stop for r in self.roi], dtype=np.int64)
        return np.minimum(self.starts(indices) + np.asarray(self.box_size), ends)

    def slices(self, index: int) -> tuple[slice, slice, slice]:
        """The region of one candidate: ``volume[pool.slices(i)]``."""
        a, b = self.starts([index])[0], self.stops([index])[0]
        return tuple(slice(int(s), int(e)) for s, e in zip(a, b))  # type: ignore[return-value]

    def roi_string(self, index: int) -> str:
        """The region of one candidate as ``"z0:z1,y0:y1,x0:x1"``."""
        return roi_to_str(self.slices(index))

    def locate(self, start: Sequence[int]) -> int:
        """The index of the candidate starting at ``start`` (z, y, x)."""
        where = []
        for axis, (p, s) in enumerate(zip(self.positions, start)):
            if int(s) not in p:
                raise KeyError(
                    f"No candidate starts at {tuple(start)}: along axis {AXES[axis]} they "
                    f"start at {list(p)[:8]}{'...' if len(p) > 8 else ''}"
                )
            where.append(p.index(int(s)))
        return int(np.ravel_multi_index(tuple(where), self.counts))

    # -- availability ---------------------------------------------------------------------------

    def indices(self) -> np.ndarray:
        """Indices of the available (unlabelled, not excluded) candidates."""
        return np.flatnonzero(self.available)

    def exclude(self, indices: Any) -> None:
        """Mark candidates unavailable (labelled, or proposed and pending)."""
        self.available[self._check(indices)] = False

    # -- reading --------------------------------------------------------------------------------

    def iter_read(
        self,
        image: Any,
        indices: Any,
        *,
        batch_size: int = 16,
        pad: str = "symmetric",
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(indices, patches)`` batches: patches ``(B, *patch_size)`` (or ``(B, C,
        *patch_size)`` for a ``(C, Z, Y, X)`` image), in storage order.

        Candidates are grouped by the storage chunk of ``image`` they start in; each group's
        bounding block is read once. Where the region is smaller than a patch it is padded
        (``pad='symmetric'`` for images, ``'zeros'`` for labels: 0 = unlabelled).
        """
        idx = self._check(indices)
        if tuple(image.shape[-3:]) != self.shape:
            raise ValueError(
                f"Expected a volume of (Z, Y, X) shape {self.shape} for this pool, got "
                f"{tuple(image.shape)} instead"
            )
        lead = tuple(image.shape[:-3])
        box = np.asarray(self.box_size)
        tile = np.asarray(_tile(image, self.box_size))
        starts, stops = self.starts(idx), self.stops(idx)
        keys = starts // tile
        order = np.lexsort(keys.T[::-1])
        batch_idx: list[int] = []
        batch: list[np.ndarray] = []
        squeeze = None if self.axis is None else AXES.index(self.axis)
        bounds = np.flatnonzero((np.diff(keys[order], axis=0) != 0).any(axis=1)) + 1
        for group in np.split(order, bounds):
            lo, hi = starts[group].min(axis=0), stops[group].max(axis=0)
            where: tuple[Any, ...] = (..., *(slice(int(a), int(b)) for a, b in zip(lo, hi)))
            block = _read(image, where)
            for g in group:
                a, b = starts[g] - lo, stops[g] - lo
                inner: tuple[Any, ...] = (..., *(slice(int(s), int(e)) for s, e in zip(a, b)))
                patch = block[inner]
                missing = box - (stops[g] - starts[g])
                if missing.any():
                    pads = [(0, 0)] * len(lead) + [
                        (int(m) // 2, int(m) - int(m) // 2) for m in missing
                    ]
                    if pad == "zeros":
                        patch = np.pad(patch, pads)
                    else:
                        patch = np.pad(patch, pads, mode="symmetric")
                if squeeze is not None:
                    patch = patch.reshape(patch.shape[: len(lead)] + tuple(self.patch_size))
                batch_idx.append(int(idx[g]))
                batch.append(patch)
                if len(batch) == batch_size:
                    yield np.asarray(batch_idx, dtype=np.int64), np.stack(batch)
                    batch_idx, batch = [], []
        if batch:
            yield np.asarray(batch_idx, dtype=np.int64), np.stack(batch)

    def read(self, image: Any, indices: Any, *, pad: str = "symmetric") -> np.ndarray:
        """Candidate patches ``(n, *patch_size)`` in the order of ``indices``."""
        idx = self._check(indices)
        out: dict[int, np.ndarray] = {}
        for got, patches in self.iter_read(image, idx, batch_size=64, pad=pad):
            out.update(zip(got.tolist(), patches))
        if not idx.size:
            lead = tuple(image.shape[:-3])
            return np.zeros((0, *lead, *self.patch_size), dtype=image.dtype)
        return np.stack([out[int(i)] for i in idx])

    def labelled_fraction(self, labels: Any, indices: Any = None) -> np.ndarray:
        """Share of each candidate's voxels that are labelled (non-zero) in ``labels``.

        Reads ``labels`` block by block (blocks with no label at all cost one test). Returns
        (n,) float32 for ``indices`` (default every candidate).
        """
        idx = np.arange(len(self)) if indices is None else self._check(indices)
        out = np.zeros(idx.size, dtype=np.float32)
        if not idx.size:
            return out
        if tuple(labels.shape) != self.shape:
            raise ValueError(
                f"Expected labels of shape {self.shape} for this pool, got "
                f"{tuple(labels.shape)} instead"
            )
        tile = np.asarray(_tile(labels, self.box_size))
        starts, stops = self.starts(idx), self.stops(idx)
        keys = starts // tile
        order = np.lexsort(keys.T[::-1])
        bounds = np.flatnonzero((np.diff(keys[order], axis=0) != 0).any(axis=1)) + 1
        volume = float(np.prod(self.box_size))
        for group in np.split(order, bounds):
            lo, hi = starts[group].min(axis=0), stops[group].max(axis=0)
            block = _read(labels, tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))) != 0
            if not block.any():
                continue
            for g in group:
                a, b = starts[g] - lo, stops[g] - lo
                region = block[tuple(slice(int(s), int(e)) for s, e in zip(a, b))]
                out[g] = np.count_nonzero(region) / volume
        return out

    def exclude_labelled(self, labels: Any, *, min_fraction: float = 0.0) -> np.ndarray:
        """Exclude candidates with more than ``min_fraction`` of their voxels labelled; returns
        the indices of the labelled candidates."""
        labelled = np.flatnonzero(self.labelled_fraction(labels) > min_fraction)
        self.exclude(labelled)
        return labelled

    # -- near-duplicates ------------------------------------------------------------------------

    def duplicates(
        self, indices: Any, *, max_overlap: float = 0.5, plane_gap: int = 1
    ) -> Duplicate:
        """A near-duplicate test for selecting among ``indices`` (positions into it).

        Two candidates are near-duplicates when they share more than ``max_overlap`` of a
        patch: for 2D patches, of the in-plane area, on planes at most ``plane_gap`` apart
        (neighbouring sections look alike); for 3D windows, of the volume.
        """
        idx = self._check(indices)
        starts, stops = self.starts(idx), self.stops(idx)
        axis = None if self.axis is None else AXES.index(self.axis)
        keep = [i for i in range(3) if i != axis]
        area = float(np.prod([self.box_size[i] for i in keep]))

        def is_duplicate(candidate: int, chosen: Sequence[int]) -> bool:
            c = np.asarray(chosen, dtype=np.int64)
            inter = np.ones(c.size)
            for i in keep:
                lo = np.maximum(starts[c, i], starts[candidate, i])
                hi = np.minimum(stops[c, i], stops[candidate, i])
                inter *= np.maximum(hi - lo, 0)
            if axis is not None:
                near = np.abs(starts[c, axis] - starts[candidate, axis]) <= plane_gap
                return bool(((inter / area > max_overlap) & near).any())
            return bool((inter / area > max_overlap).any())

        return is_duplicate
