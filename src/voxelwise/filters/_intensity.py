"""Point operations: gamma, rescale, clip, threshold, invert (no halo).

``in_range=None`` means the image's own (min, max), NaN ignored; on a chunked volume it is
computed once for the whole volume before the chunks are processed (and recorded with the
layer), so every chunk uses the same mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.filters._errors import FilterParameterError
from voxelwise.filters._params import parse_number, parse_positive, parse_range
from voxelwise.filters._spec import FilterSpec, run_array

__all__ = [
    "CLIP",
    "GAMMA",
    "INVERT",
    "RESCALE",
    "THRESHOLD",
    "clip",
    "gamma",
    "invert",
    "rescale",
    "threshold",
]

Halo = tuple[int, int, int]
_NO_HALO: Halo = (0, 0, 0)


def _no_halo(**_: Any) -> Halo:
    return _NO_HALO


def _resolve_range(image: Any, params: dict[str, Any], scheduler: Any) -> dict[str, Any]:
    """Fill ``in_range=None`` with the volume's finite (min, max), one chunked pass."""
    if params.get("in_range") is not None:
        return params
    import dask.array as da

    from voxelwise._compute import compute

    if image.dtype.kind == "f":
        finite = da.where(da.isfinite(image), image, np.nan)
        lo, hi = compute(da.nanmin(finite), da.nanmax(finite), scheduler=scheduler)
    else:
        lo, hi = compute(image.min(), image.max(), scheduler=scheduler)
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise FilterParameterError(
            "The image has no finite values, so in_range cannot be taken from it; pass "
            "in_range=(low, high)"
        )
    if hi == lo:
        hi = lo + 1.0  # a constant image maps to the low end
    return {**params, "in_range": (lo, hi)}


def _normalised(block: np.ndarray, in_range: tuple[float, float]) -> np.ndarray:
    """``(block - low) / (high - low)`` clipped to [0, 1], in float64 (exact at the ends)."""
    lo, hi = in_range
    out = np.asarray(block, dtype=np.float64) - lo
    out /= hi - lo
    return np.clip(out, 0, 1, out=out)


# --- gamma ------------------------------------------------------------------------------------


def gamma(image: Any, gamma: float = 1.0, *, in_range: Any = None) -> np.ndarray:
    """Gamma correction ``((image - low) / (high - low)) ** gamma``, clipped to [0, 1].

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    gamma : float
        Exponent (> 0); below 1 brightens dark regions, above 1 darkens them.
    in_range : (low, high), optional
        Intensities mapped to 0 and 1; default the image's (min, max).

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> gamma(np.array([[0, 64, 128]], np.uint8), 2.0, in_range=(0, 256)).tolist()
    [[0.0, 0.0625, 0.25]]
    """
    return run_array(GAMMA, image, {"gamma": gamma, "in_range": in_range})


def _check_gamma(gamma: Any = 1.0, *, in_range: Any = None) -> dict[str, Any]:
    return {"gamma": parse_positive(gamma, "gamma"), "in_range": parse_range(in_range, "in_range")}


def _gamma_core(
    block: np.ndarray, *, margin: Halo, gamma: float, in_range: tuple[float, float]
) -> np.ndarray:
    out = _normalised(block, in_range)
    return np.power(out, gamma, out=out).astype(np.float32)


# --- rescale ----------------------------------------------------------------------------------


def rescale(image: Any, in_range: Any = None, *, out_range: Any = (0.0, 1.0)) -> np.ndarray:
    """Linear rescaling of ``in_range`` onto ``out_range``, clipped to ``out_range``.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    in_range : (low, high), optional
        Default the image's (min, max).
    out_range : (low, high)
        Target range.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> rescale(np.array([[10, 20, 30]]), (10, 30), out_range=(0, 100)).tolist()
    [[0.0, 50.0, 100.0]]
    """
    return run_array(RESCALE, image, {"in_range": in_range, "out_range": out_range})


def _check_rescale(in_range: Any = None, *, out_range: Any = (0.0, 1.0)) -> dict[str, Any]:
    out = parse_range(out_range, "out_range")
    if out is None:
        raise TypeError("Expected out_range as (low, high), got None instead")
    return {"in_range": parse_range(in_range, "in_range"), "out_range": out}


def _rescale_core(
    block: np.ndarray,
    *,
    margin: Halo,
    in_range: tuple[float, float],
    out_range: tuple[float, float],
) -> np.ndarray:
    out = _normalised(block, in_range)
    out *= out_range[1] - out_range[0]
    out += out_range[0]
    return out.astype(np.float32)


# --- clip -------------------------------------------------------------------------------------


def clip(image: Any, low: float | None = None, *, high: float | None = None) -> np.ndarray:
    """Clip intensities to ``[low, high]`` (either bound may be None, not both).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    low, high : float, optional

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> clip(np.array([[1, 5, 9]]), 2, high=6).tolist()
    [[2.0, 5.0, 6.0]]
    """
    return run_array(CLIP, image, {"low": low, "high": high})


def _check_clip(low: Any = None, *, high: Any = None) -> dict[str, Any]:
    lo = None if low is None else parse_number(low, "low")
    hi = None if high is None else parse_number(high, "high")
    if lo is None and hi is None:
        raise FilterParameterError("clip needs low, high or both; e.g. clip:low=0,high=200")
    if lo is not None and hi is not None and lo > hi:
        raise FilterParameterError(f"Expected low <= high, got low={low!r}, high={high!r}")
    return {"low": lo, "high": hi}


def _clip_core(
    block: np.ndarray, *, margin: Halo, low: float | None, high: float | None
) -> np.ndarray:
    out = np.asarray(block, dtype=np.float32)
    return np.clip(out, low, high).astype(np.float32, copy=False)


# --- threshold --------------------------------------------------------------------------------


def threshold(image: Any, value: float = 0.0) -> np.ndarray:
    """Binary mask ``image > value`` as uint8 (0 or 1).

    Works on intensity and label layers (``labels > 0`` is the foreground).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    value : float
        Voxels strictly above it become 1.

    Returns
    -------
    (Z, Y, X) or (Y, X) uint8 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> threshold(np.array([[0.2, 0.5, 0.7]]), 0.5).tolist()
    [[0, 0, 1]]
    """
    return run_array(THRESHOLD, image, {"value": value})


def _check_threshold(value: Any = 0.0) -> dict[str, Any]:
    return {"value": parse_number(value, "value")}


def above(block: np.ndarray, value: float) -> np.ndarray:
    """``block > value`` compared exactly in the block's own dtype (no float32 rounding)."""
    arr = np.asarray(block)
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        if value < info.min:
            return np.ones(arr.shape, dtype=bool)
        if value >= info.max:
            return np.zeros(arr.shape, dtype=bool)
        return arr > arr.dtype.type(np.floor(value))
    return arr > value


def _threshold_core(block: np.ndarray, *, margin: Halo, value: float) -> np.ndarray:
    return above(block, value).astype(np.uint8)


# --- invert -----------------------------------------------------------------------------------


def invert(image: Any, *, in_range: Any = None) -> np.ndarray:
    """Invert intensities within a range: ``low + high - image``.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    in_range : (low, high), optional
        Default the image's (min, max), so the result covers the same range.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> invert(np.array([[0, 55, 255]], np.uint8), in_range=(0, 255)).tolist()
    [[255.0, 200.0, 0.0]]
    """
    return run_array(INVERT, image, {"in_range": in_range})


def _check_invert(*, in_range: Any = None) -> dict[str, Any]:
    return {"in_range": parse_range(in_range, "in_range")}


def _invert_core(block: np.ndarray, *, margin: Halo, in_range: tuple[float, float]) -> np.ndarray:
    out = np.asarray(block, dtype=np.float32) * np.float32(-1)
    out += np.float32(in_range[0] + in_range[1])
    return out


GAMMA = FilterSpec(
    "gamma", gamma, _check_gamma, _no_halo, _gamma_core, resolve=_resolve_range,
    summary="gamma correction to [0, 1]",
)  # fmt: skip
RESCALE = FilterSpec(
    "rescale", rescale, _check_rescale, _no_halo, _rescale_core, resolve=_resolve_range,
    summary="linear rescaling of in_range onto out_range",
)  # fmt: skip
CLIP = FilterSpec("clip", clip, _check_clip, _no_halo, _clip_core, summary="clip to [low, high]")
THRESHOLD = FilterSpec(
    "threshold", threshold, _check_threshold, _no_halo, _threshold_core,
    accepts=frozenset({"image", "labels"}), dtype="uint8", summary="binary mask image > value",
)  # fmt: skip
INVERT = FilterSpec(
    "invert", invert, _check_invert, _no_halo, _invert_core, resolve=_resolve_range,
    summary="invert intensities: low + high - image",
)  # fmt: skip
