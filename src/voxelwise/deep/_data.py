"""Training data: volumes from files or arrays, train/validation regions, patch sampling.

Patches are cut at native resolution from (Z, Y, X) volumes: 2D slices along any of Z, Y, X
(multi-axis) or 3D windows. Sources stay lazy (dask over zarr or files) and are read patch by
patch; a region no larger than ``cache_mb`` is read into memory once, which is faster.
Labels: 0 = unlabelled (ignored by the loss), class c stored as c + 1.

Several image layers are input channels: given as one (C, Z, Y, X) stack (see
:func:`stack_channels`), they are held internally as a lazy channels-last (Z, Y, X, C) view, so
that every (Z, Y, X) index and slab read takes all channels along (each channel's own slab).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._validate import as_volume_shape, parse_roi
from voxelwise.errors import InvalidVolumeError

__all__ = [
    "Region",
    "as_dask",
    "as_image",
    "channels_of",
    "class_centres",
    "context_view",
    "label_counts",
    "sample_patch",
    "split_regions",
    "stack_channels",
]

_AXIS = {"z": 0, "y": 1, "x": 2}


def as_dask(data: Any, *, what: str) -> da.Array:
    """A lazy (Z, Y, X) dask array from a path, NumPy/dask/zarr array, a Volume or a
    workspace layer given as ``(workspace, "layer name")``."""
    if isinstance(data, tuple) and len(data) == 2 and hasattr(data[0], "open_array"):
        data = data[0].open_array(str(data[1]), mode="r")
    if isinstance(data, str | os.PathLike):
        from voxelwise.io import open_volume

        data = open_volume(Path(data)).data
    if hasattr(data, "data") and hasattr(data, "spacing") and not hasattr(data, "ndim"):
        data = data.data
    if not isinstance(data, da.Array):
        if not hasattr(data, "shape"):
            raise TypeError(
                f"Expected {what} as a path, an array or a Volume, got {type(data).__name__}"
            )
        chunks = getattr(data, "chunks", None)
        data = da.from_array(data, chunks=tuple(chunks) if chunks else "auto")
    shape = as_volume_shape(data.shape, what=what)
    return data.reshape(shape) if data.shape != shape else data


def _lazy(data: Any) -> da.Array:
    if isinstance(data, da.Array):
        return data
    chunks = getattr(data, "chunks", None)
    return da.from_array(data, chunks=tuple(chunks) if chunks else "auto")


def stack_channels(images: Any, *, what: str = "image") -> da.Array:
    """Stack image volumes of the same grid into one lazy (C, Z, Y, X) array of channels.

    Parameters
    ----------
    images : sequence of (Z, Y, X) arrays, paths, Volumes or ``(workspace, layer)``
        Each is opened lazily (see :func:`as_dask`); nothing is read.
    what : str
        What the images are, for error messages.

    Raises
    ------
    InvalidVolumeError
        Fewer than one image, or images of different shapes (both shapes named).
    """
    if isinstance(images, tuple) and len(images) == 2 and hasattr(images[0], "open_array"):
        images = [images]
    items = list(images) if isinstance(images, list | tuple) else None
    if not items:
        raise InvalidVolumeError(
            f"Expected a non-empty list of {what} volumes as channels, got {images!r}"
        )
    arrays = [as_dask(item, what=f"{what} channel {k}") for k, item in enumerate(items)]
    for k, arr in enumerate(arrays[1:], start=1):
        if arr.shape != arrays[0].shape:
            raise InvalidVolumeError(
                f"Expected {what} channels of the same shape, got {arrays[0].shape} for channel "
                f"0 and {arr.shape} for channel {k}; channels must be registered on the same "
                "grid (crop or resample them first, e.g. voxelwise.workspace.add_image)"
            )
    return da.stack(arrays, axis=0)


def as_image(data: Any, *, what: str = "image") -> da.Array:
    """A lazy image: (Z, Y, X) for one channel, channels-last (Z, Y, X, C) for several.

    ``data`` is anything :func:`as_dask` takes, or a (C, Z, Y, X) stack of channels (an
    array, or :func:`stack_channels` of several volumes); a stack of one channel is a plain
    (Z, Y, X) image.
    """
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) != 4 or isinstance(data, tuple):
        return as_dask(data, what=what)
    stack = _lazy(data)
    spatial = as_volume_shape(stack.shape[1:], what=f"{what} channel")
    if stack.shape[0] < 1:
        raise InvalidVolumeError(f"The {what} stack {stack.shape} has no channels")
    if stack.shape[0] == 1:
        return stack[0]
    return stack.reshape((stack.shape[0], *spatial)).transpose(1, 2, 3, 0)


def channels_of(image: Any) -> int:
    """The number of channels of an image from :func:`as_image`."""
    return 1 if image.ndim == 3 else int(image.shape[-1])


def context_planes(position: int, size: int, context: int) -> np.ndarray:
    """The planes ``position - context .. position + context``, repeating the edge planes."""
    return np.clip(np.arange(position - context, position + context + 1), 0, size - 1)


def context_view(view: da.Array, context: int) -> da.Array:
    """2.5D input: a lazy channels-last view of ``view`` (planes first: (N, H, W) or
    (N, H, W, C)) whose plane i holds planes ``i - context .. i + context`` as channels,
    (N, H, W, (2 context + 1) C) with channel ``k C + c`` = channel c of plane
    ``i + k - context`` (edge planes repeated). Nothing is read."""
    if context <= 0:
        return view
    n = view.shape[0]
    padded = da.concatenate([view[:1]] * context + [view] + [view[-1:]] * context, axis=0)
    shifted = [padded[k : k + n] for k in range(2 * context + 1)]
    if view.ndim == 3:
        return da.stack(shifted, axis=-1)
    stacked = da.stack(shifted, axis=3)  # (N, H, W, planes, C)
    return stacked.reshape((*stacked.shape[:3], -1))


@dataclass
class Region:
    """A box of one (image, labels) pair, cached in memory when small.

    ``centres`` maps each class index (0-based) and ``"boundary"`` to an (N, 3) array of
    voxel coordinates of that kind (a bounded random sample, see :func:`class_centres`), for
    patches centred on rare classes and class boundaries.
    """

    image: Any
    labels: Any
    centres: dict[Any, np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.image.shape[:3])  # type: ignore[return-value]

    @classmethod
    def from_box(
        cls, image: da.Array, labels: da.Array, box: tuple[slice, ...], cache_mb: float
    ) -> Region:
        img, lab = image[box], labels[box]
        if img.nbytes + lab.nbytes <= cache_mb * 2**20:
            return cls(np.asarray(img.compute()), np.asarray(lab.compute()))
        return cls(img, lab)

    def with_centres(self, rng: np.random.Generator, per_kind: int = 4096) -> Region:
        """This region with :attr:`centres` sampled (see :func:`class_centres`)."""
        self.centres = class_centres(self.labels, rng, per_kind=per_kind)
        return self


def class_centres(
    labels: Any, rng: np.random.Generator, *, per_kind: int = 4096
) -> dict[Any, np.ndarray]:
    """Random voxel coordinates of every class and of class boundaries, plane by plane.

    Reads the labels one Z plane at a time (streamed from zarr/dask when not in memory) and
    keeps at most ``per_kind`` coordinates per kind by reservoir-style subsampling, so memory
    stays bounded whatever the volume size. Keys: class index ``c`` (label value ``c + 1``)
    and ``"boundary"`` (labelled voxels whose in-plane neighbour has another label, both
    labelled). Unlabelled voxels (0) are never centres.
    """
    found: dict[Any, list[np.ndarray]] = {}
    seen: dict[Any, int] = {}
    depth = int(labels.shape[0])
    step = int(labels.chunks[0][0]) if isinstance(labels, da.Array) else 1
    per_plane = max(16, 4 * per_kind // max(depth, 1))
    for z0 in range(0, depth, step):
        block = _read(labels, (slice(z0, min(z0 + step, depth)),))
        for dz, plane in enumerate(block):
            kinds: dict[Any, np.ndarray] = {}
            for value in np.unique(plane):
                if value > 0:
                    kinds[int(value) - 1] = np.flatnonzero(plane == value)
            edge = np.zeros(plane.shape, dtype=bool)
            for axis in (0, 1):
                a = np.moveaxis(plane, axis, 0)
                e = np.moveaxis(edge, axis, 0)
                diff = (a[1:] != a[:-1]) & (a[1:] > 0) & (a[:-1] > 0)
                e[1:] |= diff
                e[:-1] |= diff
            if edge.any():
                kinds["boundary"] = np.flatnonzero(edge)
            for kind, flat in kinds.items():
                seen[kind] = seen.get(kind, 0) + flat.size
                if flat.size > per_plane:
                    flat = rng.choice(flat, per_plane, replace=False)
                yx = np.stack(np.unravel_index(flat, plane.shape), axis=1)
                zs = np.full((len(yx), 1), z0 + dz)
                found.setdefault(kind, []).append(np.concatenate([zs, yx], axis=1))
    out: dict[Any, np.ndarray] = {}
    for kind, parts in found.items():
        coords = np.concatenate(parts)
        if len(coords) > per_kind:
            coords = coords[rng.choice(len(coords), per_kind, replace=False)]
        out[kind] = coords.astype(np.int64)
    return out


def split_regions(
    shape: tuple[int, ...], roi: Any, val_fraction: float, min_size: tuple[int, int, int]
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Split the ROI along its longest axis into a training and a validation box."""
    box = parse_roi(roi, shape)
    sizes = [s.stop - s.start for s in box]
    axis = int(np.argmax([s / max(m, 1) for s, m in zip(sizes, min_size)]))
    n_val = max(1, round(sizes[axis] * val_fraction))
    if sizes[axis] - n_val < 1:
        raise InvalidVolumeError(
            f"The training region {tuple(sizes)} is too small to hold out a validation part; "
            "give a larger volume or ROI"
        )
    cut = box[axis].stop - n_val
    train = list(box)
    val = list(box)
    train[axis] = slice(box[axis].start, cut)
    val[axis] = slice(cut, box[axis].stop)
    return tuple(train), tuple(val)


def label_counts(labels: da.Array) -> np.ndarray:
    """Voxel count per label value (index 0 = unlabelled), computed chunk by chunk."""
    top = int(labels.max().compute())
    if top > 255 or int(labels.min().compute()) < 0:
        raise InvalidVolumeError(
            f"Expected label values 0 (unlabelled) and 1..C (class c stored as c + 1), got values "
            f"up to {top}; relabel the classes to small positive integers"
        )
    flat = labels.astype(np.int64).ravel()
    return np.asarray(da.bincount(flat, minlength=top + 1).compute())


def _read(array: Any, index: tuple[slice | int, ...]) -> np.ndarray:
    block = array[index]
    return np.asarray(block.compute() if hasattr(block, "compute") else block)


def _pad(block: np.ndarray, want: tuple[int, ...], value: float | None) -> np.ndarray:
    pads = [(0, max(0, w - s)) for w, s in zip(want, block.shape)]
    if not any(p for _, p in pads):
        return block
    pads += [(0, 0)] * (block.ndim - len(pads))  # a trailing channel axis
    if value is None:
        return np.pad(
            block,
            pads,
            mode="reflect" if all(p < s for (_, p), s in zip(pads, block.shape)) else "edge",
        )
    return np.pad(block, pads, constant_values=value)


def sample_patch(
    region: Region,
    patch_size: tuple[int, ...],
    axis: str | None,
    rng: np.random.Generator,
    *,
    tries: int = 8,
    centre: np.ndarray | None = None,
    context: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A random patch (image, labels as int64 class index, -1 unlabelled) from ``region``.

    A channels-last image gives a channels-last patch (``(*patch, C)``).

    ``axis`` 'z'/'y'/'x' cuts a 2D slice across that axis of size ``patch_size`` (rows, cols)
    in the remaining axes' order; ``None`` cuts a 3D window. Patches with labels are preferred
    (sparse annotations); volumes smaller than the patch are padded (labels with -1).
    ``centre`` (z, y, x) places the patch so that it holds that voxel, at a random position
    inside the patch. ``context`` > 0 (2D slices only) gives the image of the slices
    ``context`` planes before and after it too: a leading axis of ``2 context + 1`` planes
    (edge planes repeated), the labels of the middle slice only.
    """
    shape = region.shape

    def start(size: int, p: int, at: int | None) -> int:
        if at is None:
            return int(rng.integers(0, max(1, size - p + 1)))
        lo, hi = max(0, at - p + 1), min(at, size - p)
        return int(rng.integers(lo, hi + 1)) if hi >= lo else max(0, min(at, size - p))

    image = labels = None
    for _ in range(1 if centre is not None else tries):
        at = [None] * 3 if centre is None else [int(v) for v in centre]
        if axis is None:
            want = tuple(patch_size)
            starts = [start(s, p, c) for s, p, c in zip(shape, want, at)]
            index: tuple[slice | int, ...] = tuple(slice(a, a + p) for a, p in zip(starts, want))
        else:
            a = _AXIS[axis]
            rest = [i for i in range(3) if i != a]
            want = tuple(patch_size)
            here = at[a]
            pos = int(rng.integers(0, shape[a])) if here is None else here
            starts = [start(shape[r], p, at[r]) for r, p in zip(rest, want)]
            sl: list[slice | int] = [slice(None)] * 3
            sl[a] = pos
            for r, s0, p in zip(rest, starts, want):
                sl[r] = slice(s0, s0 + p)
            index = tuple(sl)
        labels = _read(region.labels, index)
        if labels.any():
            break
    assert labels is not None
    target = _pad(labels.astype(np.int64) - 1, want, -1)
    if context > 0 and axis is not None:
        a = _AXIS[axis]
        planes = []
        for p in context_planes(int(index[a]), shape[a], context):  # type: ignore[arg-type]
            at_plane = list(index)
            at_plane[a] = int(p)
            planes.append(_pad(_read(region.image, tuple(at_plane)).astype(np.float32), want, None))
        return np.stack(planes), target
    image = _read(region.image, index).astype(np.float32)
    return _pad(image, want, None), target
