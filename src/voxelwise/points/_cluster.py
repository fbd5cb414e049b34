"""Cluster patch descriptors (HDBSCAN), embed them in 2D (t-SNE, UMAP, PCA), draw a scatter PNG.

Pillow draws the plot (matplotlib is not a dependency); UMAP is used only when the
``umap-learn`` package is installed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from voxelwise._optional import optional_import
from voxelwise._validate import parse_rng
from voxelwise.points._errors import PointsError

__all__ = ["EMBEDDINGS", "cluster_features", "embed_features", "scatter_png", "standardize"]

EMBEDDINGS = ("tsne", "umap", "pca")
_PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (90, 90, 220),
]
_NOISE = (150, 150, 150)
_ONE_THREAD = 5000  # t-SNE of at most this many points runs on one thread


def standardize(features: Any) -> np.ndarray:
    """Features scaled to zero mean and unit variance per column (constant columns: 0)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise PointsError(f"Expected features of shape (N, F) with N >= 1, got {x.shape}")
    if not np.isfinite(x).all():
        raise PointsError("Expected finite features, got NaN or infinite values")
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _pca(x: np.ndarray, k: int) -> np.ndarray:
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    out = u[:, :k] * s[:k]
    if out.shape[1] < k:
        out = np.pad(out, ((0, 0), (0, k - out.shape[1])))
    return out


def cluster_features(
    features: Any,
    *,
    min_cluster_size: int = 5,
    min_samples: int | None = None,
    components: int | None = 10,
) -> np.ndarray:
    """HDBSCAN clusters of descriptors: (N,) int64, -1 for noise.

    The features are standardised and, with ``components``, reduced by PCA first (density
    estimates degrade in many dimensions).
    """
    x = standardize(features)
    if x.shape[0] < max(2, int(min_cluster_size)):
        raise PointsError(
            f"Expected at least min_cluster_size={min_cluster_size} points to cluster, got "
            f"{x.shape[0]}; add points or lower min_cluster_size"
        )
    if components is not None:
        x = _pca(x, min(int(components), x.shape[1], x.shape[0]))
    from sklearn.cluster import HDBSCAN

    model = HDBSCAN(min_cluster_size=int(min_cluster_size), min_samples=min_samples, copy=True)
    return np.asarray(model.fit_predict(x), dtype=np.int64)


def embed_features(
    features: Any, *, method: str = "tsne", rng: np.random.Generator | int | None = 0
) -> np.ndarray:
    """A 2D embedding (N, 2) float32 of standardised descriptors.

    ``"tsne"`` (scikit-learn; perplexity min(30, (N - 1) / 3)), ``"umap"`` (needs
    ``umap-learn``) or ``"pca"``.
    """
    if method not in EMBEDDINGS:
        raise PointsError(f"Expected method as one of {', '.join(EMBEDDINGS)}, got {method!r}")
    x = standardize(features)
    seed = int(parse_rng(rng).integers(2**31 - 1))
    n = x.shape[0]
    if method == "pca" or n < 4:
        return _pca(x, 2).astype(np.float32)
    if method == "umap":
        umap = optional_import("umap", feature="UMAP embeddings (or use method='tsne')")
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = float(min(30.0, max(1.0, (n - 1) / 3.0)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # OpenMP threads cost far more than they save on small sets on a busy machine (tens of
    # seconds instead of one for a hundred points), so small embeddings run on one thread
    with threadpool_limits(limits=1 if n <= _ONE_THREAD else None, user_api="openmp"):
        return np.asarray(tsne.fit_transform(x), dtype=np.float32)


def scatter_png(
    xy: Any,
    clusters: Any,
    path: str | os.PathLike[str],
    *,
    classes: Sequence[int] | None = None,
    title: str = "",
    size: int = 640,
) -> Path:
    """Draw a 2D embedding as a PNG: dots filled by cluster (grey: noise), outlined by class
    when ``classes`` is given, and a legend with each cluster's count."""
    pts = np.asarray(xy, dtype=np.float64)
    lab = np.asarray(clusters, dtype=np.int64)
    if pts.ndim != 2 or pts.shape[1] != 2 or lab.shape != (pts.shape[0],):
        raise PointsError(f"Expected xy (N, 2) and clusters (N,), got {pts.shape}, {lab.shape}")
    margin, legend = 30, 150
    img = Image.new("RGB", (size + legend, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if pts.shape[0]:
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        scale = (size - 2 * margin) / np.maximum(hi - lo, 1e-9)
        pix = (pts - lo) * scale + margin
        pix[:, 1] = size - pix[:, 1]  # y up
    else:
        pix = pts
    ring = None if classes is None else np.asarray(classes)
    class_ids = [] if ring is None else sorted(set(ring.tolist()))
    for i in np.argsort(lab >= 0, kind="stable"):  # noise first, clusters on top
        c = lab[i]
        fill = _NOISE if c < 0 else _PALETTE[int(c) % len(_PALETTE)]
        outline = fill
        if ring is not None:
            outline = (0, 0, 0) if class_ids.index(ring[i]) % 2 == 0 else (255, 255, 255)
        x, y = pix[i]
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=fill, outline=outline, width=1)
    draw.text((10, 8), title, fill=(0, 0, 0))
    y0 = margin
    for c in sorted(set(lab.tolist())):
        colour = _NOISE if c < 0 else _PALETTE[c % len(_PALETTE)]
        draw.rectangle((size + 10, y0, size + 22, y0 + 12), fill=colour)
        name = "noise" if c < 0 else f"cluster {c}"
        draw.text((size + 28, y0), f"{name} ({int((lab == c).sum())})", fill=(0, 0, 0))
        y0 += 18
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    img.save(target)
    return target
