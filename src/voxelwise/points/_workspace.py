"""Point sets on a workspace: rasterise (and refine) into a label layer, cluster patches.

Plain functions over names, numbers and dicts, each recording a run, for the CLI and a
server route.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.analysis import Table
from voxelwise.errors import LayerExistsError
from voxelwise.points._cluster import cluster_features, embed_features, scatter_png
from voxelwise.points._describe import patch_features
from voxelwise.points._errors import PointsError
from voxelwise.points._geometry import ellipsoids, paint
from voxelwise.points._patches import sample_patches
from voxelwise.points._refine import refine_points
from voxelwise.points._store import FOLDER, load_points

if TYPE_CHECKING:
    from voxelwise.workspace import LayerInfo, Workspace

__all__ = ["cluster_points", "rasterize_layer"]


def _jsonable(value: Any) -> Any:
    return np.asarray(value).tolist() if isinstance(value, np.ndarray | tuple) else value


def rasterize_layer(
    ws: Workspace,
    points: str,
    *,
    name: str | None = None,
    size: Any = None,
    aspect: Any = (1.0, 1.0, 1.0),
    orientation: Any = None,
    values: str = "class",
    refine: str | None = None,
    feature: str = "raw",
    iterations: int = 30,
    smoothing: int = 1,
    balloon: float = 0.0,
    margin: float = 0.5,
    per_slice: bool | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> LayerInfo:
    """Rasterise a stored point set into a ``"labels"`` layer of ellipsoids, optionally refined.

    ``size`` and ``orientation`` are in the workspace's physical units (see
    :func:`ellipsoids`); ``refine`` (``"chan_vese"`` or ``"geodesic"``) runs
    :func:`refine_points` on the layer ``feature``. The layer (default
    ``"<points>_objects"``) holds each point's class (or id with ``values="id"``); a run
    ``points.rasterize`` is recorded.
    """
    start = time.perf_counter()
    pts = load_points(ws, points)
    if len(pts) == 0:
        raise PointsError(f"The point set {points!r} is empty; add points first")
    name = name or f"{points}_objects"
    if name in ws and not overwrite:
        raise LayerExistsError(
            f"A layer named {name!r} exists already in the workspace {ws.path}; pass "
            "overwrite=True to replace it, or choose another name"
        )
    geometry = {"size": size, "aspect": aspect, "orientation": orientation, "values": values}
    if refine is None:
        ell = ellipsoids(pts, spacing=ws.spacing, **geometry)
        labels = paint(ell, ws.shape, chunks=ws.chunks)
        sources: list[str] = []
    else:
        labels = refine_points(
            pts,
            ws.open_array(feature, mode="r"),
            spacing=ws.spacing,
            method=refine,
            iterations=iterations,
            smoothing=smoothing,
            balloon=balloon,
            margin=margin,
            per_slice=per_slice,
            chunks=ws.chunks,
            progress=progress,
            **geometry,
        )
        sources = [feature]
    params = {k: _jsonable(v) for k, v in geometry.items()}
    params.update({"points": points, "refine": refine, "iterations": iterations})
    info = ws.add_layer(
        name, labels, kind="labels", sources=sources, params=params, overwrite=overwrite
    )
    ws.record_run(
        "points.rasterize",
        params=params,
        inputs=sources,
        outputs=[name],
        duration=time.perf_counter() - start,
    )
    return info


def cluster_points(
    ws: Workspace,
    points: str,
    *,
    image: str = "raw",
    size: Any = 32,
    bin: Any = 1,
    features: str | Callable[[np.ndarray], np.ndarray] = "handcrafted",
    min_cluster_size: int = 5,
    embedding: str = "tsne",
    on: str = "embedding",
    png: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    rng: np.random.Generator | int | None = 0,
) -> Table:
    """Sample patches at the points, describe, cluster and embed them.

    Parameters
    ----------
    size, bin : int or (3,) ints
        Patch size (z, y, x) in voxels and block-mean binning (see :func:`sample_patches`).
    features : "handcrafted" or callable
        :func:`patch_features`, or a function from (N, Z, Y, X) patches to (N, F) features,
        e.g. a trained network's embedding.
    min_cluster_size, embedding, rng
        See :func:`cluster_features` and :func:`embed_features`.
    on : {"embedding", "features"}
        Cluster the 2D embedding (the groups the scatter plot shows; HDBSCAN finds them
        reliably there) or the descriptors themselves (reduced to 10 PCA components; more
        points end up as noise).
    png, out : path, optional
        Write the scatter plot and the table there; the table is also kept in
        ``<workspace>/points/<points>.clusters.csv``.

    Returns
    -------
    Table
        ``id``, ``z``, ``y``, ``x``, ``class``, ``cluster`` (-1: noise), ``embed_x``,
        ``embed_y``; a run ``points.cluster`` is recorded.
    """
    start = time.perf_counter()
    pts = load_points(ws, points)
    patches = sample_patches(ws.open_array(image, mode="r"), pts, size, bin=bin)
    if callable(features):
        x = np.asarray(features(patches), dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(pts):
            raise PointsError(
                f"The features function returned shape {x.shape}; expected ({len(pts)}, F)"
            )
        kind = getattr(features, "__name__", "callable")
    elif features == "handcrafted":
        x, _ = patch_features(patches)
        kind = "handcrafted"
    else:
        raise PointsError(f"Expected features 'handcrafted' or a function, got {features!r}")
    if on not in ("embedding", "features"):
        raise PointsError(f"Expected on='embedding' or 'features', got {on!r} instead")
    xy = embed_features(x, method=embedding, rng=rng)
    if on == "embedding":
        clusters = cluster_features(xy, min_cluster_size=min_cluster_size, components=None)
    else:
        clusters = cluster_features(x, min_cluster_size=min_cluster_size)
    table = Table(
        {
            "id": pts.ids,
            "z": pts.zyx[:, 0],
            "y": pts.zyx[:, 1],
            "x": pts.zyx[:, 2],
            "class": pts.classes,
            "cluster": clusters,
            "embed_x": xy[:, 0],
            "embed_y": xy[:, 1],
        },
        meta={"points": points, "features": kind, "embedding": embedding, "on": on},
    )
    table.write(ws.path / FOLDER / f"{points}.clusters.csv")
    if out is not None:
        table.write(out)
    if png is not None:
        title = f"{points}: {len(pts)} points, {kind} features, {embedding}"
        scatter_png(xy, clusters, png, classes=pts.classes.tolist(), title=title)
    n_clusters = len(set(clusters.tolist()) - {-1})
    ws.record_run(
        "points.cluster",
        params={
            "points": points,
            "size": _jsonable(size),
            "bin": _jsonable(bin),
            "features": kind,
            "min_cluster_size": min_cluster_size,
            "embedding": embedding,
            "on": on,
            "clusters": n_clusters,
            "noise": int((clusters < 0).sum()),
        },
        inputs=[image],
        duration=time.perf_counter() - start,
    )
    return table
