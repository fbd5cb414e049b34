"""Refine ellipsoids at points by active contours on a feature, object by object.

Each object is refined in its own box (the ellipsoid's box grown by ``margin``), read out of
core from the feature volume: the ellipsoid is the initial level set of scikit-image's
morphological Chan-Vese (two regions of different mean: the object and its surroundings) or
morphological geodesic active contour (stops at edges of the inverse Gaussian gradient).
The pieces of the result that touch the initial ellipsoid are kept. On thick sections (z
spacing at least three times the in-plane one) each plane is refined in 2D by default, since
the morphological operators treat all axes alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage
from skimage import segmentation

from voxelwise._compute import Scheduler
from voxelwise._validate import parse_spacing
from voxelwise.points._errors import PointsError
from voxelwise.points._geometry import Ellipsoids, ellipsoids, paint
from voxelwise.points._patches import read_boxes
from voxelwise.points._points import Points

__all__ = ["METHODS", "refine_mask", "refine_points"]

METHODS = ("chan_vese", "geodesic")


def _normalised(block: np.ndarray) -> np.ndarray:
    x = block.astype(np.float32)
    lo, hi = np.percentile(x, (1.0, 99.0))
    return np.clip((x - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)


def refine_mask(
    feature: np.ndarray,
    init: np.ndarray,
    *,
    method: str = "chan_vese",
    iterations: int = 30,
    smoothing: int = 1,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    balloon: float = 0.0,
    sigma: float = 2.0,
) -> np.ndarray:
    """One active contour on a (Z, Y, X) or (Y, X) block from the boolean ``init`` mask.

    Returns the boolean result, keeping only the pieces that overlap ``init``.
    """
    image = _normalised(feature)
    if method == "chan_vese":
        out = segmentation.morphological_chan_vese(
            image,
            num_iter=int(iterations),
            init_level_set=init.astype(np.int8),
            smoothing=int(smoothing),
            lambda1=float(lambda1),
            lambda2=float(lambda2),
        )
    elif method == "geodesic":
        edges = segmentation.inverse_gaussian_gradient(image, sigma=float(sigma))
        out = segmentation.morphological_geodesic_active_contour(
            edges,
            num_iter=int(iterations),
            init_level_set=init.astype(np.int8),
            smoothing=int(smoothing),
            balloon=float(balloon),
        )
    else:
        raise PointsError(f"Expected method as one of {', '.join(METHODS)}, got {method!r}")
    mask = out.astype(bool)
    pieces, n = ndimage.label(mask)
    if n == 0:
        return mask
    keep = np.unique(pieces[init & mask])
    return np.isin(pieces, keep[keep > 0])


def _init_mask(ell: Ellipsoids, i: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
    d = [g - c for g, c in zip(grids, ell.centres[i])]
    m = ell.metrics[i]
    q = sum(m[j, k] * d[j] * d[k] for j in range(3) for k in range(3))
    return np.asarray(q <= 1.0)


def refine_points(
    points: Points,
    feature: Any,
    *,
    size: Any = None,
    aspect: Any = (1.0, 1.0, 1.0),
    orientation: Any = None,
    spacing: Any = None,
    values: str = "class",
    method: str = "chan_vese",
    iterations: int = 30,
    smoothing: int = 1,
    lambda1: float = 1.0,
    lambda2: float = 1.0,
    balloon: float = 0.0,
    sigma: float = 2.0,
    margin: float = 0.5,
    per_slice: bool | None = None,
    chunks: Any = None,
    batch: int = 64,
    scheduler: Scheduler = None,
    progress: Callable[[int, int], None] | None = None,
) -> da.Array:
    """Ellipsoids at points refined by an active contour: a lazy label volume.

    Parameters
    ----------
    points : Points
    feature : (Z, Y, X) array
        What the contour follows: the image, or a smoothed or filtered layer (NumPy, dask,
        zarr; each object's box is read on its own).
    size, aspect, orientation, spacing, values
        The initial ellipsoids; see :func:`ellipsoids`.
    method : {"chan_vese", "geodesic"}
        Morphological Chan-Vese (``lambda1``, ``lambda2`` weigh the inside and outside) or the
        geodesic active contour (``balloon`` > 0 inflates, < 0 deflates; edges from the inverse
        Gaussian gradient at ``sigma``).
    iterations, smoothing
        Steps of the contour and of its curvature smoothing per step.
    margin : float
        How far the box reaches beyond the ellipsoid, as a fraction of its half-extents.
    per_slice : bool, optional
        Refine each z plane in 2D; default True on thick sections (z spacing >= 3 x in-plane).
    chunks : optional
        Chunks of the output (default: as :func:`voxelwise._validate.parse_chunks`).
    batch, scheduler, progress
        Objects read per step, where dask inputs compute, ``progress(done, total)``.

    Returns
    -------
    (Z, Y, X) dask array of uint8/16/32
        Each refined object carries its point's class (or id); where objects overlap, the
        nearer centre wins. Memory holds every object's mask (one byte per voxel of its box).
    """
    if not hasattr(feature, "shape") or len(feature.shape) != 3:
        raise PointsError(
            f"Expected the feature as a (Z, Y, X) array, got {getattr(feature, 'shape', feature)!r}"
        )
    if method not in METHODS:
        raise PointsError(f"Expected method as one of {', '.join(METHODS)}, got {method!r}")
    if int(iterations) < 1 or float(margin) < 0:
        raise PointsError(f"Expected iterations >= 1 and margin >= 0, got {iterations}, {margin}")
    shape = tuple(int(s) for s in feature.shape)
    ell = ellipsoids(
        points, size=size, aspect=aspect, orientation=orientation, spacing=spacing, values=values
    )
    if per_slice is None:
        sp = (1.0, 1.0, 1.0) if spacing is None else parse_spacing(spacing)
        per_slice = sp[0] >= 3 * min(sp[1], sp[2])
    lo, hi = ell.boxes(shape, margin=float(margin))
    settings: dict[str, Any] = {
        "method": method,
        "iterations": iterations,
        "smoothing": smoothing,
        "lambda1": lambda1,
        "lambda2": lambda2,
        "balloon": balloon,
        "sigma": sigma,
    }
    masks: list[np.ndarray] = []
    n = len(points)
    for start in range(0, n, max(1, int(batch))):
        stop = min(n, start + int(batch))
        boxes = [tuple(slice(a, b) for a, b in zip(lo[i], hi[i])) for i in range(start, stop)]
        blocks = read_boxes(feature, boxes, scheduler=scheduler)
        for i, block in zip(range(start, stop), blocks):
            init = _init_mask(ell, i, lo[i], hi[i])
            if per_slice:
                mask = np.zeros_like(init)
                for z in range(init.shape[0]):
                    if init[z].any():
                        mask[z] = refine_mask(block[z], init[z], **settings)
            else:
                mask = refine_mask(block, init, **settings)
            masks.append(mask)
        if progress is not None:
            progress(stop, n)
    return paint(ell, shape, chunks=chunks, masks=masks, boxes=(lo, hi))
