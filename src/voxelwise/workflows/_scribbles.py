"""Scribbles drawn from a ground truth, standing in for a person's brush strokes in demos."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise._validate import parse_rng

__all__ = ["scribbles_from_truth"]


def _strokes(mask: np.ndarray, n: int, length: int, gen: np.random.Generator) -> np.ndarray:
    """Up to ``n`` pieces of the mask's skeleton, each within a ``length``-wide window."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    inner = ndimage.binary_erosion(mask, iterations=2)
    if inner.sum() < 4 * length:  # thin structures (membranes): stay on the mask itself
        inner = mask
    skeleton = skeletonize(inner)
    ys, xs = np.nonzero(skeleton)
    out = np.zeros_like(mask)
    if ys.size == 0:
        return out
    half = max(1, length // 2)
    for i in gen.choice(ys.size, size=min(n, ys.size), replace=False):
        y0, x0 = int(ys[i]), int(xs[i])
        window = (slice(max(0, y0 - half), y0 + half + 1), slice(max(0, x0 - half), x0 + half + 1))
        out[window] |= skeleton[window]
    # a brush about three voxels wide, never painting outside the class
    return ndimage.binary_dilation(out, structure=ndimage.generate_binary_structure(2, 1)) & mask


def scribbles_from_truth(
    truth: Any,
    *,
    every: int = 6,
    strokes: int = 4,
    length: int = 20,
    rng: np.random.Generator | int | None = 0,
) -> np.ndarray:
    """Sparse strokes along the middle of each class of a dense label volume.

    On every ``every``-th section, each class gets up to ``strokes`` short strokes: pieces of
    the skeleton of the class (eroded first where it is thick, so strokes keep off its
    borders), about ``length`` voxels long and three wide, like a person's scribbles.

    Parameters
    ----------
    truth : (Z, Y, X) integer array
        Class values (0 = unlabelled, left out); read whole, so pass a region of interest.
    every : int
        Section step (the first annotated section is ``every // 2``).
    strokes : int
        Strokes per class and annotated section.
    length : int
        Stroke length in voxels.
    rng : Generator, int or None
        Chooses the strokes (the same seed gives the same scribbles).

    Returns
    -------
    (Z, Y, X) uint16 ndarray
        The class value on stroke voxels, 0 elsewhere.

    Examples
    --------
    >>> truth = np.ones((4, 40, 40), np.uint8); truth[:, 20:] = 2
    >>> s = scribbles_from_truth(truth, every=2)
    >>> sorted(np.unique(s).tolist()), bool((s[s > 0] == truth[s > 0]).all())
    ([0, 1, 2], True)
    """
    truth = np.asarray(truth)
    if truth.ndim != 3 or truth.dtype.kind not in "biu":
        raise TypeError(
            f"Expected truth as a (Z, Y, X) integer label array, got {truth.dtype} with shape "
            f"{truth.shape} instead"
        )
    if every < 1 or strokes < 1 or length < 1:
        raise ValueError(
            f"Expected every, strokes and length >= 1, got {every}, {strokes}, {length} instead"
        )
    gen = parse_rng(rng)
    out = np.zeros(truth.shape, np.uint16)
    values = [int(v) for v in np.unique(truth) if v != 0]
    for z in range(min(every // 2, truth.shape[0] - 1), truth.shape[0], every):
        for v in values:
            mask = truth[z] == v
            if mask.any():
                out[z][_strokes(mask, strokes, length, gen)] = v
    return out
