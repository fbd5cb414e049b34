"""Augmentation of object patches: flips and 90° rotations, intensity jitter on the image.

Geometric transforms move the image and the mask channel together (flips and in-plane 90°
rotations from :func:`voxelwise.deep._augment.augment`, plus z flips in 3D); contrast,
brightness and noise change the image channel only.
"""

from __future__ import annotations

import numpy as np

from voxelwise.deep._augment import Augment, augment

__all__ = ["augment_patches"]

_GEOMETRY = Augment(flips=True, rot90=True, intensity=0.0, noise=0.0, elastic=0.0)


def augment_patches(
    patches: np.ndarray,
    rng: np.random.Generator,
    *,
    intensity: float = 0.5,
    noise: float = 0.2,
) -> np.ndarray:
    """Randomly flipped and rotated copies of ``(N, C, [Z,] Y, X)`` patches (float32).

    Channel 0 (the normalised image) also gets, with probability ``intensity``, a contrast
    factor in [0.8, 1.25] and a shift in [-0.1, 0.1], and with probability ``noise`` Gaussian
    noise of standard deviation up to 0.05.
    """
    out = np.empty_like(patches, dtype=np.float32)
    dummy = np.zeros(patches.shape[-2:], dtype=np.int8)
    for i, patch in enumerate(patches):
        moved, _ = augment(patch, dummy, rng, _GEOMETRY)
        if patch.ndim == 4 and rng.random() < 0.5:  # 3D: flip z as well
            moved = moved[:, ::-1]
        image = moved[0]
        if rng.random() < intensity:
            mean = float(image.mean())
            image = (image - mean) * rng.uniform(0.8, 1.25) + mean + rng.uniform(-0.1, 0.1)
        if rng.random() < noise:
            image = image + rng.normal(0.0, rng.uniform(0.01, 0.05), image.shape)
        out[i, 0] = image
        out[i, 1:] = moved[1:]
    return out
