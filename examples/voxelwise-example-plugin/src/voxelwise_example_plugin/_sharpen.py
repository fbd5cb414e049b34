"""An unsharp-mask filter: a plugin filter is one function plus its halo."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def sharpen(image: np.ndarray, *, amount: float = 1.0, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``image + amount * (image - gaussian(image, sigma))``.

    Parameters
    ----------
    image : (Z, Y, X) float32 ndarray
        A block of the volume, padded by the halo on every side.
    amount : float
        Strength of the sharpening (0 returns the image).
    sigma : float
        Scale of the blur that is subtracted, in voxels.

    Returns
    -------
    (Z, Y, X) float32 ndarray
    """
    if sigma <= 0:
        raise ValueError(f"Expected sigma > 0, got {sigma!r} instead")
    blurred = ndimage.gaussian_filter(image, sigma, mode="reflect", truncate=4.0)
    return (image + amount * (image - blurred)).astype(np.float32)


def _halo(*, amount: float = 1.0, sigma: float = 1.0) -> int:
    """Voxels of context the Gaussian needs per side (scipy's kernel radius)."""
    return int(4.0 * sigma + 0.5) if sigma > 0 else 0


sharpen.halo = _halo  # type: ignore[attr-defined]
