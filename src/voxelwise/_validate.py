"""``parse_*`` helpers: validate user input at the boundary and return normalised values.

Wrong types raise ``TypeError``; wrong values raise the matching :mod:`voxelwise.errors` class
(which is also a ``ValueError``). Messages follow "Expected ..., got ... instead" plus the fix.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelwise.errors import ChunkingError, InvalidVolumeError, RoiError

__all__ = [
    "Roi",
    "as_volume_shape",
    "parse_bin",
    "parse_chunks",
    "parse_halo",
    "parse_rng",
    "parse_roi",
    "parse_spacing",
    "roi_to_str",
]

Roi = tuple[slice, slice, slice]

_AXES = ("z", "y", "x")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _triple(value: Any, name: str, *, kind: type = int) -> tuple[Any, Any, Any]:
    """Broadcast a scalar to three axes or check a length-3 sequence."""
    if isinstance(value, str):
        value = [v for v in re.split(r"[,x×\s]+", value.strip()) if v]
        try:
            value = [kind(v) for v in value]
        except ValueError as e:
            raise TypeError(
                f"Expected {name} as numbers like '1,2,2', got {value!r} instead"
            ) from e
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return (value, value, value)
    if isinstance(value, Sequence | np.ndarray) and len(value) == 3:
        return (value[0], value[1], value[2])
    if isinstance(value, Sequence | np.ndarray) and len(value) == 1:
        return (value[0], value[0], value[0])
    raise TypeError(
        f"Expected {name} as one number or three numbers (z, y, x), got {value!r} instead"
    )


def parse_bin(bin: Any) -> tuple[int, int, int]:
    """Normalise an integer binning factor (one int or one per axis, each >= 1)."""
    factors = _triple(bin, "bin")
    if not all(_is_int(f) for f in factors):
        raise TypeError(f"Expected bin as whole numbers, got {bin!r} instead; use e.g. bin=2")
    if any(int(f) < 1 for f in factors):
        raise ValueError(
            f"Expected bin >= 1 on every axis, got {bin!r} instead; bin=1 keeps full resolution"
        )
    return (int(factors[0]), int(factors[1]), int(factors[2]))


def parse_spacing(spacing: Any) -> tuple[float, float, float]:
    """Normalise a voxel size (z, y, x); each value finite and > 0."""
    values = _triple(spacing, "spacing", kind=float)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Expected spacing as numbers (z, y, x), got {spacing!r} instead") from e
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(
            f"Expected a positive, finite voxel size on every axis, got {spacing!r} instead; "
            "give it in one unit for all axes, e.g. spacing=(50, 4, 4)"
        )
    return out  # type: ignore[return-value]


def parse_halo(halo: Any) -> tuple[int, int, int]:
    """Normalise a halo (overlap in voxels) to three non-negative ints."""
    values = _triple(halo, "halo")
    if not all(_is_int(v) for v in values):
        raise TypeError(f"Expected halo as whole numbers of voxels, got {halo!r} instead")
    if any(int(v) < 0 for v in values):
        raise ValueError(f"Expected halo >= 0 on every axis, got {halo!r} instead")
    return (int(values[0]), int(values[1]), int(values[2]))


def parse_chunks(chunks: Any, shape: Sequence[int]) -> tuple[int, int, int]:
    """Normalise a regular chunk shape for a 3D ``shape``; chunks are clipped to the shape.

    ``None`` chooses a default of about 8 MiB of uint8 per chunk (at most 64 x 256 x 256).
    """
    if chunks is None:
        default = (64, 256, 256)
        return tuple(max(1, min(c, s)) for c, s in zip(default, shape))  # type: ignore[return-value]
    values = _triple(chunks, "chunks")
    if not all(_is_int(v) for v in values):
        raise TypeError(f"Expected chunks as whole numbers (z, y, x), got {chunks!r} instead")
    if any(int(v) < 1 for v in values):
        raise ChunkingError(f"Expected chunks >= 1 on every axis, got {chunks!r} instead")
    return tuple(min(int(v), int(s)) if s > 0 else int(v) for v, s in zip(values, shape))  # type: ignore[return-value]


def _parse_range(text: str, axis: str) -> tuple[int | None, int | None]:
    parts = text.strip().split(":")
    if len(parts) != 2:
        raise RoiError(
            f"Expected the {axis} range as 'start:stop', got {text!r} instead; "
            "write the ROI as 'z0:z1,y0:y1,x0:x1' (a side may be empty, e.g. ':,100:300,:')"
        )
    try:
        return tuple(int(p) if p.strip() else None for p in parts)  # type: ignore[return-value]
    except ValueError as e:
        raise RoiError(f"Expected whole numbers in the {axis} range, got {text!r} instead") from e


def parse_roi(roi: Any, shape: Sequence[int]) -> Roi:
    """Normalise a region of interest to three ``slice(start, stop)`` with explicit bounds.

    Accepts ``None`` (whole volume), a string ``"z0:z1,y0:y1,x0:x1"``, a sequence of three
    slices, or three ``(start, stop)`` pairs. Negative indices count from the end as in NumPy.
    A region that is empty or reaches outside ``shape`` raises :class:`~voxelwise.errors.RoiError`.
    """
    shape = tuple(int(s) for s in shape)
    if roi is None:
        return tuple(slice(0, s) for s in shape)  # type: ignore[return-value]
    if isinstance(roi, str):
        pieces = roi.split(",")
        if len(pieces) != 3:
            raise RoiError(
                f"Expected an ROI with three ranges 'z0:z1,y0:y1,x0:x1', got {roi!r} instead"
            )
        pairs = [_parse_range(p, a) for p, a in zip(pieces, _AXES)]
    elif isinstance(roi, Sequence) and len(roi) == 3:
        pairs = []
        for item, axis in zip(roi, _AXES):
            if isinstance(item, slice):
                if item.step not in (None, 1):
                    raise RoiError(
                        f"Expected ROI slices without a step, got {item!r} on {axis}; use bin= to subsample"
                    )
                pairs.append((item.start, item.stop))
            elif isinstance(item, Sequence) and len(item) == 2:
                pairs.append((item[0], item[1]))
            else:
                raise TypeError(
                    f"Expected each ROI axis as a slice or (start, stop), got {item!r} on {axis} instead"
                )
    else:
        raise TypeError(
            f"Expected roi as 'z0:z1,y0:y1,x0:x1', three slices or three (start, stop) pairs, "
            f"got {roi!r} instead"
        )
    out = []
    for (start, stop), size, axis in zip(pairs, shape, _AXES):
        for v in (start, stop):
            if v is not None and not _is_int(v):
                raise TypeError(f"Expected whole-number ROI bounds, got {v!r} on {axis} instead")
        a = 0 if start is None else int(start)
        b = size if stop is None else int(stop)
        a = a + size if a < 0 else a
        b = b + size if b < 0 else b
        if a < 0 or b > size or a >= b:
            raise RoiError(
                f"The ROI {roi_to_str(tuple(slice(*p) for p in pairs))} is empty or outside the "
                f"volume on {axis}: the volume's shape is {shape} (z, y, x), so {axis} must satisfy "
                f"0 <= start < stop <= {size}"
            )
        out.append(slice(a, b))
    return tuple(out)  # type: ignore[return-value]


def roi_to_str(roi: Sequence[slice]) -> str:
    """Format an ROI as ``"z0:z1,y0:y1,x0:x1"``."""

    def f(v: int | None) -> str:
        return "" if v is None else str(v)

    return ",".join(f"{f(s.start)}:{f(s.stop)}" for s in roi)


def as_volume_shape(shape: Sequence[int], *, what: str = "image") -> tuple[int, int, int]:
    """Check that ``shape`` describes a 3D grayscale volume, accepting 2D as one slice.

    Raises :class:`~voxelwise.errors.InvalidVolumeError` for 1D, 4D+ or zero-size data,
    naming ``channel_axis`` for data that looks multichannel (RGB or 4D).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        if len(shape) >= 4 or (len(shape) == 3 and shape[-1] in (3, 4)):
            raise InvalidVolumeError(
                f"Expected a 3D grayscale {what} (z, y, x), got {len(shape)}D data of shape {shape} "
                "instead. It looks multichannel (RGB or several channels): voxelwise volumes have no "
                "channel_axis; pick one channel first (e.g. array[..., 0] or convert the file to "
                "grayscale), or add each channel as its own layer"
            )
        raise InvalidVolumeError(
            f"Expected a 2D or 3D {what}, got {len(shape)}D data of shape {shape} instead"
        )
    if any(s == 0 for s in shape):
        raise InvalidVolumeError(
            f"The {what} has a zero-size dimension: shape {shape} (z, y, x). There is nothing to "
            "read; check the file or the ROI"
        )
    return shape


def parse_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a NumPy Generator from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or _is_int(rng):
        return np.random.default_rng(rng)
    raise TypeError(f"Expected rng as a numpy Generator, an int or None, got {rng!r} instead")
