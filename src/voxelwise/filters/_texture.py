"""Texture filters of the Gaussian family: Hessian and structure-tensor eigenvalues, and local
centring and normalisation (see :mod:`._gaussian` for the shared machinery)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from voxelwise.filters._derivs import GaussianStack, crop_margin, eigvalsh3
from voxelwise.filters._gaussian import check_gaussian, gaussian_halo, make_core, radii
from voxelwise.filters._params import Spacing, parse_positive, parse_sigma
from voxelwise.filters._spec import FilterSpec, run_array

__all__ = [
    "BANKS",
    "HESSIAN_EIGENVALUES",
    "LOCAL_CENTER",
    "LOCAL_NORMALIZE",
    "STRUCTURE_TENSOR_EIGENVALUES",
    "hessian_eigenvalues",
    "local_center",
    "local_normalize",
    "structure_tensor_eigenvalues",
]

Halo = tuple[int, int, int]
EIG_OUTPUTS = ("eig1", "eig2", "eig3")


def hessian_eigenvalues(
    image: Any, sigma: float = 1.0, *, spacing: Any = None, truncate: float = 4.0
) -> np.ndarray:
    """Eigenvalues of the Hessian of the Gaussian-smoothed image, sorted ``eig1 >= eig2 >= eig3``.

    A bright line gives ``eig1 ~ 0`` and two negative eigenvalues; a bright plate one negative
    eigenvalue; a bright blob three negative ones.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma, spacing, truncate
        As for :func:`~voxelwise.filters.gaussian`.

    Returns
    -------
    (3, Z, Y, X) or (3, Y, X) float32 ndarray
        ``out[0]`` is the largest eigenvalue at every voxel.

    Examples
    --------
    >>> import numpy as np
    >>> zz, yy, xx = np.mgrid[:15, :15, :15]
    >>> blob = np.exp(-((zz - 7.0) ** 2 + (yy - 7) ** 2 + (xx - 7) ** 2) / 8)
    >>> bool((hessian_eigenvalues(blob, 1.0)[:, 7, 7, 7] < 0).all())
    True
    """
    params = {"sigma": sigma, "spacing": spacing, "truncate": truncate}
    return run_array(HESSIAN_EIGENVALUES, image, params)


def _hessian_bank(stack: GaussianStack, *, sigma: float, **_: Any) -> list[np.ndarray]:
    return list(eigvalsh3(*stack.hessian(sigma)))


def structure_tensor_eigenvalues(
    image: Any,
    sigma: float = 1.0,
    *,
    inner_sigma: float | None = None,
    spacing: Any = None,
    truncate: float = 4.0,
) -> np.ndarray:
    """Eigenvalues of the structure tensor, sorted ``eig1 >= eig2 >= eig3`` (all >= 0).

    The gradient at the derivative scale ``inner_sigma`` gives the outer products
    ``g g^T``, which are averaged with a Gaussian window of ``sigma`` (the integration scale).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma : float
        Integration (window) scale, voxels of the finest axis.
    inner_sigma : float, optional
        Derivative scale; default ``sigma / 2``.
    spacing, truncate
        As for :func:`~voxelwise.filters.gaussian`.

    Returns
    -------
    (3, Z, Y, X) or (3, Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.broadcast_to(np.arange(12.0), (8, 10, 12))  # one gradient direction
    >>> ev = structure_tensor_eigenvalues(ramp, 1.0)[:, 4, 5, 6]
    >>> [round(abs(float(v)), 4) for v in ev]
    [1.0, 0.0, 0.0]
    """
    params = {
        "sigma": sigma,
        "inner_sigma": inner_sigma,
        "spacing": spacing,
        "truncate": truncate,
    }
    return run_array(STRUCTURE_TENSOR_EIGENVALUES, image, params)


def _check_st(sigma: Any = 1.0, *, inner_sigma: Any = None, **kw: Any) -> dict[str, Any]:
    out = check_gaussian(sigma, **kw)
    out["inner_sigma"] = (
        out["sigma"] / 2 if inner_sigma is None else parse_sigma(inner_sigma, "inner_sigma")
    )
    return out


def _st_halo(
    *, sigma: float, inner_sigma: float, spacing: Spacing, truncate: float, **_: Any
) -> Halo:
    outer = radii(sigma, spacing, truncate, 0)
    inner = radii(inner_sigma, spacing, truncate, 1)
    return tuple(a + b for a, b in zip(outer, inner))  # type: ignore[return-value]


def _st_bank(
    stack: GaussianStack, *, sigma: float, inner_sigma: float, **_: Any
) -> list[np.ndarray]:
    outer = stack.radii(sigma, (0, 0, 0))
    gz, gy, gx = stack.gradient(inner_sigma, extend=outer)
    pairs = [(gz, gz), (gy, gy), (gx, gx), (gz, gy), (gz, gx), (gy, gx)]
    tensor = []
    for u, v in pairs:
        tensor.append(stack.like(np.multiply(u, v), outer).smoothed(sigma))
    return list(eigvalsh3(*tensor))


# --- local normalisation ----------------------------------------------------------------------


def local_center(
    image: Any, sigma: float = 1.0, *, spacing: Any = None, truncate: float = 4.0
) -> np.ndarray:
    """Local centring ``image - G(sigma) * image`` (subtracts the local mean; a high-pass).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma, spacing, truncate
        As for :func:`~voxelwise.filters.gaussian`.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((5, 6, 7), 3.0)
    >>> float(np.abs(local_center(flat, 2.0)).max()) < 1e-5
    True
    """
    params = {"sigma": sigma, "spacing": spacing, "truncate": truncate}
    return run_array(LOCAL_CENTER, image, params)


def _center_bank(stack: GaussianStack, *, sigma: float, **_: Any) -> list[np.ndarray]:
    core = crop_margin(stack.block, stack.margin, (0, 0, 0))
    return [np.subtract(core, stack.smoothed(sigma))]


def local_normalize(
    image: Any,
    sigma: float = 1.0,
    *,
    eps: float = 1e-3,
    spacing: Any = None,
    truncate: float = 4.0,
) -> np.ndarray:
    """Gaussian local normalisation ``(x - G*x) / sqrt(G * (x - G*x)**2)``.

    Centres the image on its local mean and divides by its local standard deviation, both
    with the Gaussian window ``sigma``: local contrast becomes uniform across the volume.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    sigma, spacing, truncate
        As for :func:`~voxelwise.filters.gaussian`.
    eps : float
        Floor of the local standard deviation, in intensity units (> 0): regions flatter than
        this are divided by ``eps`` instead (so flat regions give ~0 rather than noise).

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(100, 20, (20, 20, 20))
    >>> out = local_normalize(image, 3.0)
    >>> 0.7 < float(out.std()) < 1.3
    True
    """
    params = {"sigma": sigma, "eps": eps, "spacing": spacing, "truncate": truncate}
    return run_array(LOCAL_NORMALIZE, image, params)


def _check_norm(sigma: Any = 1.0, *, eps: Any = 1e-3, **kw: Any) -> dict[str, Any]:
    out = check_gaussian(sigma, **kw)
    out["eps"] = parse_positive(eps, "eps")
    return out


def _norm_bank(stack: GaussianStack, *, sigma: float, eps: float, **_: Any) -> list[np.ndarray]:
    r = stack.radii(sigma, (0, 0, 0))
    centred = np.subtract(crop_margin(stack.block, stack.margin, r), stack.smoothed(sigma, r))
    std = np.sqrt(np.maximum(stack.like(np.square(centred), r).smoothed(sigma), 0))
    np.maximum(std, np.float32(eps), out=std)
    return [np.divide(crop_margin(centred, r, (0, 0, 0)), std)]


HESSIAN_EIGENVALUES = FilterSpec(
    "hessian_eigenvalues",
    hessian_eigenvalues,
    check_gaussian,
    gaussian_halo(2),
    make_core(_hessian_bank, 3),
    short="hessian",
    outputs=EIG_OUTPUTS,
    summary="eigenvalues of the Hessian of Gaussian, decreasing",
)
STRUCTURE_TENSOR_EIGENVALUES = FilterSpec(
    "structure_tensor_eigenvalues",
    structure_tensor_eigenvalues,
    _check_st,
    _st_halo,
    make_core(_st_bank, 3, slab_safe=False),
    short="stensor",
    outputs=EIG_OUTPUTS,
    summary="eigenvalues of the structure tensor, decreasing",
)
LOCAL_CENTER = FilterSpec(
    "local_center",
    local_center,
    check_gaussian,
    gaussian_halo(0),
    make_core(_center_bank),
    short="center",
    summary="local centring x - G*x",
)
LOCAL_NORMALIZE = FilterSpec(
    "local_normalize",
    local_normalize,
    _check_norm,
    gaussian_halo(0, 2),
    make_core(_norm_bank, slab_safe=False),
    short="normalize",
    summary="local normalisation (x - G*x) / sqrt(G*(x - G*x)^2)",
)

#: Bank functions of this module: filter name to ``(bank, slab_safe)``.
BANKS: dict[str, tuple[Callable[..., list[np.ndarray]], bool]] = {
    "hessian_eigenvalues": (_hessian_bank, True),
    "structure_tensor_eigenvalues": (_st_bank, False),
    "local_center": (_center_bank, True),
    "local_normalize": (_norm_bank, False),
}
