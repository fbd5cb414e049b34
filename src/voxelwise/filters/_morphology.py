"""Binary morphology and the distance transform of a thresholded layer.

The input is thresholded first (``image > threshold``; for a label layer the default
``threshold=0`` selects every labelled voxel). Radii and distances are in voxels of the finest
axis (the spacing rule of :mod:`voxelwise.filters`), so with ``spacing`` the structuring
element is a ball in physical space. Dilation and erosion are computed through exact Euclidean
distance transforms, so their cost does not grow with the radius.

Borders are handled by symmetric reflection, like every filter here: the volume's faces are
neither eroded nor grown from outside.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from voxelwise.filters._derivs import crop_margin
from voxelwise.filters._intensity import above
from voxelwise.filters._params import (
    Spacing,
    axis_lengths,
    axis_scale,
    parse_number,
    parse_positive,
    parse_spacing_opt,
)
from voxelwise.filters._spec import FilterSpec, run_array

__all__ = [
    "CLOSING",
    "DILATION",
    "DISTANCE_TRANSFORM",
    "EROSION",
    "OPENING",
    "closing",
    "dilation",
    "distance_transform",
    "erosion",
    "opening",
]

Halo = tuple[int, int, int]
_EPS = 1e-7
_MASK_KINDS = frozenset({"image", "labels"})


def _sampling(spacing: Spacing) -> tuple[float, float, float]:
    """Voxel size in units of the finest axis."""
    return tuple(1.0 / f for f in axis_scale(spacing))  # type: ignore[return-value]


def _reach(radius: float, spacing: Spacing) -> Halo:
    return tuple(math.floor(r + _EPS) for r in axis_lengths(radius, spacing))  # type: ignore[return-value]


def _distance_to(mask: np.ndarray, spacing: Spacing) -> np.ndarray:
    """Distance from every voxel to the nearest True voxel of ``mask`` (inf if there is none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return np.asarray(ndi.distance_transform_edt(~mask, sampling=_sampling(spacing)))


def _dilate(mask: np.ndarray, radius: float, spacing: Spacing) -> np.ndarray:
    return np.asarray(_distance_to(mask, spacing) <= radius + _EPS)


def _erode(mask: np.ndarray, radius: float, spacing: Spacing) -> np.ndarray:
    return ~_dilate(~mask, radius, spacing)


def _check_morph(radius: Any = 1.0, *, threshold: Any = 0.0, spacing: Any = None) -> dict[str, Any]:
    return {
        "radius": parse_positive(radius, "radius", hint="radius is in voxels of the finest axis"),
        "threshold": parse_number(threshold, "threshold"),
        "spacing": parse_spacing_opt(spacing),
    }


def _morph_halo(times: int) -> Any:
    def halo(*, radius: float, spacing: Spacing, **_: Any) -> Halo:
        return tuple(times * r for r in _reach(radius, spacing))  # type: ignore[return-value]

    return halo


def _morph_core(steps: str) -> Any:
    ops = {"d": _dilate, "e": _erode}

    def core(
        block: np.ndarray, *, margin: Halo, radius: float, threshold: float, spacing: Spacing
    ) -> np.ndarray:
        mask = above(block, threshold)
        for step in steps:
            mask = ops[step](mask, radius, spacing)
        return np.asarray(crop_margin(mask, margin, (0, 0, 0)), dtype=np.uint8)

    core.__name__ = f"_morph_{steps}_core"
    return core


def dilation(
    image: Any, radius: float = 1.0, *, threshold: float = 0.0, spacing: Any = None
) -> np.ndarray:
    """Binary dilation of ``image > threshold`` by a ball of ``radius``.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
        Intensities or labels.
    radius : float
        Ball radius in voxels of the finest axis (> 0).
    threshold : float
        Foreground is ``image > threshold``.
    spacing : (z, y, x) floats, optional

    Returns
    -------
    (Z, Y, X) or (Y, X) uint8 ndarray of 0 and 1

    Examples
    --------
    >>> import numpy as np
    >>> dot = np.zeros((5, 5, 5), np.uint8); dot[2, 2, 2] = 1
    >>> int(dilation(dot, 1.0).sum())  # the centre and its 6 face neighbours
    7
    """
    return run_array(
        DILATION, image, {"radius": radius, "threshold": threshold, "spacing": spacing}
    )


def erosion(
    image: Any, radius: float = 1.0, *, threshold: float = 0.0, spacing: Any = None
) -> np.ndarray:
    """Binary erosion of ``image > threshold`` by a ball of ``radius``.

    Parameters and returns as for :func:`dilation`.

    Examples
    --------
    >>> import numpy as np
    >>> cube = np.zeros((7, 7, 7), np.uint8); cube[1:6, 1:6, 1:6] = 1
    >>> int(erosion(cube, 1.0).sum())  # the 3x3x3 core
    27
    """
    return run_array(EROSION, image, {"radius": radius, "threshold": threshold, "spacing": spacing})


def opening(
    image: Any, radius: float = 1.0, *, threshold: float = 0.0, spacing: Any = None
) -> np.ndarray:
    """Binary opening (erosion, then dilation) of ``image > threshold``: removes specks.

    Parameters and returns as for :func:`dilation`.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((9, 9, 9), np.uint8); mask[1:8, 1:8, 1:8] = 1; mask[0, 0, 0] = 1
    >>> out = opening(mask, 1.0)
    >>> int(out[0, 0, 0]), int(out[4, 4, 4])
    (0, 1)
    """
    return run_array(OPENING, image, {"radius": radius, "threshold": threshold, "spacing": spacing})


def closing(
    image: Any, radius: float = 1.0, *, threshold: float = 0.0, spacing: Any = None
) -> np.ndarray:
    """Binary closing (dilation, then erosion) of ``image > threshold``: fills small holes.

    Parameters and returns as for :func:`dilation`.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.ones((7, 7, 7), np.uint8); mask[3, 3, 3] = 0
    >>> int(closing(mask, 1.0)[3, 3, 3])
    1
    """
    return run_array(CLOSING, image, {"radius": radius, "threshold": threshold, "spacing": spacing})


# --- distance transform -----------------------------------------------------------------------


def distance_transform(
    image: Any, threshold: float = 0.0, *, max_distance: float = 20.0, spacing: Any = None
) -> np.ndarray:
    """Euclidean distance from each foreground voxel (``image > threshold``) to the background.

    Distances are in voxels of the finest axis (multiply by ``min(spacing)`` for physical
    units) and capped at ``max_distance``, which makes the transform local (its halo) and so
    computable chunk by chunk; background voxels are 0.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
        Intensities or labels.
    threshold : float
        Foreground is ``image > threshold``.
    max_distance : float
        Cap of the distance (> 0), in voxels of the finest axis.
    spacing : (z, y, x) floats, optional

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> zz, yy, xx = np.mgrid[:21, :21, :21] - 10
    >>> ball = (zz**2 + yy**2 + xx**2) < 36  # radius 6
    >>> float(distance_transform(ball)[10, 10, 10])
    6.0
    """
    params = {"threshold": threshold, "max_distance": max_distance, "spacing": spacing}
    return run_array(DISTANCE_TRANSFORM, image, params)


def _check_distance(
    threshold: Any = 0.0, *, max_distance: Any = 20.0, spacing: Any = None
) -> dict[str, Any]:
    return {
        "threshold": parse_number(threshold, "threshold"),
        "max_distance": parse_positive(max_distance, "max_distance"),
        "spacing": parse_spacing_opt(spacing),
    }


def _distance_halo(*, max_distance: float, spacing: Spacing, **_: Any) -> Halo:
    return _reach(max_distance, spacing)


def _distance_core(
    block: np.ndarray, *, margin: Halo, threshold: float, max_distance: float, spacing: Spacing
) -> np.ndarray:
    mask = above(block, threshold)
    dist = _distance_to(~mask, spacing)
    np.minimum(dist, max_distance, out=dist)
    return np.asarray(crop_margin(dist, margin, (0, 0, 0)), dtype=np.float32)


def _spec(name: str, func: Any, steps: str, summary: str) -> FilterSpec:
    return FilterSpec(
        name,
        func,
        _check_morph,
        _morph_halo(len(steps)),
        _morph_core(steps),
        accepts=_MASK_KINDS,
        dtype="uint8",
        summary=summary,
    )


DILATION = _spec("dilation", dilation, "d", "binary dilation of image > threshold")
EROSION = _spec("erosion", erosion, "e", "binary erosion of image > threshold")
OPENING = _spec("opening", opening, "ed", "binary opening of image > threshold")
CLOSING = _spec("closing", closing, "de", "binary closing of image > threshold")
DISTANCE_TRANSFORM = FilterSpec(
    "distance_transform",
    distance_transform,
    _check_distance,
    _distance_halo,
    _distance_core,
    accepts=_MASK_KINDS,
    summary="distance to the background of image > threshold, capped",
)
