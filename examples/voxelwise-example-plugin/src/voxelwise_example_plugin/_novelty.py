"""An active-learning strategy: a plugin strategy is one function from candidate arrays to scores.

Its leading positional parameters name what voxelwise computes for the N candidates (here the
``entropy`` (N,) of the model's predictions and the ``embeddings`` (N, D) of its bottleneck);
it returns one score per candidate, and voxelwise proposes the highest first.
"""

from __future__ import annotations

import numpy as np


def _unit(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min()) if values.size else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def novelty(entropy: np.ndarray, embeddings: np.ndarray, *, weight: float = 0.5) -> np.ndarray:
    """Entropy plus novelty: uncertain candidates far from the pool's mean embedding first.

    Parameters
    ----------
    entropy : (N,) ndarray
        Uncertainty of each candidate.
    embeddings : (N, D) ndarray
        Features of each candidate.
    weight : float
        Share of the novelty (distance to the mean embedding) in the score, 0 to 1.

    Returns
    -------
    (N,) float64 ndarray
        Both terms scaled to [0, 1] over the candidates, mixed by ``weight``.
    """
    if not 0 <= weight <= 1:
        raise ValueError(f"Expected 0 <= weight <= 1, got {weight!r} instead")
    u = _unit(np.asarray(entropy, dtype=np.float64))
    e = np.asarray(embeddings, dtype=np.float64)
    d = _unit(np.linalg.norm(e - e.mean(axis=0), axis=1))
    return (1 - weight) * u + weight * d
