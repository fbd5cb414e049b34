"""Markov random field refinement of class probabilities: graph cuts and alpha-expansion.

The energy of a labelling ``f`` of the nodes of a graph is

    E(f) = sum_i U_i(f_i) + smoothness * sum_(i, j) w_ij [f_i != f_j],

with unaries ``U_i(k) = -log p_i(k)`` and a Potts term weighted per edge (boundary strength:
edges across strong boundaries or between dissimilar regions cost less to cut). Two classes
are solved exactly with one minimum cut; more classes with alpha-expansion (Boykov, Veksler &
Zabih 2001), one minimum cut per class and cycle, which never raises the energy and stays
within a factor 2 of the optimum for Potts terms. Minimum cuts come from PyMaxflow (the
Boykov-Kolmogorov algorithm), an optional dependency: ``pip install PyMaxflow``.

Nodes are supervoxels (edges from their adjacency graph) or, for small volumes, voxels
(6-neighbourhood, with in-plane and across-section edges weighted by the voxel size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from voxelwise._optional import MissingDependencyError
from voxelwise.learn._errors import LearnError

__all__ = [
    "DEFAULT_SMOOTHNESS",
    "MAX_GRID_VOXELS",
    "alpha_expansion",
    "edge_weights",
    "grid_edges",
    "mrf_energy",
    "refine_graph",
    "refine_grid",
]

#: Default weight of the smoothness term (SuRVoS2's lambda).
DEFAULT_SMOOTHNESS = 0.15
#: Largest volume refined voxel by voxel in memory (about 2 GB of graph).
MAX_GRID_VOXELS = 2**23
_EPS = 1e-6


def _maxflow() -> Any:
    try:
        import maxflow
    except ImportError as e:
        raise MissingDependencyError(
            "Refinement needs the optional dependency PyMaxflow (graph cuts); install it with: "
            "pip install PyMaxflow"
        ) from e
    return maxflow


def _check(unary: Any, edges: Any, weights: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.asarray(unary, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] < 1:
        raise LearnError(f"Expected unary costs of shape (N, K), got {u.shape} instead")
    if not np.isfinite(u).all():
        raise LearnError("Expected finite unary costs; clip probabilities away from 0 first")
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != e.shape[0]:
        raise LearnError(f"Expected one weight per edge, got {w.size} for {e.shape[0]} edges")
    if e.size and (e.min() < 0 or e.max() >= u.shape[0]):
        raise LearnError(f"Edges must join nodes 0..{u.shape[0] - 1}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise LearnError("Expected finite, non-negative edge weights")
    return u, e, w


def mrf_energy(
    labels: np.ndarray, unary: np.ndarray, edges: np.ndarray, weights: np.ndarray
) -> float:
    """The energy of a labelling (weights already include the smoothness factor)."""
    n = np.arange(labels.size)
    cut = labels[edges[:, 0]] != labels[edges[:, 1]]
    return float(unary[n, labels].sum() + weights[cut].sum())


def _binary_cut(unary: np.ndarray, edges: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Exact minimiser for two labels: one minimum cut (sink side = label 1)."""
    maxflow = _maxflow()
    n = unary.shape[0]
    g = maxflow.Graph[float](n, max(edges.shape[0], 1))
    nodes = g.add_nodes(n)
    diff = unary[:, 1] - unary[:, 0]  # extra cost of label 1
    g.add_grid_tedges(nodes, np.maximum(diff, 0), np.maximum(-diff, 0))
    if edges.shape[0]:
        g.add_edges(edges[:, 0], edges[:, 1], weights, weights)
    g.maxflow()
    return np.asarray(g.get_grid_segments(nodes), dtype=np.int64)


def _expand(
    labels: np.ndarray, alpha: int, unary: np.ndarray, edges: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """One alpha-expansion move: the best labelling where any node may switch to ``alpha``."""
    maxflow = _maxflow()
    n = labels.size
    p, q = edges[:, 0], edges[:, 1]
    lp, lq = labels[p], labels[q]
    a = weights * (lp != lq)  # both keep their labels
    b = weights * (lp != alpha)  # p keeps, q takes alpha
    c = weights * (lq != alpha)  # p takes alpha, q keeps
    # E(xp, xq) = A + (C - A) xp - C xq + (B + C - A)(1 - xp) xq   with x = 1: take alpha
    linear = unary[:, alpha] - unary[np.arange(n), labels]
    linear += np.bincount(p, c - a, minlength=n) - np.bincount(q, c, minlength=n)
    pair = np.maximum(b + c - a, 0.0)
    g = maxflow.Graph[float](n, max(edges.shape[0], 1))
    nodes = g.add_nodes(n)
    g.add_grid_tedges(nodes, np.maximum(linear, 0), np.maximum(-linear, 0))
    if edges.shape[0]:
        g.add_edges(p, q, pair, np.zeros_like(pair))
    g.maxflow()
    take = np.asarray(g.get_grid_segments(nodes), dtype=bool)
    return np.where(take, alpha, labels)


def alpha_expansion(
    unary: Any,
    edges: Any,
    weights: Any,
    *,
    labels: Any = None,
    max_cycles: int = 5,
) -> np.ndarray:
    """Minimise a Potts MRF energy over a graph.

    Parameters
    ----------
    unary : (N, K) array
        Cost of each label at each node.
    edges : (E, 2) array of int
        Node index pairs (0..N-1), each undirected edge once.
    weights : (E,) array
        Non-negative cost of giving the two ends of an edge different labels.
    labels : (N,) array of int, optional
        Starting labelling; default the per-node cheapest label.
    max_cycles : int
        Cycles over all labels (stops early when a cycle changes nothing).

    Returns
    -------
    (N,) ndarray of int64
        Label index per node. Exact for K = 2; otherwise an expansion-move local minimum.
    """
    u, e, w = _check(unary, edges, weights)
    k = u.shape[1]
    if k == 1:
        return np.zeros(u.shape[0], dtype=np.int64)
    if k == 2:
        return _binary_cut(u, e, w)
    current = u.argmin(axis=1) if labels is None else np.asarray(labels, dtype=np.int64).copy()
    energy = mrf_energy(current, u, e, w)
    for _ in range(int(max_cycles)):
        improved = False
        for alpha in range(k):
            proposal = _expand(current, alpha, u, e, w)
            new = mrf_energy(proposal, u, e, w)
            if new < energy - 1e-9 * max(1.0, abs(energy)):
                current, energy, improved = proposal, new, True
        if not improved:
            break
    return current


def edge_weights(
    features: np.ndarray, edges: np.ndarray, *, contact: np.ndarray | None = None
) -> np.ndarray:
    """Similarity weights in (0, 1] for graph edges from node features (as in SuRVoS2).

    ``w = exp(-gamma * d)`` with ``d`` the Euclidean distance between the standardised feature
    vectors of the two nodes and ``gamma = 1 / (2 * mean(d)^2)``: similar neighbours are
    expensive to separate, dissimilar ones (across a boundary) cheaper. With ``contact`` (shared
    voxel faces per edge) each weight is also scaled by its contact relative to the median
    contact, capped at 2, so that slight touches count less.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    scale = x.std(axis=0)
    x = ((x - x.mean(axis=0)) / np.where(scale > 0, scale, 1.0)).astype(np.float32)
    d = np.empty(e.shape[0], dtype=np.float64)
    step = 1 << 18  # edges per batch: bounds the temporary (step, F) arrays
    for start in range(0, e.shape[0], step):
        diff = x[e[start : start + step, 0]] - x[e[start : start + step, 1]]
        d[start : start + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    mean = float(d.mean()) if d.size else 0.0
    w = np.exp(-d / (2 * mean**2)) if mean > 0 else np.ones(d.size)
    if contact is not None and len(contact):
        rel = np.asarray(contact, dtype=np.float64) / max(float(np.median(contact)), 1.0)
        w = w * np.minimum(rel, 2.0)
    return w


def refine_graph(
    probabilities: Any,
    edges: Any,
    weights: Any = None,
    *,
    smoothness: float = DEFAULT_SMOOTHNESS,
    max_cycles: int = 5,
) -> np.ndarray:
    """Refine per-node class probabilities with a Potts MRF on a graph (e.g. supervoxels).

    Parameters
    ----------
    probabilities : (N, K) array
        Class probabilities per node.
    edges : (E, 2) array of int
        Node index pairs.
    weights : (E,) array, optional
        Boundary-strength weights in [0, 1] (see :func:`edge_weights`); default 1.
    smoothness : float
        The weight ``lambda`` of the pairwise term relative to ``-log p`` (default 0.15).

    Returns
    -------
    (N,) ndarray of int64
        Class index per node.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    smooth = _smoothness(smoothness)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    w = np.ones(e.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return alpha_expansion(-np.log(np.clip(p, _EPS, 1.0)), e, smooth * w, max_cycles=max_cycles)


def _smoothness(value: Any) -> float:
    if not isinstance(value, int | float | np.number) or isinstance(value, bool):
        raise TypeError(f"Expected smoothness as a number, got {value!r} instead")
    if not (np.isfinite(value) and value >= 0):
        raise LearnError(f"Expected smoothness >= 0 (e.g. 0.15), got {value!r} instead")
    return float(value)


def grid_edges(
    shape: Sequence[int], *, spacing: Any = None, image: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """6-neighbour edges of a (Z, Y, X) grid (flat voxel indices) and their weights.

    Weights are ``min(spacing) / spacing[axis]`` (thick sections couple less), times
    ``exp(-(I_p - I_q)^2 / (2 * var))`` on an ``image`` (contrast-sensitive Potts, ``var`` the
    mean squared difference over all edges).
    """
    shape = tuple(int(s) for s in shape)
    sp = np.ones(3) if spacing is None else np.asarray(spacing, dtype=np.float64)
    index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    img = None if image is None else np.asarray(image, dtype=np.float64).reshape(shape)
    pairs, weights, diffs = [], [], []
    for axis in range(3):
        if shape[axis] < 2:
            continue
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        pairs.append(np.stack([index[tuple(lo)].ravel(), index[tuple(hi)].ravel()], axis=1))
        weights.append(np.full(pairs[-1].shape[0], sp.min() / sp[axis]))
        if img is not None:
            diffs.append((img[tuple(lo)] - img[tuple(hi)]).ravel() ** 2)
    if not pairs:
        return np.empty((0, 2), np.int64), np.empty(0)
    e = np.concatenate(pairs)
    w = np.concatenate(weights)
    if img is not None:
        d2 = np.concatenate(diffs)
        var = float(d2.mean()) or 1.0
        w = w * np.exp(-d2 / (2 * var))
    return e, w


def refine_grid(
    probabilities: Any,
    *,
    smoothness: float = DEFAULT_SMOOTHNESS,
    spacing: Any = None,
    image: Any = None,
    max_voxels: int = MAX_GRID_VOXELS,
    max_cycles: int = 3,
) -> np.ndarray:
    """Refine voxel probabilities of a small volume with a Potts MRF on the voxel grid.

    Parameters
    ----------
    probabilities : (K, Z, Y, X) array
        Class probabilities (in memory: the whole volume's graph is built at once).
    smoothness : float
        Weight of the pairwise term (default 0.15).
    spacing : (3,) floats, optional
        Voxel size (z, y, x); edges across thick sections weigh less.
    image : (Z, Y, X) array, optional
        Intensities for contrast-sensitive weights.
    max_voxels : int
        Refuse larger volumes (the graph takes about 250 bytes per voxel); refine supervoxels
        instead, or crop a region of interest.

    Returns
    -------
    (Z, Y, X) ndarray of int64
        Class index per voxel (-1 where every probability is 0, e.g. outside a parent region).
    """
    p = np.asarray(probabilities, dtype=np.float32)
    if p.ndim != 4:
        raise LearnError(f"Expected probabilities of shape (K, Z, Y, X), got {p.shape} instead")
    shape = p.shape[1:]
    n = int(np.prod(shape))
    if n > max_voxels:
        raise LearnError(
            f"Voxel refinement builds a graph of the whole volume in memory; {n} voxels exceed "
            f"max_voxels={max_voxels}. Use supervoxel mode with refinement, or predict a smaller "
            "region of interest"
        )
    smooth = _smoothness(smoothness)
    e, w = grid_edges(shape, spacing=spacing, image=image)
    flat = p.reshape(p.shape[0], -1).T
    empty = flat.max(axis=1) <= 0
    unary = -np.log(np.clip(flat, _EPS, 1.0))
    labels = alpha_expansion(unary, e, smooth * w, max_cycles=max_cycles)
    labels[empty] = -1
    return labels.reshape(shape)
