"""Parameter parsing shared by the filters, the spacing rule, and halo arithmetic.

The one spacing rule of :mod:`voxelwise.filters`: lengths (``sigma``, radii, distances) are in
voxels of the *finest* axis. With ``spacing=(sz, sy, sx)`` each axis gets the length scaled by
``min(spacing) / spacing[axis]``, so on anisotropic data (thick z sections) the z axis gets a
proportionally smaller sigma, in voxels, than y and x; the footprint is isotropic in physical space.
``spacing=None`` treats the voxels as cubes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelwise._validate import as_volume_shape, parse_spacing
from voxelwise.filters._errors import FilterParameterError

__all__ = [
    "Spacing",
    "as_image",
    "axis_lengths",
    "axis_scale",
    "gauss_radius",
    "gaussian_halo",
    "parse_bool",
    "parse_choice",
    "parse_count",
    "parse_number",
    "parse_positive",
    "parse_range",
    "parse_sigma",
    "parse_spacing_opt",
    "parse_truncate",
]

Spacing = tuple[float, float, float] | None


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def parse_number(value: Any, name: str) -> float:
    """A finite real number (ints and NumPy scalars accepted)."""
    if not _is_number(value):
        raise TypeError(f"Expected {name} as a number, got {value!r} instead")
    out = float(value)
    if not math.isfinite(out):
        raise FilterParameterError(
            f"Expected a finite {name}, got {value!r} instead; give a real number"
        )
    return out


def parse_positive(value: Any, name: str, *, hint: str = "") -> float:
    """A finite number > 0."""
    out = parse_number(value, name)
    if out <= 0:
        raise FilterParameterError(
            f"Expected {name} > 0, got {value!r} instead" + (f"; {hint}" if hint else "")
        )
    return out


def parse_sigma(sigma: Any, name: str = "sigma") -> float:
    """A Gaussian scale: one finite number > 0, in voxels of the finest axis."""
    if isinstance(sigma, Sequence | np.ndarray) and not isinstance(sigma, str):
        raise TypeError(
            f"Expected {name} as one number (voxels of the finest axis), got {sigma!r} instead; "
            "pass spacing=(z, y, x) for anisotropic data instead of one sigma per axis"
        )
    return parse_positive(sigma, name, hint="use e.g. sigma=1.0 (in voxels of the finest axis)")


def parse_truncate(truncate: Any) -> float:
    """The Gaussian kernel radius in standard deviations (> 0)."""
    return parse_positive(truncate, "truncate", hint="the default 4.0 keeps 99.99% of the kernel")


def parse_count(value: Any, name: str, *, minimum: int = 1) -> int:
    """A whole number >= ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"Expected {name} as a whole number, got {value!r} instead")
    if int(value) < minimum:
        raise FilterParameterError(f"Expected {name} >= {minimum}, got {value!r} instead")
    return int(value)


def parse_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"Expected {name} as True or False, got {value!r} instead")
    return bool(value)


def parse_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise FilterParameterError(
            f"Expected {name} as one of {', '.join(map(repr, choices))}, got {value!r} instead"
        )
    return str(value)


def parse_range(value: Any, name: str) -> tuple[float, float] | None:
    """``None`` or a pair ``(low, high)`` of finite numbers with ``low < high``."""
    if value is None:
        return None
    if not isinstance(value, Sequence | np.ndarray) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"Expected {name} as (low, high) or None, got {value!r} instead")
    lo, hi = parse_number(value[0], f"{name}[0]"), parse_number(value[1], f"{name}[1]")
    if not lo < hi:
        raise FilterParameterError(
            f"Expected {name} = (low, high) with low < high, got {value!r} instead"
        )
    return (lo, hi)


def parse_spacing_opt(spacing: Any) -> Spacing:
    """``None`` (cubic voxels) or a voxel size (z, y, x), each finite and > 0.

    Two values (y, x) are accepted for 2D images; z then gets the larger of the two (a single
    slice is never filtered across z anyway).
    """
    if spacing is None:
        return None
    if (
        isinstance(spacing, Sequence | np.ndarray)
        and not isinstance(spacing, str)
        and len(spacing) == 2
    ):
        spacing = (max(spacing[0], spacing[1]), spacing[0], spacing[1])
    try:
        return parse_spacing(spacing)
    except TypeError:
        raise
    except ValueError as e:
        raise FilterParameterError(str(e)) from e


def axis_scale(spacing: Spacing) -> tuple[float, float, float]:
    """Per-axis factor ``min(spacing) / spacing[axis]`` (all 1 for ``spacing=None``)."""
    if spacing is None:
        return (1.0, 1.0, 1.0)
    smin = min(spacing)
    return (smin / spacing[0], smin / spacing[1], smin / spacing[2])


def axis_lengths(length: float, spacing: Spacing) -> tuple[float, float, float]:
    """A length in voxels of the finest axis, as voxels along (z, y, x)."""
    fz, fy, fx = axis_scale(spacing)
    return (length * fz, length * fy, length * fx)


def gauss_radius(sigma_axis: float, truncate: float) -> int:
    """The kernel radius scipy.ndimage uses for one axis: ``int(truncate * sigma + 0.5)``."""
    return int(truncate * sigma_axis + 0.5)


def gaussian_halo(sigma: float, spacing: Spacing, truncate: float) -> tuple[int, int, int]:
    """Voxels of context a (derivative of) Gaussian at ``sigma`` needs on each side, per axis."""
    sz, sy, sx = axis_lengths(sigma, spacing)
    return (gauss_radius(sz, truncate), gauss_radius(sy, truncate), gauss_radius(sx, truncate))


def as_image(image: Any, *, what: str = "image") -> tuple[np.ndarray, bool]:
    """Check an in-memory 2D or 3D image; return it as 3D and whether it was 2D.

    Dask arrays are refused with a pointer to :func:`voxelwise.filters.apply_filter`, so a large
    volume is never loaded whole by accident.
    """
    if type(image).__module__.startswith("dask"):
        raise TypeError(
            f"The {what} is a dask array; the array functions work in memory. Use "
            "voxelwise.filters.apply_filter(image, name, ...) to filter it lazily, chunk by chunk"
        )
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Expected a real-valued {what} (bool, integer or float), got dtype {arr.dtype} instead"
        )
    shape = as_volume_shape(arr.shape, what=what)
    return arr.reshape(shape), arr.ndim == 2
