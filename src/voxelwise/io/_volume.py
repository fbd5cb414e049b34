"""The :class:`Volume` returned by :func:`~voxelwise.io.open_volume`, and helpers shared by readers.

Readers produce a lazy dask array over a :class:`LazySource` (an array-like object that reads
one block from the file on demand and pickles without its open file handles), plus voxel size
and unit. :func:`make_volume` then checks the shape, applies ROI and binning and wraps it all.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from voxelwise._validate import as_volume_shape, parse_bin, parse_roi
from voxelwise.errors import InvalidVolumeError

__all__ = [
    "LazySource",
    "Volume",
    "channel_error",
    "check_dtype",
    "file_token",
    "group_chunks",
    "make_volume",
    "normalize_unit",
    "photometric_name",
    "spacing_from_attrs",
    "unit_factor",
]

Box = tuple[slice, slice, slice]


@dataclass(frozen=True, repr=False, eq=False)
class Volume:
    """A lazily read 3D grayscale volume and what the file says about it.

    Attributes
    ----------
    data : (Z, Y, X) dask array
        The voxels, with ROI then binning applied. Nothing is read until it is computed.
    spacing : (3,) tuple of float or None
        Voxel size (z, y, x) of ``data`` in ``unit`` (binning multiplies it), or None when the
        file does not store one.
    unit : str or None
        Unit of ``spacing`` as an NGFF/UDUNITS name ("nanometer", "micrometer", "angstrom", ...).
    format : str
        One of :func:`~voxelwise.io.supported_formats`.
    path : Path
        The file, folder or glob pattern that was opened.
    key : str or None
        Dataset or array path inside a container (HDF5, Zarr) or TIFF series, when one was used.
    level, levels : int
        Pyramid level read and the number of levels the file holds (1 without a pyramid).
    source_shape : (3,) tuple of int
        Shape (z, y, x) of the stored level before ROI and binning.
    """

    data: da.Array
    spacing: tuple[float, float, float] | None
    unit: str | None
    format: str
    path: Path
    key: str | None = None
    level: int = 0
    levels: int = 1
    source_shape: tuple[int, int, int] = (0, 0, 0)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of ``data``."""
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        """Data type of ``data``."""
        return self.data.dtype

    @property
    def nbytes(self) -> int:
        """Size of ``data`` in bytes once loaded."""
        return int(self.data.nbytes)

    def describe(self) -> str:
        """A few lines for people: where, format, shape, dtype, voxel size, chunks, pyramid."""
        where = str(self.path) + (f" [{self.key}]" if self.key else "")
        if self.spacing is None:
            vox = "unknown"
        else:
            vox = " x ".join(f"{s:g}" for s in self.spacing) + (
                f" {self.unit}" if self.unit else ""
            )
        lines = [
            f"{where} ({self.format})",
            f"  shape (z, y, x): {self.shape}  dtype: {self.dtype}  size: {_human(self.nbytes)}",
            f"  voxel size (z, y, x): {vox}",
            f"  chunks: {tuple(int(c[0]) for c in self.data.chunks)}  ({self.data.npartitions} in all)",
        ]
        if self.levels > 1:
            lines.append(f"  pyramid level {self.level} of {self.levels}")
        if self.shape != self.source_shape:
            lines.append(f"  stored shape before ROI/binning: {self.source_shape}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        vox = None if self.spacing is None else tuple(round(s, 6) for s in self.spacing)
        return (
            f"Volume(path={str(self.path)!r}, format={self.format!r}, shape={self.shape}, "
            f"dtype={self.dtype}, spacing={vox}, unit={self.unit!r}"
            + (f", key={self.key!r}" if self.key else "")
            + (f", level={self.level}/{self.levels}" if self.levels > 1 else "")
            + ")"
        )


def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"


class LazySource(abc.ABC):
    """Array-like (Z, Y, X) reader of one file: ``source[index]`` reads just that block.

    Subclasses implement :meth:`read` for a box of unit-step slices and keep open handles in
    attributes starting with ``_h`` (dropped when pickled, reopened lazily after).
    """

    ndim = 3

    def __init__(self, shape: Sequence[int], dtype: Any) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)

    @abc.abstractmethod
    def read(self, box: Box) -> np.ndarray:
        """The voxels of ``box`` (unit-step slices) as a NumPy array."""

    def __getitem__(self, index: Any) -> np.ndarray:
        box, post = _split_index(index, self.shape)
        if any(s.stop <= s.start for s in box):
            return np.empty(tuple(max(0, s.stop - s.start) for s in box), self.dtype)[post]
        return self.read(box)[post]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_h")}

    def to_dask(self, chunks: Sequence[Any], *, token: Any) -> da.Array:
        """A dask array over this source, one task per chunk."""
        name = f"vw-read-{type(self).__name__.lower()}-{tokenize(token)}"
        return da.from_array(
            self, chunks=tuple(chunks), name=name, meta=np.empty((0, 0, 0), self.dtype)
        )


def _split_index(index: Any, shape: tuple[int, ...]) -> tuple[Box, tuple[Any, ...]]:
    """Split a basic index into a bounding box of unit-step slices and the rest to apply after."""
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        pos = index.index(Ellipsis)
        index = index[:pos] + (slice(None),) * (len(shape) - len(index) + 1) + index[pos + 1 :]
    index = index + (slice(None),) * (len(shape) - len(index))
    box = []
    post: list[Any] = []
    for item, n in zip(index, shape):
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            if step == 1:
                box.append(slice(start, max(start, stop)))
                post.append(slice(None))
            else:
                idx = range(start, stop, step)
                if len(idx) == 0:
                    box.append(slice(0, 0))
                    post.append(slice(None))
                else:
                    lo, hi = min(idx[0], idx[-1]), max(idx[0], idx[-1]) + 1
                    first, last = idx[0] - lo, idx[-1] - lo
                    end = last + (1 if step > 0 else -1)
                    box.append(slice(lo, hi))
                    post.append(slice(first, end if end >= 0 else None, step))
        else:
            i = int(item)
            i = i + n if i < 0 else i
            box.append(slice(i, i + 1))
            post.append(0)
    return tuple(box), tuple(post)  # type: ignore[return-value]


def group_chunks(
    natural: Sequence[int], shape: Sequence[int], itemsize: int, *, min_bytes: int = 4 << 20
) -> tuple[int, int, int]:
    """Whole multiples of a storage chunk shape, grown (x, then y, then z) to at least ``min_bytes``.

    Tiny storage chunks (e.g. 1 x 64 x 64) would give millions of dask tasks; grouping them
    keeps every dask chunk aligned with storage chunks so no stored chunk is read twice.
    """
    chunks = [max(1, min(int(c), int(s))) for c, s in zip(natural, shape)]
    for axis in (2, 1, 0):
        while math.prod(chunks) * itemsize < min_bytes and chunks[axis] < shape[axis]:
            chunks[axis] = min(chunks[axis] * 2, int(shape[axis]))
    return (chunks[0], chunks[1], chunks[2])


def channel_error(path: Path | str, detail: str) -> InvalidVolumeError:
    """The error for multichannel (RGB, several channels) data, naming ``channel_axis``."""
    return InvalidVolumeError(
        f"{path} holds multichannel data ({detail}); voxelwise volumes are grayscale and have no "
        "channel_axis. Convert the file to grayscale, or pick one channel first (e.g. "
        "array[..., 0]) and add each channel as its own layer"
    )


def photometric_name(value: Any) -> str:
    """Name of a TIFF PhotometricInterpretation value (tifffile enum or plain int)."""
    return str(getattr(value, "name", value))


def check_dtype(dtype: Any, path: Path | str) -> np.dtype:
    """Accept numeric (and bool) dtypes; complex, structured or object data raise."""
    dtype = np.dtype(dtype)
    if dtype.names is not None and len(dtype.names) in (3, 4):
        raise channel_error(path, f"a record of {len(dtype.names)} fields per voxel {dtype.names}")
    if dtype.kind not in "biuf":
        raise InvalidVolumeError(
            f"{path} holds {dtype} data; voxelwise reads integer, float or boolean voxels. Convert "
            "it first (e.g. to float32, or the magnitude of complex data)"
        )
    return dtype


_UNITS = {
    "angstrom": "angstrom",
    "angstroms": "angstrom",
    "a": "angstrom",
    "å": "angstrom",
    "\u212b": "angstrom",
    "pm": "picometer",
    "picometer": "picometer",
    "nm": "nanometer",
    "nanometer": "nanometer",
    "nanometers": "nanometer",
    "nanometre": "nanometer",
    "um": "micrometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "\\u00b5m": "micrometer",
    "micron": "micrometer",
    "microns": "micrometer",
    "micrometer": "micrometer",
    "micrometers": "micrometer",
    "micrometre": "micrometer",
    "mm": "millimeter",
    "millimeter": "millimeter",
    "millimetre": "millimeter",
    "cm": "centimeter",
    "centimeter": "centimeter",
    "m": "meter",
    "meter": "meter",
    "in": "inch",
    "inch": "inch",
}
_NO_UNIT = {"", "pixel", "pixels", "px", "none", "unknown"}
_METERS = {
    "picometer": 1e-12,
    "angstrom": 1e-10,
    "nanometer": 1e-9,
    "micrometer": 1e-6,
    "millimeter": 1e-3,
    "centimeter": 1e-2,
    "meter": 1.0,
    "inch": 0.0254,
}


def normalize_unit(unit: Any) -> str | None:
    """An NGFF/UDUNITS length name for common spellings ("um", "micron", "nm", "Å"); None for pixels."""
    if unit is None:
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    text = str(unit).strip()
    if text.lower() in _NO_UNIT:
        return None
    return _UNITS.get(text.lower(), _UNITS.get(text, text))


def unit_factor(unit: str | None, target: str) -> float | None:
    """Multiply values in ``unit`` by this to get ``target``; None when either is not a length."""
    if unit not in _METERS or target not in _METERS:
        return None
    return _METERS[unit] / _METERS[target]


def _as_spacing(values: Any, ndim: int) -> tuple[float, float, float] | None:
    try:
        vals = [float(v) for v in np.asarray(values, dtype=float).ravel()]
    except (TypeError, ValueError):
        return None
    if len(vals) == 2 and ndim == 2:
        vals = [vals[0], *vals]
    if len(vals) != 3 or not all(math.isfinite(v) and v > 0 for v in vals):
        return None
    return (vals[0], vals[1], vals[2])


def spacing_from_attrs(
    attrs: Mapping[str, Any], ndim: int
) -> tuple[tuple[float, float, float] | None, str | None]:
    """Voxel size (z, y, x) and unit from array attributes, as written by common tools.

    Looks at ``spacing`` (+ ``unit``; what voxelwise writes), ``element_size_um`` (Fiji/ilastik,
    micrometers), ``resolution`` and ``voxel_size`` (+ ``unit``), in that order.
    """
    unit = normalize_unit(attrs.get("unit")) if "unit" in attrs else None
    for name, fixed_unit in (
        ("spacing", None),
        ("element_size_um", "micrometer"),
        ("resolution", None),
        ("voxel_size", None),
    ):
        if name in attrs:
            spacing = _as_spacing(attrs[name], ndim)
            if spacing is not None:
                return spacing, fixed_unit or unit
    return None, None


def file_token(path: Path, *parts: Any) -> tuple[Any, ...]:
    """A token that changes when the file changes (for dask task names)."""
    try:
        st = os.stat(path)
        return (str(path), st.st_mtime_ns, st.st_size, *parts)
    except OSError:
        return (str(path), *parts)


def make_volume(
    data: da.Array,
    *,
    path: Path,
    format: str,
    spacing: tuple[float, float, float] | None,
    unit: str | None,
    key: str | None = None,
    level: int = 0,
    levels: int = 1,
    roi: Any = None,
    bin: Any = 1,
) -> Volume:
    """Check the shape, turn 2D into one slice, apply ROI then binning, and build the Volume."""
    shape = as_volume_shape(data.shape, what=f"{format} data in {path}")
    if data.ndim == 2:
        data = data[None]
    if data.dtype == bool:
        data = data.astype(np.uint8)
    box = parse_roi(roi, shape)
    factors = parse_bin(bin)
    if box != tuple(slice(0, s) for s in shape):
        data = data[box]
    if factors != (1, 1, 1):
        from voxelwise.io._ngff import downsample

        data = downsample(data, factors)
        if spacing is not None:
            spacing = (
                spacing[0] * factors[0],
                spacing[1] * factors[1],
                spacing[2] * factors[2],
            )
    return Volume(
        data=data,
        spacing=spacing,
        unit=unit if spacing is not None else None,
        format=format,
        path=path,
        key=key,
        level=level,
        levels=levels,
        source_shape=shape,
    )
