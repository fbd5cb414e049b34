"""Handcrafted descriptors of patches: intensity level, and the shape of the pattern: histogram,
radial profile, edges, blobs and oriented (Gabor) texture.

Only ``mean`` and ``std`` describe the intensity level; every other descriptor is computed on
the patch standardised by its own mean and standard deviation, so it describes the pattern
(a solid blob, a ring, stripes) whatever its brightness, contrast or amount.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats

__all__ = ["HISTOGRAM_BINS", "RINGS", "patch_features"]

HISTOGRAM_BINS = 8
RINGS = 4
_GABOR_ANGLES = 4


def _gabor_kernels(wavelength: float) -> list[np.ndarray]:
    half = int(np.ceil(wavelength))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    sigma = 0.56 * wavelength
    out = []
    for k in range(_GABOR_ANGLES):
        theta = np.pi * k / _GABOR_ANGLES
        u = xx * np.cos(theta) + yy * np.sin(theta)
        g = np.exp(-(xx**2 + yy**2) / (2 * sigma**2)) * np.cos(2 * np.pi * u / wavelength)
        out.append(g - g.mean())
    return out


def _radial(patch: np.ndarray) -> np.ndarray:
    """Mean intensity in ``RINGS`` shells by normalised distance from the centre."""
    grids = np.ogrid[tuple(slice(0, n) for n in patch.shape)]
    r2 = sum(((g - (n - 1) / 2) / max(n / 2, 1)) ** 2 for g, n in zip(grids, patch.shape) if n > 1)
    r = np.sqrt(np.broadcast_to(r2, patch.shape))
    ring = np.minimum((r * RINGS).astype(int), RINGS)
    sums = np.bincount(ring.ravel(), patch.ravel(), minlength=RINGS + 1)[:RINGS]
    counts = np.bincount(ring.ravel(), minlength=RINGS + 1)[:RINGS]
    return sums / np.maximum(counts, 1)


def patch_features(patches: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Describe (N, Z, Y, X) patches by handcrafted features.

    Returns ``(features, names)``: an (N, F) float32 array and the F column names:
    ``mean``, ``std`` (of the raw patch); then, of the standardised patch, ``p10``, ``p50``,
    ``p90``, ``skew``; ``hist_0..7`` (fractions over 8 bins from -2.5 to 2.5 standard
    deviations); ``ring_0..3`` (mean by distance from the centre, inner first);
    ``grad_mean``, ``grad_std`` (gradient magnitude); ``log_1``, ``log_2`` (Laplacian of
    Gaussian at the centre, sigma 1 and 2 voxels); ``gabor_mean``, ``gabor_aniso`` (oriented
    texture energy on the central plane and its spread over orientations).
    """
    x = np.asarray(patches, dtype=np.float32)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"Expected patches of shape (N, Z, Y, X) with N >= 1, got {x.shape}")
    edges = np.linspace(-2.5, 2.5, HISTOGRAM_BINS + 1)
    wavelength = max(2.0, min(x.shape[2:]) / 6.0)
    kernels = _gabor_kernels(wavelength)
    names = ["mean", "std", "p10", "p50", "p90", "skew"]
    names += [f"hist_{i}" for i in range(HISTOGRAM_BINS)]
    names += [f"ring_{i}" for i in range(RINGS)]
    names += ["grad_mean", "grad_std", "log_1", "log_2", "gabor_mean", "gabor_aniso"]
    out = np.empty((x.shape[0], len(names)), dtype=np.float32)
    for n, patch in enumerate(x):
        raw = patch.astype(np.float64)
        mean, std = float(raw.mean()), float(raw.std())
        p = (raw - mean) / std if std > 0 else np.zeros_like(raw)
        flat = p.ravel()
        pct = np.percentile(flat, (10, 50, 90))
        skew = float(stats.skew(flat)) if std > 0 else 0.0
        hist = np.histogram(np.clip(flat, -2.5, 2.5), bins=edges)[0] / flat.size
        rings = _radial(p)
        axes = [a for a in range(3) if p.shape[a] > 1]
        grads = np.gradient(p, axis=axes) if axes else [np.zeros_like(p)]
        grads = grads if isinstance(grads, list | tuple) else [grads]
        gmag = np.sqrt(sum(g**2 for g in grads))
        sig = [s if p.shape[a] > 1 else 0 for a, s in enumerate((1.0, 1.0, 1.0))]
        centre = tuple(s // 2 for s in p.shape)
        logs = [
            float(ndimage.gaussian_laplace(p, [v * s for v in sig], mode="nearest")[centre])
            for s in (1.0, 2.0)
        ]
        plane = p[p.shape[0] // 2]
        energy = np.array(
            [np.abs(ndimage.convolve(plane, k, mode="nearest")).mean() for k in kernels]
        )
        out[n] = [
            mean,
            std,
            *pct,
            skew,
            *hist,
            *rings,
            float(gmag.mean()),
            float(gmag.std()),
            *logs,
            float(energy.mean()),
            float(energy.std() / max(energy.mean(), 1e-9)),
        ]
    return out, names
