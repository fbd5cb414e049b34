"""Diversity strategies on embeddings: k-means, core-set (greedy k-center), hybrid."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.active._batch import Duplicate, check_k, rank

__all__ = ["coreset_selection", "hybrid_selection", "kmeans", "kmeans_selection"]


def _embeddings(embeddings: Any) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(
            f"Expected embeddings of shape (N, D), got shape {x.shape} instead; pool patch "
            "features to one vector per candidate"
        )
    if not np.isfinite(x).all():
        raise ValueError("Expected finite embeddings, got NaN or infinite values")
    return x


def _sq_distances(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(
    embeddings: Any,
    k: int,
    *,
    rng: np.random.Generator | int | None = None,
    iterations: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """k-means (k-means++ seeding, Lloyd iterations): ``(centroids (k, D), assignment (N,))``."""
    x = _embeddings(embeddings)
    k = check_k(k, x.shape[0])
    gen = parse_rng(rng)
    if k == 0:
        return np.zeros((0, x.shape[1])), np.zeros(x.shape[0], dtype=np.int64)
    centres = [x[int(gen.integers(x.shape[0]))]]
    closest = _sq_distances(x, np.asarray(centres))[:, 0]
    for _ in range(1, k):
        total = closest.sum()
        pick = (
            int(gen.choice(x.shape[0], p=closest / total))
            if total > 0
            else int(gen.integers(x.shape[0]))
        )
        centres.append(x[pick])
        closest = np.minimum(closest, _sq_distances(x, x[pick][None])[:, 0])
    c = np.asarray(centres)
    assign = np.full(x.shape[0], -1, dtype=np.int64)
    for _ in range(int(iterations)):
        d = _sq_distances(x, c)
        new = d.argmin(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = assign == j
            if members.any():
                c[j] = x[members].mean(axis=0)
            else:  # an empty cluster takes the point farthest from its centre
                far = int(d[np.arange(x.shape[0]), assign].argmax())
                c[j] = x[far]
    return c, assign


def kmeans_selection(
    embeddings: Any,
    k: int,
    *,
    rng: np.random.Generator | int | None = None,
    is_duplicate: Duplicate | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the embeddings into ``k`` groups and take the candidate nearest each centroid.

    Returns indices (largest cluster first) and scores (the share of candidates each pick's
    cluster represents).
    """
    x = _embeddings(embeddings)
    k = check_k(k, x.shape[0])
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    centres, assign = kmeans(x, k, rng=rng)
    d = _sq_distances(x, centres)
    sizes = np.bincount(assign, minlength=k)
    chosen: list[int] = []
    scores: list[float] = []
    for j in np.argsort(-sizes, kind="stable"):
        for i in np.argsort(d[:, j], kind="stable"):
            i = int(i)
            if i in chosen or (is_duplicate is not None and chosen and is_duplicate(i, chosen)):
                continue
            chosen.append(i)
            scores.append(float(sizes[j]) / x.shape[0])
            break
    for i in np.argsort(d.min(axis=1), kind="stable"):  # relax when duplicates blocked some
        if len(chosen) == k:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
            scores.append(0.0)
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)


def coreset_selection(
    embeddings: Any,
    k: int,
    *,
    labelled: Any = None,
    is_duplicate: Duplicate | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Core-set by greedy k-center (Sener & Savarese 2018): repeatedly take the candidate
    farthest from everything labelled or chosen so far.

    Parameters
    ----------
    embeddings : (N, D) array
        The candidates.
    labelled : (M, D) array, optional
        Embeddings of what is labelled already. Without it the first pick is the candidate
        farthest from the candidates' mean.

    Returns
    -------
    indices : (k,) ndarray of int64
    scores : (k,) ndarray
        Each pick's distance to the nearest labelled or earlier-chosen point when it was taken
        (non-increasing).
    """
    x = _embeddings(embeddings)
    k = check_k(k, x.shape[0])
    if labelled is not None and np.asarray(labelled).size:
        ref = _embeddings(labelled)
        if ref.shape[1] != x.shape[1]:
            raise ValueError(
                f"Expected labelled embeddings with {x.shape[1]} features like the candidates, "
                f"got {ref.shape[1]} instead"
            )
        nearest = np.sqrt(_sq_distances(x, ref).min(axis=1))
    else:
        nearest = np.sqrt(_sq_distances(x, x.mean(axis=0, keepdims=True))[:, 0])
    chosen: list[int] = []
    scores: list[float] = []
    blocked = np.zeros(x.shape[0], dtype=bool)
    while len(chosen) < k:
        candidates = np.where(blocked, -np.inf, nearest)
        candidates[chosen] = -np.inf
        i = int(candidates.argmax())
        if not np.isfinite(candidates[i]):  # only duplicates left: relax the rule
            rest = [j for j in np.argsort(-nearest, kind="stable") if int(j) not in chosen]
            i = int(rest[0])
        elif is_duplicate is not None and chosen and is_duplicate(i, chosen):
            blocked[i] = True
            continue
        chosen.append(i)
        scores.append(float(nearest[i]))
        nearest = np.minimum(nearest, np.sqrt(_sq_distances(x, x[i][None])[:, 0]))
    return np.asarray(chosen, dtype=np.int64), np.asarray(scores)


def hybrid_selection(
    scores: Any,
    embeddings: Any,
    k: int,
    *,
    factor: float = 4.0,
    rng: np.random.Generator | int | None = None,
    is_duplicate: Duplicate | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Uncertainty, then diversity: the ``factor * k`` most uncertain candidates are clustered
    by k-means on their embeddings into ``k`` groups, and each group gives its most uncertain
    member (in the spirit of Yang et al.'s suggestive annotation).

    Returns indices and their uncertainty scores, most uncertain first.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    x = _embeddings(embeddings)
    if x.shape[0] != s.size:
        raise ValueError(
            f"Expected one score per embedding, got {s.size} scores and {x.shape[0]} embeddings"
        )
    k = check_k(k, s.size)
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    if factor < 1:
        raise ValueError(f"Expected factor >= 1, got {factor} instead")
    top = rank(s, min(s.size, max(k, math.ceil(factor * k))))
    _, assign = kmeans(x[top], k, rng=rng)
    chosen: list[int] = []
    for j in range(k):
        members = top[assign == j]
        members = members[np.argsort(-s[members], kind="stable")]
        for i in members.tolist():
            if is_duplicate is None or not chosen or not is_duplicate(int(i), chosen):
                chosen.append(int(i))
                break
    for i in top.tolist():  # fill (empty clusters, duplicates) in uncertainty order
        if len(chosen) == k:
            break
        if i not in chosen:
            chosen.append(int(i))
    out = np.asarray(chosen, dtype=np.int64)
    out = out[np.argsort(-s[out], kind="stable")]
    return out, s[out]
