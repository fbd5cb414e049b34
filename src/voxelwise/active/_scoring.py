"""Scores of pool candidates from stored class probabilities (any model, no torch).

A probability volume ``(C, Z, Y, X)`` from any classifier (a shallow model's
:func:`voxelwise.learn.apply_model`, the ``name_p_<class>`` layers of a workspace, the
``probabilities`` array of :func:`voxelwise.deep.predict`) is read candidate group by candidate
group, and each candidate's uncertainty computed from its patch of probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelwise.active._pool import Pool
from voxelwise.active._strategies import UNCERTAINTY_METHODS, uncertainty_scores

__all__ = ["PoolScores", "align", "score_probabilities"]


@dataclass
class PoolScores:
    """Per-candidate scores of a pool (or a subset of it).

    Attributes
    ----------
    indices : (n,) ndarray of int64
        The pool candidates scored.
    scores : dict of str to (n,) ndarray
        Uncertainty per method ('entropy', 'least_confidence', 'margin', 'bald').
    embeddings : (n, D) ndarray, optional
        Bottleneck features pooled to one vector per candidate.
    """

    indices: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    embeddings: np.ndarray | None = None


def _as_probabilities(block: np.ndarray) -> np.ndarray:
    if block.dtype == np.uint8:  # deep.predict(probability_dtype='uint8') scales to 0-255
        return block.astype(np.float32) / 255.0
    return block.astype(np.float32, copy=False)


def score_probabilities(
    probabilities: Any,
    pool: Pool,
    indices: Any = None,
    *,
    methods: Sequence[str] = ("entropy",),
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> PoolScores:
    """Uncertainty of pool candidates from a stored ``(C, Z, Y, X)`` probability volume.

    Parameters
    ----------
    probabilities : (C, Z, Y, X) array, or a sequence of C (Z, Y, X) arrays
        Class probabilities (NumPy, dask or zarr; read block by block). uint8 arrays are
        taken as scaled to 0-255.
    pool : Pool
    indices : array of int, optional
        Candidates to score; default the available ones.
    methods : sequence of {'entropy', 'least_confidence', 'margin'}
    batch_size : int
        Candidates per batch.
    progress : callable, optional
        ``progress(done, total)`` in candidates.
    """
    if not hasattr(probabilities, "shape"):
        import dask.array as da

        probabilities = da.stack([da.asarray(p) for p in probabilities])
    if len(probabilities.shape) != 4:
        raise ValueError(
            f"Expected probabilities of shape (C, Z, Y, X), got {tuple(probabilities.shape)} "
            "instead; stack one (Z, Y, X) map per class"
        )
    unknown = [m for m in methods if m not in UNCERTAINTY_METHODS]
    if unknown:
        raise ValueError(f"Expected methods among {UNCERTAINTY_METHODS}, got {unknown}")
    idx = pool.indices() if indices is None else np.asarray(indices, dtype=np.int64)
    got: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    done = 0
    for batch_idx, block in pool.iter_read(probabilities, idx, batch_size=batch_size):
        p = _as_probabilities(block)
        for m in methods:
            parts[m].append(uncertainty_scores(p, method=m))
        got.append(batch_idx)
        done += batch_idx.size
        if progress is not None:
            progress(done, idx.size)
    where = align(np.concatenate(got) if got else np.zeros(0, np.int64), idx)
    scores = {m: (np.concatenate(v)[where] if v else np.zeros(0)) for m, v in parts.items()}
    return PoolScores(indices=idx, scores=scores)


def align(order: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Positions in ``order`` (candidate ids as produced) of each of ``indices``."""
    lookup = np.argsort(order, kind="stable")
    return lookup[np.searchsorted(order[lookup], indices)]
