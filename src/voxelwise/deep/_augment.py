"""Patch augmentation in NumPy: flips, 90° rotations, intensity, noise, elastic deformation.

Geometric transforms act on the image and the labels alike (labels with nearest-neighbour
interpolation); intensity transforms on the image only. Patches are (Y, X) or (Z, Y, X) float32
images in [0, 1]-ish normalised units (with a leading channel axis for several channels) and
int64 targets (-1 = unlabelled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Augment", "augment"]


@dataclass(frozen=True)
class Augment:
    """Which augmentations to apply and how strongly (probabilities per patch)."""

    flips: bool = True
    rot90: bool = True
    intensity: float = 0.5
    noise: float = 0.2
    elastic: float = 0.0
    elastic_alpha: float = 8.0
    elastic_sigma: float = 6.0


def _elastic(
    image: np.ndarray, target: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    plane = image.shape[-2:]
    coarse = [
        ndimage.gaussian_filter(rng.uniform(-1, 1, plane), sigma, mode="constant") for _ in range(2)
    ]
    scale = alpha / max(1e-6, max(np.abs(c).max() for c in coarse))
    yy, xx = np.meshgrid(np.arange(plane[0]), np.arange(plane[1]), indexing="ij")
    coords = [yy + coarse[0] * scale, xx + coarse[1] * scale]
    img_out = np.empty_like(image)
    tgt_out = np.empty_like(target)
    for idx in np.ndindex(*image.shape[:-2]):  # image may have a leading channel axis
        img_out[idx] = ndimage.map_coordinates(image[idx], coords, order=1, mode="reflect")
    for idx in np.ndindex(*target.shape[:-2]):
        tgt_out[idx] = ndimage.map_coordinates(target[idx], coords, order=0, mode="reflect")
    return img_out, tgt_out


def augment(
    image: np.ndarray, target: np.ndarray, rng: np.random.Generator, aug: Augment
) -> tuple[np.ndarray, np.ndarray]:
    """Return augmented copies of ``image`` and ``target`` (same shapes; in-plane transforms)."""
    image = image.astype(np.float32, copy=True)
    target = target.copy()
    if aug.flips:
        for axis in (-1, -2):
            if rng.random() < 0.5:
                image, target = np.flip(image, axis), np.flip(target, axis)
    if aug.rot90 and image.shape[-1] == image.shape[-2]:
        k = int(rng.integers(4))
        image, target = np.rot90(image, k, (-2, -1)), np.rot90(target, k, (-2, -1))
    if aug.elastic > 0 and rng.random() < aug.elastic:
        image, target = _elastic(image, target, rng, aug.elastic_alpha, aug.elastic_sigma)
    if aug.intensity > 0 and rng.random() < aug.intensity:
        contrast = rng.uniform(0.75, 1.25)
        brightness = rng.uniform(-0.1, 0.1)
        mean = image.mean()
        image = (image - mean) * contrast + mean + brightness
        gamma = rng.uniform(0.7, 1.4)
        lo, hi = image.min(), image.max()
        if hi > lo:
            image = ((image - lo) / (hi - lo)) ** gamma * (hi - lo) + lo
    if aug.noise > 0 and rng.random() < aug.noise:
        image = image + rng.normal(0, rng.uniform(0.01, 0.05), image.shape)
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target)
