"""Denoising filters: median, total variation (Chambolle) and starlet wavelet denoising.

All three are exactly local, so their chunked result equals the whole-array one:

- the median uses an ellipsoidal footprint (halo = its radius);
- total variation runs a *fixed* number of Chambolle iterations (no global stopping rule), and
  each iteration reaches one voxel further, so the halo is ``n_iter + 1``;
- wavelet denoising uses the undecimated, shift-invariant B3-spline "a trous" (starlet)
  transform, whose support is finite, with one noise level for the whole volume (estimated
  once, globally, before the chunks are filtered).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from voxelwise.filters._derivs import crop_margin
from voxelwise.filters._errors import FilterParameterError
from voxelwise.filters._params import (
    Spacing,
    axis_lengths,
    axis_scale,
    parse_choice,
    parse_count,
    parse_number,
    parse_positive,
    parse_spacing_opt,
)
from voxelwise.filters._spec import FilterSpec, embed_core, run_array

__all__ = [
    "MEDIAN",
    "TV_DENOISE",
    "WAVELET_DENOISE",
    "ellipsoid_footprint",
    "median",
    "tv_denoise",
    "wavelet_denoise",
]

Halo = tuple[int, int, int]
_EPS = 1e-7


def ellipsoid_footprint(radius: float, spacing: Spacing) -> np.ndarray:
    """Boolean footprint of the voxel offsets within ``radius`` (voxels of the finest axis)."""
    half = tuple(math.floor(r + _EPS) for r in axis_lengths(radius, spacing))
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    dist2 = sum((g / f) ** 2 for g, f in zip(grids, axis_scale(spacing)))
    return np.asarray(dist2 <= radius**2 + _EPS)


def _radius_halo(radius: float, spacing: Spacing) -> Halo:
    return tuple(math.floor(r + _EPS) for r in axis_lengths(radius, spacing))  # type: ignore[return-value]


# --- median -----------------------------------------------------------------------------------


def median(image: Any, radius: float = 1.0, *, spacing: Any = None) -> np.ndarray:
    """Median filter over an ellipsoidal neighbourhood.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    radius : float
        Neighbourhood radius in voxels of the finest axis (> 0); with ``spacing`` the
        neighbourhood is a ball in physical space.
    spacing : (z, y, x) floats, optional
        Voxel size.

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((5, 5, 5)); image[2, 2, 2] = 100  # an outlier
    >>> float(median(image, 1.0)[2, 2, 2])
    0.0
    """
    return run_array(MEDIAN, image, {"radius": radius, "spacing": spacing})


def _check_median(radius: Any = 1.0, *, spacing: Any = None) -> dict[str, Any]:
    return {"radius": parse_positive(radius, "radius"), "spacing": parse_spacing_opt(spacing)}


def _median_halo(*, radius: float, spacing: Spacing) -> Halo:
    return _radius_halo(radius, spacing)


def _median_core(block: np.ndarray, *, margin: Halo, radius: float, spacing: Spacing) -> np.ndarray:
    footprint = ellipsoid_footprint(radius, spacing)
    out = ndi.median_filter(block, footprint=footprint, mode="reflect")
    return crop_margin(out, margin, (0, 0, 0)).astype(np.float32)


# --- total variation --------------------------------------------------------------------------


def tv_denoise(
    image: Any, weight: float = 0.1, *, n_iter: int = 20, spacing: Any = None
) -> np.ndarray:
    """Total-variation denoising (Chambolle's projection algorithm, fixed iteration count).

    Minimises ``sum((u - image)**2) / 2 + weight * TV(u)`` approximately, by ``n_iter``
    iterations. Unlike :func:`skimage.restoration.denoise_tv_chambolle` there is no global
    stopping rule, which makes the result exactly local (halo ``n_iter + 1``), hence identical
    when computed chunk by chunk. With ``spacing``, differences along coarse axes are divided
    by their voxel size (in units of the finest axis).

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    weight : float
        Denoising strength, in the image's intensity units (> 0): it is not rescaled, so
        uint8 data needs weights around 10, data in [0, 1] around 0.1.
    n_iter : int
        Number of iterations (>= 1); 20 converges for most weights.
    spacing : (z, y, x) floats, optional

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.zeros((10, 20, 20)); clean[:, :, 10:] = 1
    >>> noisy = clean + rng.normal(0, 0.2, clean.shape)
    >>> out = tv_denoise(noisy, 0.2)
    >>> bool(np.abs(out - clean).mean() < np.abs(noisy - clean).mean() / 2)
    True
    """
    return run_array(TV_DENOISE, image, {"weight": weight, "n_iter": n_iter, "spacing": spacing})


def _check_tv(weight: Any = 0.1, *, n_iter: Any = 20, spacing: Any = None) -> dict[str, Any]:
    return {
        "weight": parse_positive(weight, "weight"),
        "n_iter": parse_count(n_iter, "n_iter"),
        "spacing": parse_spacing_opt(spacing),
    }


def _tv_halo(*, n_iter: int, **_: Any) -> Halo:
    return (n_iter + 1, n_iter + 1, n_iter + 1)


def _tv_core(
    block: np.ndarray, *, margin: Halo, weight: float, n_iter: int, spacing: Spacing
) -> np.ndarray:
    image = np.asarray(block, dtype=np.float32)
    w = [np.float32(f) for f in axis_scale(spacing)]
    tau = np.float32(1.0 / (2.0 * sum(float(x) ** 2 for x in w)))
    p = np.zeros((3, *image.shape), dtype=np.float32)
    g = np.zeros_like(p)
    out = image
    for i in range(n_iter):
        if i > 0:
            d = -p.sum(axis=0) if w == [1, 1, 1] else -sum(w[a] * p[a] for a in range(3))
            for a in range(3):
                lo = [slice(None)] * 3
                hi = [slice(None)] * 3
                lo[a], hi[a] = slice(1, None), slice(0, -1)
                d[tuple(lo)] += w[a] * p[a][tuple(hi)]
            out = image + d
        for a in range(3):
            lo = [slice(None)] * 3
            lo[a] = slice(0, -1)
            g[a][tuple(lo)] = np.diff(out, axis=a) * w[a]
        norm = np.sqrt((g**2).sum(axis=0))
        norm *= tau / np.float32(weight)
        norm += np.float32(1)
        p -= tau * g
        p /= norm
    return np.asarray(crop_margin(out, margin, (0, 0, 0)), dtype=np.float32)


# --- wavelet (starlet) ------------------------------------------------------------------------

_B3 = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16


def _dilations(levels: int, spacing: Spacing) -> tuple[tuple[int, int, int], ...]:
    """Hole size of the B3 kernel per level and axis (0: the axis is not smoothed yet).

    Level ``j`` works at a scale of ``2**j`` voxels of the finest axis; a coarser axis joins
    when that scale reaches one of its voxels, then doubles like the others.
    """
    out = []
    scale = axis_scale(spacing)
    for j in range(levels):
        row = []
        for f in scale:
            step = (2**j) * f
            first = next(k for k in range(64) if (2**k) * f >= 1 - _EPS)
            row.append(0 if step < 1 - _EPS else 2 ** (j - first))
        out.append(tuple(row))
    return tuple(out)  # type: ignore[arg-type]


def _smooth_level(arr: np.ndarray, dil: tuple[int, int, int]) -> np.ndarray:
    for axis, d in enumerate(dil):
        if d == 0:
            continue
        kernel = np.zeros(4 * d + 1)
        kernel[::d] = _B3
        arr = ndi.correlate1d(arr, kernel, axis=axis, output=np.float32, mode="reflect")
    return arr


def _wavelet_halo(*, levels: int, spacing: Spacing, **_: Any) -> Halo:
    dil = _dilations(levels, spacing)
    return tuple(sum(2 * row[a] for row in dil) for a in range(3))  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def _detail_norms(dil: tuple[tuple[int, int, int], ...]) -> tuple[float, ...]:
    """Standard deviation of each detail level for unit white noise (from the impulse response)."""
    halo = [sum(2 * row[a] for row in dil) for a in range(3)]
    delta = np.zeros([2 * h + 1 for h in halo], dtype=np.float64)
    delta[tuple(halo)] = 1.0
    norms = []
    c = delta
    for row in dil:
        nxt = c
        for axis, d in enumerate(row):
            if d:
                kernel = np.zeros(4 * d + 1)
                kernel[::d] = _B3
                nxt = ndi.correlate1d(nxt, kernel, axis=axis, mode="constant")
        norms.append(float(np.sqrt(((c - nxt) ** 2).sum())))
        c = nxt
    return tuple(norms)


def wavelet_denoise(
    image: Any,
    noise_std: float | None = None,
    *,
    levels: int = 3,
    k: float = 3.0,
    mode: str = "hard",
    spacing: Any = None,
) -> np.ndarray:
    """Wavelet denoising with the starlet (undecimated B3-spline a trous) transform.

    The image is split into ``levels`` detail images and a smooth residual; each detail
    coefficient smaller than ``k`` noise standard deviations (of that level) is removed
    (``mode='hard'``) or shrunk (``mode='soft'``), and the levels are summed back. The
    transform is shift-invariant with finite support, so chunked and whole-array results agree.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) array
    noise_std : float, optional
        Standard deviation of the noise, in intensity units. Default: estimated once for the
        whole volume as ``median(|w1|) / 0.6745`` of the finest detail level (normalised to
        unit noise), on a regular subsample of at most 2**21 voxels.
    levels : int
        Number of detail levels (>= 1); level ``j`` works at ``2**j`` voxels of the finest
        axis (coarse axes join once that exceeds their voxel size).
    k : float
        Threshold in noise standard deviations (> 0).
    mode : {'hard', 'soft'}
    spacing : (z, y, x) floats, optional

    Returns
    -------
    (Z, Y, X) or (Y, X) float32 ndarray

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> clean = np.zeros((16, 32, 32)); clean[4:12, 8:24, 8:24] = 10
    >>> noisy = clean + rng.normal(0, 1, clean.shape)
    >>> out = wavelet_denoise(noisy)
    >>> bool(np.abs(out - clean).mean() < 0.6 * np.abs(noisy - clean).mean())
    True
    """
    params = {
        "noise_std": noise_std,
        "levels": levels,
        "k": k,
        "mode": mode,
        "spacing": spacing,
    }
    return run_array(WAVELET_DENOISE, image, params)


def _check_wavelet(
    noise_std: Any = None,
    *,
    levels: Any = 3,
    k: Any = 3.0,
    mode: Any = "hard",
    spacing: Any = None,
) -> dict[str, Any]:
    return {
        "noise_std": None if noise_std is None else parse_number(noise_std, "noise_std"),
        "levels": parse_count(levels, "levels"),
        "k": parse_positive(k, "k"),
        "mode": parse_choice(mode, "mode", ("hard", "soft")),
        "spacing": parse_spacing_opt(spacing),
    }


def _finest_detail_core(
    block: np.ndarray, *, margin: Halo, dil: tuple[int, int, int]
) -> np.ndarray:
    c0 = np.asarray(block, dtype=np.float32)
    detail = c0 - _smooth_level(c0, dil)
    return np.asarray(crop_margin(detail, margin, (0, 0, 0)))


def _resolve_wavelet(image: Any, params: dict[str, Any], scheduler: Any) -> dict[str, Any]:
    """Estimate ``noise_std`` from the whole volume when it was not given."""
    if params["noise_std"] is not None:
        if params["noise_std"] < 0:
            raise FilterParameterError(
                f"Expected noise_std >= 0, got {params['noise_std']!r} instead"
            )
        return params
    from voxelwise._compute import compute
    from voxelwise.blockwise import map_chunks

    dil = _dilations(params["levels"], params["spacing"])[0]
    halo = tuple(2 * d for d in dil)
    detail = map_chunks(
        embed_core(_finest_detail_core), image, halo=halo, dtype=np.float32, margin=halo, dil=dil
    )
    step = max(1, math.ceil((math.prod(image.shape) / 2**21) ** (1 / 3)))
    (sample,) = compute(detail[::step, ::step, ::step], scheduler=scheduler)
    norm0 = _detail_norms(_dilations(params["levels"], params["spacing"]))[0]
    sigma = float(np.median(np.abs(sample))) / 0.6745 / norm0
    return {**params, "noise_std": sigma}


def _wavelet_core(
    block: np.ndarray,
    *,
    margin: Halo,
    noise_std: float,
    levels: int,
    k: float,
    mode: str,
    spacing: Spacing,
) -> np.ndarray:
    dil = _dilations(levels, spacing)
    norms = _detail_norms(dil)
    c = np.asarray(block, dtype=np.float32)
    out = np.zeros(block.shape, dtype=np.float32)
    for row, norm in zip(dil, norms):
        nxt = _smooth_level(c, row)
        w = c - nxt
        t = np.float32(k * noise_std * norm)
        if mode == "hard":
            w[np.abs(w) <= t] = 0
        else:
            w = np.sign(w) * np.maximum(np.abs(w) - t, 0)
        out += w
        c = nxt
    out += c
    return np.asarray(crop_margin(out, margin, (0, 0, 0)))


MEDIAN = FilterSpec(
    "median", median, _check_median, _median_halo, _median_core, summary="median filter"
)
TV_DENOISE = FilterSpec(
    "tv_denoise",
    tv_denoise,
    _check_tv,
    _tv_halo,
    _tv_core,
    summary="total-variation denoising (Chambolle, fixed iterations)",
)
WAVELET_DENOISE = FilterSpec(
    "wavelet_denoise",
    wavelet_denoise,
    _check_wavelet,
    _wavelet_halo,
    _wavelet_core,
    resolve=_resolve_wavelet,
    summary="starlet wavelet denoising with a global noise estimate",
)
