"""Uncertainty scores from class probabilities: entropy, least confidence, margin, BALD."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.active._errors import StrategyError

__all__ = ["UNCERTAINTY_METHODS", "bald_scores", "pixel_uncertainty", "uncertainty_scores"]

UNCERTAINTY_METHODS = ("entropy", "least_confidence", "margin")


def _probabilities(probabilities: Any, what: str = "probabilities") -> np.ndarray:
    p = np.asarray(probabilities)
    if p.ndim < 2 or p.shape[1] < 2:
        raise ValueError(
            f"Expected {what} of shape (N, C, ...) with C >= 2 classes, got shape {p.shape} "
            "instead; give one probability per class (for a binary map stack [1 - p, p])"
        )
    if p.dtype.kind not in "fiu":
        raise TypeError(f"Expected real-valued {what}, got dtype {p.dtype} instead")
    return p.astype(np.float32, copy=False)


def pixel_uncertainty(probabilities: Any, *, method: str = "entropy") -> np.ndarray:
    """Uncertainty of every pixel: ``(N, C, ...)`` probabilities -> ``(N, ...)`` float32.

    ``'entropy'``: ``-sum_c p_c log p_c`` (natural log, 0 log 0 = 0); ``'least_confidence'``:
    ``1 - max_c p_c``; ``'margin'``: ``1 - (p_top1 - p_top2)``. Higher is more uncertain.
    """
    p = _probabilities(probabilities)
    if method == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(p > 0, np.log(np.maximum(p, 1e-30)), 0.0)
        return np.asarray(-(p * logs).sum(axis=1), dtype=np.float32)
    if method == "least_confidence":
        return np.asarray(1.0 - p.max(axis=1), dtype=np.float32)
    if method == "margin":
        top = np.sort(p, axis=1)
        return np.asarray(1.0 - (top[:, -1] - top[:, -2]), dtype=np.float32)
    raise StrategyError(
        f"Expected method among {', '.join(UNCERTAINTY_METHODS)}, got {method!r} instead"
    )


def _reduce(values: np.ndarray, reduce: str) -> np.ndarray:
    flat = values.reshape(values.shape[0], -1).astype(np.float64)
    if reduce == "sum":
        return flat.sum(axis=1)
    if reduce == "mean":
        return flat.mean(axis=1) if flat.shape[1] else np.zeros(flat.shape[0])
    raise ValueError(f"Expected reduce 'sum' or 'mean', got {reduce!r} instead")


def uncertainty_scores(
    probabilities: Any, *, method: str = "entropy", reduce: str = "sum"
) -> np.ndarray:
    """One uncertainty score per candidate: the pixel-wise uncertainty summed over its pixels.

    Parameters
    ----------
    probabilities : (N, C, ...) array
        Class probabilities of N candidates (per-pixel maps, or ``(N, C)`` per supervoxel).
    method : {'entropy', 'least_confidence', 'margin'}
        See :func:`pixel_uncertainty`.
    reduce : {'sum', 'mean'}
        Sum (BioSegment's "summed pixel-wise entropy") or mean over the pixels.

    Returns
    -------
    (N,) ndarray of float64
        Higher is more informative.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5], [0.99, 0.01]])
    >>> uncertainty_scores(p).round(3).tolist()
    [0.693, 0.056]
    """
    return _reduce(pixel_uncertainty(probabilities, method=method), reduce)


def bald_scores(samples: Any, *, reduce: str = "sum") -> np.ndarray:
    """BALD: the mutual information between prediction and weights, from MC-dropout samples.

    Per pixel ``H(mean_t p_t) - mean_t H(p_t)`` (clipped at 0), reduced over the pixels. It is 0
    where all samples agree, however uncertain each of them is.

    Parameters
    ----------
    samples : (T, N, C, ...) array
        Class probabilities of N candidates from T stochastic forward passes (T >= 2).

    Returns
    -------
    (N,) ndarray of float64
    """
    s = np.asarray(samples)
    if s.ndim < 3 or s.shape[0] < 2:
        raise ValueError(
            f"Expected MC samples of shape (T, N, C, ...) with T >= 2 passes, got shape "
            f"{s.shape} instead"
        )
    mean = _probabilities(s.mean(axis=0), "mean probabilities")
    expected = np.zeros(mean.shape[:1] + mean.shape[2:], dtype=np.float32)
    for t in range(s.shape[0]):
        expected += pixel_uncertainty(s[t])
    info = pixel_uncertainty(mean) - expected / s.shape[0]
    return _reduce(np.maximum(info, 0.0), reduce)
