"""Frangi vesselness (multiscale Hessian tubularity), exactly local and spacing-aware."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelwise.filters._derivs import GaussianStack, derivative_radius, eigvalsh3
from voxelwise.filters._errors import FilterParameterError
from voxelwise.filters._params import (
    Spacing,
    axis_lengths,
    parse_bool,
    parse_positive,
    parse_sigma,
    parse_spacing_opt,
    parse_truncate,
)
from voxelwise.filters._spec import FilterSpec, embed_core, run_array

__all__ = ["FRANGI", "frangi"]

Halo = tuple[int, int, int]


def frangi(
    image: Any,
    sigmas: Any = (1.0, 2.0, 3.0),
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float | None = None,
    black_ridges: bool = True,
    spacing: Any = None,
    truncate: float = 4.0,
) -> np.ndarray:
    """Frangi vesselness: how tube-like the image is, the maximum over ``sigmas``.

    At each scale the eigenvalues of the scale-normalised Hessian ``sigma**2 * H``, sorted by
    magnitude ``|l1| <= |l2| <= |l3|``, give the plate/line ratio ``Ra = |l2| / |l3|``, the
    blob ratio ``Rb = |l1| / sqrt(|l2 l3|)`` and the structure ``S = sqrt(l1**2 + l2**2 +
    l3**2)``; the response is ``(1 - exp(-Ra**2 / 2 alpha**2)) * exp(-Rb**2 / 2 beta**2) *
    (1 - exp(-S**2 / 2 gamma**2))``, and 0 where the tube has the wrong polarity (Frangi et al.
    1998, as in :func:`skimage.filters.frangi`).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigmas : float or sequence of float
        Scales in voxels of the finest axis (each > 0), about the tube radii to detect.
    alpha : float
        Sensitivity to plate-likeness (> 0).
    beta : float
        Sensitivity to blob-likeness (> 0).
    gamma : float, optional
        Sensitivity to structure, in intensity units of the normalised Hessian (> 0). Default:
        half the largest ``S`` over the whole volume and all scales (one extra pass on chunked
        volumes, so every chunk uses the same value).
    black_ridges : bool
        Detect dark tubes on a bright background (True, as skimage) or bright tubes (False).
    spacing : (z, y, x) floats, optional
    truncate : float
        Gaussian kernel radius in standard deviations.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> zz, yy, xx = np.mgrid[:9, :21, :21]
    >>> tube = np.exp(-((yy - 10.0) ** 2 + (xx - 10) ** 2) / 4)  # bright, along z
    >>> out = frangi(tube, (1.0, 2.0), black_ridges=False)
    >>> bool(out[4, 10, 10] > 0.5 > out[4, 2, 2])
    True
    """
    params = {
        "sigmas": sigmas,
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "black_ridges": black_ridges,
        "spacing": spacing,
        "truncate": truncate,
    }
    return run_array(FRANGI, image, params)


def _check(
    sigmas: Any = (1.0, 2.0, 3.0),
    *,
    alpha: Any = 0.5,
    beta: Any = 0.5,
    gamma: Any = None,
    black_ridges: Any = True,
    spacing: Any = None,
    truncate: Any = 4.0,
) -> dict[str, Any]:
    if isinstance(sigmas, Sequence | np.ndarray) and not isinstance(sigmas, str):
        if len(sigmas) == 0:
            raise FilterParameterError("Expected at least one sigma, got an empty list")
        scales = tuple(parse_sigma(s, "sigmas") for s in sigmas)
    else:
        scales = (parse_sigma(sigmas, "sigmas"),)
    return {
        "sigmas": scales,
        "alpha": parse_positive(alpha, "alpha"),
        "beta": parse_positive(beta, "beta"),
        "gamma": None if gamma is None else parse_positive(gamma, "gamma"),
        "black_ridges": parse_bool(black_ridges, "black_ridges"),
        "spacing": parse_spacing_opt(spacing),
        "truncate": parse_truncate(truncate),
    }


def _halo(*, sigmas: tuple[float, ...], spacing: Spacing, truncate: float, **_: Any) -> Halo:
    per_scale = [
        [derivative_radius(s, truncate, 2) for s in axis_lengths(sigma, spacing)]
        for sigma in sigmas
    ]
    return tuple(max(r[a] for r in per_scale) for a in range(3))  # type: ignore[return-value]


def _eigenvalues(stack: GaussianStack, sigma: float) -> np.ndarray:
    """Eigenvalues of ``sigma**2 * H``, decreasing, (3, Z, Y, X)."""
    ev = eigvalsh3(*stack.hessian(sigma))
    ev *= np.float32(sigma**2)
    return ev


def _vesselness(
    ev: np.ndarray, *, alpha: float, beta: float, gamma: float, black_ridges: bool
) -> np.ndarray:
    if not black_ridges:  # the Hessian of -image: negate and keep the order decreasing
        ev = -ev[::-1]
    order = np.argsort(np.abs(ev), axis=0)
    ev = np.take_along_axis(ev, order, axis=0)
    l1 = ev[0]
    l2 = np.maximum(ev[1], np.float32(1e-10))
    l3 = np.maximum(ev[2], np.float32(1e-10))
    f32 = np.float32
    ra2 = (l2 / l3) ** 2
    rb2 = l1**2 / (l2 * l3)
    s2 = (ev**2).sum(axis=0)
    out = f32(1) - np.exp(-ra2 / f32(2 * alpha**2))
    out *= np.exp(-rb2 / f32(2 * beta**2))
    out *= f32(1) - np.exp(-s2 / f32(2 * gamma**2))
    out[(ev[1] < 0) | (ev[2] < 0)] = 0  # wrong polarity (Frangi et al., eq. 13)
    return out.astype(np.float32, copy=False)


def _core(
    block: np.ndarray,
    *,
    margin: Halo,
    sigmas: tuple[float, ...],
    alpha: float,
    beta: float,
    gamma: float,
    black_ridges: bool,
    spacing: Spacing,
    truncate: float,
) -> np.ndarray:
    stack = GaussianStack(block, margin, spacing=spacing, truncate=truncate)
    out: np.ndarray | None = None
    for sigma in sigmas:
        ev = _eigenvalues(stack, sigma)
        stack.forget(keep_smoothed=False)
        vals = _vesselness(ev, alpha=alpha, beta=beta, gamma=gamma, black_ridges=black_ridges)
        out = vals if out is None else np.maximum(out, vals, out=out)
    assert out is not None
    return out


def _structure_core(
    block: np.ndarray,
    *,
    margin: Halo,
    sigmas: tuple[float, ...],
    spacing: Spacing,
    truncate: float,
) -> np.ndarray:
    """Largest ``S`` over the scales at every voxel (for the default ``gamma``)."""
    stack = GaussianStack(block, margin, spacing=spacing, truncate=truncate)
    out: np.ndarray | None = None
    for sigma in sigmas:
        s = np.sqrt((_eigenvalues(stack, sigma) ** 2).sum(axis=0))
        stack.forget(keep_smoothed=False)
        out = s if out is None else np.maximum(out, s, out=out)
    assert out is not None
    return out


def _resolve(image: Any, params: dict[str, Any], scheduler: Any) -> dict[str, Any]:
    if params["gamma"] is not None:
        return params
    from voxelwise._compute import compute
    from voxelwise.blockwise import map_chunks

    kw = {k: params[k] for k in ("sigmas", "spacing", "truncate")}
    halo = _halo(**kw)
    structure = map_chunks(
        embed_core(_structure_core), image, halo=halo, dtype=np.float32, margin=halo, **kw
    )
    (peak,) = compute(structure.max(), scheduler=scheduler)
    gamma = float(peak) / 2
    return {**params, "gamma": gamma if gamma > 0 else 1.0}


FRANGI = FilterSpec(
    "frangi",
    frangi,
    _check,
    _halo,
    _core,
    resolve=_resolve,
    summary="Frangi vesselness (multiscale Hessian tubularity)",
)
