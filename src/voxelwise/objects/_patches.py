"""Patches around objects: an image channel and the object's mask, cut out of core.

A patch is a window of ``size`` voxels centred on the object's bounding box, read from the
image and the instance volume (only that window is read), binned by block means to the network
input, with two channels: the image and the object's mask (other objects are 0; optionally
dilated to show a rim of context). In 2D the window lies on the plane where the object is
largest; in 3D it is a box.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage

from voxelwise._compute import Scheduler
from voxelwise._validate import as_volume_shape
from voxelwise.analysis import Table
from voxelwise.objects._boxes import (
    batches,
    bbox_of,
    clip_box,
    object_table,
    read_boxes,
    select_ids,
)
from voxelwise.objects._errors import ObjectsError, ObjectTooSmallError

__all__ = [
    "MIN_INPUT",
    "ObjectPatches",
    "PatchPlan",
    "as_volume",
    "extract_patches",
    "plan_patches",
]

#: The smallest in-plane network input (voxels): three poolings of 2 leave one voxel.
MIN_INPUT = 8


@dataclass(frozen=True)
class PatchPlan:
    """How object patches are cut.

    Attributes
    ----------
    ndim : {2, 3}
        2: the plane (z) where the object is largest; 3: a box.
    size : (3,) ints
        Voxels read around each object (z, y, x); z is 1 in 2D.
    bin : (3,) ints
        Block-mean factors; the network input is ``size // bin``.
    dilate : int
        Voxels the mask channel is dilated by, to show context around the object.
    """

    ndim: int
    size: tuple[int, int, int]
    bin: tuple[int, int, int]
    dilate: int = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The network input: (Y, X) in 2D, (Z, Y, X) in 3D."""
        shape = tuple(s // b for s, b in zip(self.size, self.bin))
        return shape[1:] if self.ndim == 2 else shape

    def to_dict(self) -> dict[str, Any]:
        return {
            "ndim": self.ndim,
            "size": list(self.size),
            "bin": list(self.bin),
            "dilate": self.dilate,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PatchPlan:
        size = tuple(int(v) for v in d["size"])
        bins = tuple(int(v) for v in d["bin"])
        return cls(int(d["ndim"]), size, bins, int(d.get("dilate", 0)))  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class ObjectPatches:
    """Patches of objects, ready for a network.

    Attributes
    ----------
    ids : (N,) ndarray of int64
        The objects, in the order of ``patches``.
    patches : (N, 2, Y, X) or (N, 2, Z, Y, X) ndarray of float32
        Channel 0: the image (raw values, block means); channel 1: the object's mask (0 to 1;
        fractions where binned).
    plan : PatchPlan
    origins : (N, 3) ndarray of int64
        Voxel (z, y, x) of each window's first corner (may be outside the volume: padded).
    skipped : (M,) ndarray of int64
        Objects left out because they have fewer than ``min_size`` voxels.
    """

    ids: np.ndarray
    patches: np.ndarray
    plan: PatchPlan
    origins: np.ndarray
    skipped: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return int(self.ids.size)


def as_volume(array: Any, what: str) -> Any:
    """A (Z, Y, X) array (2D becomes one slice); stored arrays stay stored."""
    if not hasattr(array, "shape") or not hasattr(array, "dtype"):
        raise TypeError(
            f"Expected the {what} as an array (NumPy, dask, zarr), got {type(array).__name__} "
            "instead"
        )
    shape = as_volume_shape(tuple(int(s) for s in array.shape), what=what)
    if tuple(array.shape) == shape:
        return array
    if isinstance(array, np.ndarray | da.Array):
        return array.reshape(shape)
    return da.from_array(array, asarray=True).reshape(shape)


def _parse_size(size: Any, ndim: int) -> tuple[int, int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        values = [int(size)] * 3
    elif isinstance(size, list | tuple) and len(size) in (2, 3):
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in size):
            raise TypeError(f"Expected the patch size as whole numbers, got {size!r} instead")
        values = [int(v) for v in size]
        if len(values) == 2:
            values = [1, *values]
    else:
        raise TypeError(
            f"Expected size as 'auto', one number or (z, y, x) voxels, got {size!r} instead"
        )
    if any(v < 1 for v in values):
        raise ObjectTooSmallError(f"Expected a patch size >= 1 voxel per axis, got {size!r}")
    if ndim == 2:
        values[0] = 1
    return (values[0], values[1], values[2])


def plan_patches(
    table: Table,
    *,
    ndim: int = 2,
    size: Any = "auto",
    context: float = 1.4,
    quantile: float = 0.9,
    max_input: int = 64,
    dilate: int = 0,
) -> PatchPlan:
    """Choose the patch size and binning for the objects of ``table``.

    Parameters
    ----------
    table : Table
        Object table with bounding boxes (:func:`object_table` or
        :func:`voxelwise.analysis.measure`).
    ndim : {2, 3}
        Classify from the object's largest plane (2) or from a box (3).
    size : "auto", int or (z, y, x) ints
        Voxels read around each object. ``"auto"``: ``context`` times the largest bounding box
        edge (in-plane; in 3D also along z), over all objects but the largest
        ``1 - quantile`` fraction (10 %), so a few huge objects do not shrink every other
        object to a speck after binning (``quantile=1`` takes the very largest). Objects
        larger than the patch are cut to it (their mask fills the window).
    context : float
        Margin factor of the automatic size (1.4: the window is 40 % wider than the box).
    quantile : float
        See ``size``.
    max_input : int
        Largest network input per axis: larger windows are binned by an integer factor
        (block means), equally for every object, so relative sizes are kept.
    dilate : int
        Voxels the mask channel is dilated by.

    Raises
    ------
    ObjectTooSmallError
        The network input would be smaller than :data:`MIN_INPUT` voxels in-plane.
    """
    if ndim not in (2, 3):
        raise ObjectsError(f"Expected ndim 2 or 3, got {ndim!r} instead")
    if not 0 < float(quantile) <= 1 or not float(context) > 0:
        raise ObjectsError(
            f"Expected 0 < quantile <= 1 and context > 0, got {quantile!r} and {context!r}"
        )
    if int(max_input) < MIN_INPUT or int(dilate) < 0:
        raise ObjectsError(
            f"Expected max_input >= {MIN_INPUT} and dilate >= 0, got {max_input!r}, {dilate!r}"
        )
    if isinstance(size, str):
        if size != "auto":
            raise ObjectsError(f"Expected size 'auto', a number or (z, y, x), got {size!r}")
        if len(table) == 0:
            raise ObjectsError("The object table is empty: there are no objects to cut patches of")
        ext = np.stack([table[f"bbox_{a}1"] - table[f"bbox_{a}0"] for a in "zyx"], axis=1)
        plane = float(np.quantile(np.maximum(ext[:, 1], ext[:, 2]), quantile, method="lower"))
        yx = max(math.ceil(context * plane), MIN_INPUT)
        z = max(math.ceil(context * float(np.quantile(ext[:, 0], quantile, method="lower"))), 1)
        sizes = [z if ndim == 3 else 1, yx, yx]
    else:
        sizes = list(_parse_size(size, ndim))
    bins = [max(1, math.ceil(s / int(max_input))) for s in sizes]
    sizes = [math.ceil(s / b) * b for s, b in zip(sizes, bins)]
    plan = PatchPlan(ndim, tuple(sizes), tuple(bins), int(dilate))  # type: ignore[arg-type]
    if min(plan.input_shape[-2:]) < MIN_INPUT:
        raise ObjectTooSmallError(
            f"A patch of {sizes[1]} x {sizes[2]} voxels in-plane is too small for the networks, "
            f"which need at least {MIN_INPUT} x {MIN_INPUT}; give a larger size"
        )
    return plan


def _window(lo: np.ndarray, hi: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """First corner of a window of ``size`` centred on the box ``[lo, hi)``."""
    return (lo + hi - np.asarray(size)) // 2


def _pad(block: np.ndarray, pad: list[tuple[int, int]], mode: str) -> np.ndarray:
    if not any(a or b for a, b in pad):
        return block
    return np.pad(block, pad, mode=mode)  # type: ignore[call-overload]


def _bin(block: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    if all(f == 1 for f in factors):
        return block
    shape = []
    for n, f in zip(block.shape, factors):
        shape += [n // f, f]
    return block.reshape(shape).mean(axis=tuple(range(1, 2 * block.ndim, 2)))


def _mask(labels: np.ndarray, object_id: int, dilate: int) -> np.ndarray:
    mask = labels == object_id
    if dilate:
        mask = ndimage.binary_dilation(mask, iterations=dilate)
    return mask.astype(np.float32)


def extract_patches(
    image: Any,
    labels: Any,
    plan: PatchPlan,
    *,
    ids: Any = None,
    table: Table | None = None,
    min_size: int = 1,
    batch: int = 64,
    scheduler: Scheduler = None,
    progress: Callable[[int, int], None] | None = None,
) -> ObjectPatches:
    """Cut a two-channel patch (image, object mask) around each object.

    Parameters
    ----------
    image : (Z, Y, X) array
        NumPy, dask or zarr; only each object's window is read.
    labels : (Z, Y, X) array of int
        Instance ids (0 is background), the same shape.
    plan : PatchPlan
        From :func:`plan_patches`.
    ids : sequence of int, optional
        The objects (default: every object of ``table``).
    table : Table, optional
        Bounding boxes (default: computed by :func:`object_table`, one pass over ``labels``).
    min_size : int
        Objects with fewer voxels are skipped (listed in ``skipped``).
    batch : int
        Objects read per step (one dask graph per step for dask inputs).
    scheduler, progress
        Where dask inputs are computed; ``progress(done, total)`` after each step.

    Returns
    -------
    ObjectPatches
        Padded by edge values (image) and zeros (mask) where a window leaves the volume.
    """
    image = as_volume(image, "image")
    labels = as_volume(labels, "labels")
    if tuple(image.shape) != tuple(labels.shape):
        raise ObjectsError(
            f"The image has shape {tuple(image.shape)} but the labels {tuple(labels.shape)} "
            "(z, y, x); they must match voxel for voxel"
        )
    if table is None:
        table = object_table(labels, scheduler=scheduler)
    rows = select_ids(table, ids)
    sizes = np.asarray(table["volume_voxels"])[rows]
    skipped = np.asarray(table["id"], dtype=np.int64)[rows[sizes < int(min_size)]]
    rows = rows[sizes >= int(min_size)]
    shape = tuple(int(s) for s in labels.shape)
    size = plan.size
    out = np.zeros((rows.size, 2, *plan.input_shape), dtype=np.float32)
    origins = np.zeros((rows.size, 3), dtype=np.int64)
    for step in batches(rows.size, batch):
        corners, lab_boxes = [], []
        for i in step:
            lo, hi = bbox_of(table, int(rows[i]))
            start = _window(lo, hi, size)
            if plan.ndim == 2:  # read the object's z range to find its largest plane
                start[0], stop0 = lo[0], hi[0]
            else:
                stop0 = start[0] + size[0]
            stop = np.array([stop0, start[1] + size[1], start[2] + size[2]])
            corners.append((start, stop))
            lab_boxes.append(clip_box(start, stop, shape))
        lab_blocks = read_boxes(labels, [b for b, _ in lab_boxes], scheduler=scheduler)
        img_boxes = []
        for k, i in enumerate(step):
            object_id = int(table["id"][rows[i]])
            block = _pad(lab_blocks[k], lab_boxes[k][1], "constant")
            start, stop = corners[k]
            if plan.ndim == 2:
                area = (block == object_id).sum(axis=(1, 2))
                best = int(np.argmax(area))
                block = block[best : best + 1]
                start = start.copy()
                start[0] += best
                stop = start + np.asarray(size)
                lab_blocks[k] = block
            origins[i] = start
            img_boxes.append(clip_box(start, stop, shape))
            lab_blocks[k] = _mask(block, object_id, plan.dilate)
        img_blocks = read_boxes(image, [b for b, _ in img_boxes], scheduler=scheduler)
        for k, i in enumerate(step):
            img = _pad(np.asarray(img_blocks[k], dtype=np.float32), img_boxes[k][1], "edge")
            pair = [_bin(img, plan.bin), _bin(lab_blocks[k], plan.bin)]
            if plan.ndim == 2:
                pair = [p[0] for p in pair]
            out[i] = np.stack(pair)
        if progress is not None:
            progress(step.stop, rows.size)
    ids_out = np.asarray(table["id"], dtype=np.int64)[rows]
    return ObjectPatches(ids_out, out, plan, origins, skipped)
