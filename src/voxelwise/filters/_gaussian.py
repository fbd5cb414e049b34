"""Gaussian smoothing and its derivatives: Gaussian, DoG, LoG, gradient magnitude.

Every Gaussian-family filter (these, and the texture filters of :mod:`._texture`) is computed
from a :class:`~voxelwise.filters._derivs.GaussianStack` by a *bank function*
``bank(stack, **params) -> [outputs]``, so a bank of them on one chunk shares the smoothing
passes (:mod:`voxelwise.filters._bank`). Sigmas follow the spacing rule of
:mod:`voxelwise.filters._params`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from voxelwise.filters._derivs import GaussianStack, derivative_radius
from voxelwise.filters._errors import FilterParameterError
from voxelwise.filters._params import (
    Spacing,
    axis_lengths,
    parse_positive,
    parse_sigma,
    parse_spacing_opt,
    parse_truncate,
)
from voxelwise.filters._spec import FilterSpec, run_array

__all__ = [
    "BANKS",
    "DIFFERENCE_OF_GAUSSIANS",
    "GAUSSIAN",
    "GRADIENT_MAGNITUDE",
    "LAPLACIAN_OF_GAUSSIAN",
    "Member",
    "check_gaussian",
    "difference_of_gaussians",
    "evaluate",
    "gaussian",
    "gaussian_halo",
    "gradient_magnitude",
    "laplacian_of_gaussian",
    "make_core",
    "radii",
]

Halo = tuple[int, int, int]


def radii(sigma: float, spacing: Spacing, truncate: float, order: int) -> Halo:
    """Kernel radius per axis of a Gaussian derivative of ``order`` at ``sigma``."""
    return tuple(derivative_radius(s, truncate, order) for s in axis_lengths(sigma, spacing))  # type: ignore[return-value]


def check_gaussian(sigma: Any = 1.0, *, spacing: Any = None, truncate: Any = 4.0) -> dict[str, Any]:
    """Validate the parameters every Gaussian-family filter shares."""
    return {
        "sigma": parse_sigma(sigma),
        "spacing": parse_spacing_opt(spacing),
        "truncate": parse_truncate(truncate),
    }


def gaussian_halo(order: int, times: int = 1) -> Callable[..., Halo]:
    """A halo function: ``times`` the kernel radius of a derivative of ``order``."""

    def halo(*, sigma: float, spacing: Spacing, truncate: float, **_: Any) -> Halo:
        return tuple(times * r for r in radii(sigma, spacing, truncate, order))  # type: ignore[return-value]

    return halo


#: ``(bank, params, n_outputs, slab_safe)``: a bank function ``bank(stack, **params) ->
#: [outputs]``, its parameters, its number of outputs and whether it can run slab by slab.
Member = tuple[Callable[..., list[np.ndarray]], dict[str, Any], int, bool]
_SLAB_VOXELS = 1 << 20


def evaluate(stack: GaussianStack, members: Sequence[Member], out: np.ndarray) -> None:
    """Evaluate bank functions on ``stack`` into ``out`` ((C, Z, Y, X), the core region).

    ``members`` are :data:`Member` tuples. Slab-safe banks (no context needed along z beyond
    their own kernels) run slab by slab (z passes shared, y and x passes per slab of about
    2**20 voxels), which keeps temporaries small; the others run on the whole block.
    """
    start = 0
    slabbed: list[tuple[int, Callable[..., list[np.ndarray]], dict[str, Any]]] = []
    whole: list[tuple[int, Callable[..., list[np.ndarray]], dict[str, Any]]] = []
    for bank, params, n, slab_safe in members:
        (slabbed if slab_safe else whole).append((start, bank, params))
        start += n
    if slabbed:
        depth = stack.core_shape[0]
        rows = max(1, _SLAB_VOXELS // math.prod(stack.block.shape[1:]))
        for z0 in range(0, depth, rows):
            z1 = min(depth, z0 + rows)
            sub = stack.slab(z0, z1)
            for first, bank, params in slabbed:
                for k, value in enumerate(bank(sub, **params)):
                    out[first + k, z0:z1] = value
    for first, bank, params in whole:
        for k, value in enumerate(bank(stack, **params)):
            out[first + k] = value
        stack.forget()


def make_core(
    bank: Callable[..., list[np.ndarray]], n: int = 1, *, slab_safe: bool = True
) -> Callable[..., np.ndarray]:
    """A chunk core from a bank function ``bank(stack, **params) -> [outputs]``."""

    def core(block: np.ndarray, *, margin: Halo, **params: Any) -> np.ndarray:
        stack = GaussianStack(block, margin, spacing=params["spacing"], truncate=params["truncate"])
        out = np.empty((n, *stack.core_shape), dtype=np.float32)
        evaluate(stack, [(bank, params, n, slab_safe)], out)
        return out[0] if n == 1 else out

    core.__name__ = bank.__name__.replace("_bank", "_core")
    return core


# --- smoothing --------------------------------------------------------------------------------


def gaussian(
    image: Any, sigma: float = 1.0, *, spacing: Any = None, truncate: float = 4.0
) -> np.ndarray:
    """Gaussian smoothing.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
        Any real dtype; computed in float32.
    sigma : float
        Standard deviation in voxels of the finest axis (> 0). With ``spacing`` each axis gets
        ``sigma * min(spacing) / spacing[axis]`` voxels.
    spacing : (z, y, x) floats, optional
        Voxel size; ``None`` treats voxels as cubes.
    truncate : float
        Kernel radius in standard deviations.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray
        Borders are handled by symmetric reflection (scipy's ``mode='reflect'``).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((9, 9, 9), np.float32); image[4, 4, 4] = 1
    >>> out = gaussian(image, 1.0)
    >>> round(float(out.sum()), 5)
    1.0
    """
    return run_array(GAUSSIAN, image, {"sigma": sigma, "spacing": spacing, "truncate": truncate})


def _gaussian_bank(stack: GaussianStack, *, sigma: float, **_: Any) -> list[np.ndarray]:
    return [stack.smoothed(sigma)]


def difference_of_gaussians(
    image: Any,
    sigma: float = 1.0,
    *,
    ratio: float = 1.6,
    spacing: Any = None,
    truncate: float = 4.0,
) -> np.ndarray:
    """Difference of Gaussians ``G(sigma) * image - G(ratio * sigma) * image`` (band-pass).

    Positive at the centre of a bright blob of radius about ``sigma * sqrt(3)``.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma : float
        The smaller standard deviation (voxels of the finest axis, > 0).
    ratio : float
        The larger sigma is ``ratio * sigma``; ``ratio > 1``.
    spacing, truncate
        As for :func:`gaussian`.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> zz, yy, xx = np.mgrid[:15, :15, :15]
    >>> blob = np.exp(-((zz - 7.0) ** 2 + (yy - 7) ** 2 + (xx - 7) ** 2) / 8)
    >>> bool(difference_of_gaussians(blob, 1.0)[7, 7, 7] > 0)
    True
    """
    params = {"sigma": sigma, "ratio": ratio, "spacing": spacing, "truncate": truncate}
    return run_array(DIFFERENCE_OF_GAUSSIANS, image, params)


def _check_dog(sigma: Any = 1.0, *, ratio: Any = 1.6, **kw: Any) -> dict[str, Any]:
    out = check_gaussian(sigma, **kw)
    out["ratio"] = parse_positive(ratio, "ratio")
    if out["ratio"] <= 1:
        raise FilterParameterError(
            f"Expected ratio > 1 (the second Gaussian is the wider one), got {ratio!r} instead; "
            "to get G(k*sigma) - G(sigma) negate the result"
        )
    return out


def _dog_halo(*, sigma: float, ratio: float, spacing: Spacing, truncate: float, **_: Any) -> Halo:
    return radii(sigma * ratio, spacing, truncate, 0)


def _dog_bank(stack: GaussianStack, *, sigma: float, ratio: float, **_: Any) -> list[np.ndarray]:
    return [np.subtract(stack.smoothed(sigma), stack.smoothed(sigma * ratio))]


# --- derivatives ------------------------------------------------------------------------------


def laplacian_of_gaussian(
    image: Any, sigma: float = 1.0, *, spacing: Any = None, truncate: float = 4.0
) -> np.ndarray:
    """Laplacian of Gaussian ``d2/dz2 + d2/dy2 + d2/dx2`` of the smoothed image.

    Negative at the centre of a bright blob. Not scale-normalised (multiply by ``sigma**2`` to
    compare scales). Derivatives are per voxel of the finest axis (physical length divided by
    ``min(spacing)``).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma, spacing, truncate
        As for :func:`gaussian`.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> zz, yy, xx = np.mgrid[:15, :15, :15]
    >>> blob = np.exp(-((zz - 7.0) ** 2 + (yy - 7) ** 2 + (xx - 7) ** 2) / 8)
    >>> bool(laplacian_of_gaussian(blob, 1.0)[7, 7, 7] < 0)
    True
    """
    params = {"sigma": sigma, "spacing": spacing, "truncate": truncate}
    return run_array(LAPLACIAN_OF_GAUSSIAN, image, params)


def _log_bank(stack: GaussianStack, *, sigma: float, **_: Any) -> list[np.ndarray]:
    zz, yy, xx = (stack.derivative(sigma, o) for o in ((2, 0, 0), (0, 2, 0), (0, 0, 2)))
    out = np.add(zz, yy)
    out += xx
    return [out]


def gradient_magnitude(
    image: Any, sigma: float = 1.0, *, spacing: Any = None, truncate: float = 4.0
) -> np.ndarray:
    """Gaussian gradient magnitude ``sqrt(Iz**2 + Iy**2 + Ix**2)`` of the smoothed image.

    Derivatives are per voxel of the finest axis (physical length divided by ``min(spacing)``)
    and exact on linear ramps: a ramp of slope ``a`` (intensity per such voxel) gives ``a``.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma, spacing, truncate
        As for :func:`gaussian`.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.broadcast_to(2.0 * np.arange(12), (6, 10, 12))
    >>> round(float(gradient_magnitude(ramp, 1.0)[3, 5, 6]), 4)
    2.0
    """
    params = {"sigma": sigma, "spacing": spacing, "truncate": truncate}
    return run_array(GRADIENT_MAGNITUDE, image, params)


def _gradmag_bank(stack: GaussianStack, *, sigma: float, **_: Any) -> list[np.ndarray]:
    gz, gy, gx = stack.gradient(sigma)
    out = np.square(gz)
    out += np.square(gy)
    out += np.square(gx)
    return [np.sqrt(out, out=out)]


# --- registry entries -------------------------------------------------------------------------

GAUSSIAN = FilterSpec(
    "gaussian",
    gaussian,
    check_gaussian,
    gaussian_halo(0),
    make_core(_gaussian_bank),
    summary="Gaussian smoothing",
)
DIFFERENCE_OF_GAUSSIANS = FilterSpec(
    "difference_of_gaussians",
    difference_of_gaussians,
    _check_dog,
    _dog_halo,
    make_core(_dog_bank),
    short="dog",
    summary="difference of Gaussians G(sigma) - G(ratio*sigma)",
)
LAPLACIAN_OF_GAUSSIAN = FilterSpec(
    "laplacian_of_gaussian",
    laplacian_of_gaussian,
    check_gaussian,
    gaussian_halo(2),
    make_core(_log_bank),
    short="log",
    summary="Laplacian of Gaussian",
)
GRADIENT_MAGNITUDE = FilterSpec(
    "gradient_magnitude",
    gradient_magnitude,
    check_gaussian,
    gaussian_halo(1),
    make_core(_gradmag_bank),
    short="gradmag",
    summary="Gaussian gradient magnitude",
)

#: Bank functions of this module: filter name to ``(bank, slab_safe)``.
BANKS: dict[str, tuple[Callable[..., list[np.ndarray]], bool]] = {
    "gaussian": (_gaussian_bank, True),
    "difference_of_gaussians": (_dog_bank, True),
    "laplacian_of_gaussian": (_log_bank, True),
    "gradient_magnitude": (_gradmag_bank, True),
}
