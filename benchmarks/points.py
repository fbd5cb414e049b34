"""Objects from their centres: rasterised ellipsoids, then refined by an active contour.

VNC mitochondria (the ground-truth mask's 3D connected components of at least 100 voxels,
6-connectivity) are given only as points: each component's centroid, with a size (the
component's equivalent-sphere diameter in nm, as a user would set per point). Every point
becomes a ball of its size, which is then refined by morphological Chan-Vese (per section,
since the sections are ten times thicker than the pixels) on the Gaussian-smoothed image. The
same is repeated with one typical size for every point (the median diameter: what a user would
set for the whole class). Run from the repository root (reads ``../shared/data``)::

    python benchmarks/points.py
    python benchmarks/points.py --method geodesic

Prints ``iou_rasterized`` and ``iou_refined`` (foreground IoU of all objects against the
ground-truth mask, per-point sizes), the mean per-object IoU of each (``object_iou_*``: each
point's region against its own component), the same with one typical size (``*_typical``),
the settings, counts and timings.

Then clustering: solid balls and hollow shells (two synthetic object classes of the same size and
brightness, in noise) are given as points; patches at the points are described by the
handcrafted features, embedded in 2D (t-SNE) and clustered by HDBSCAN. Prints
``cluster_ari_nN`` (adjusted Rand index of the clusters against the two classes, 1 = perfect),
``cluster_purity_nN`` (the fraction of clustered objects in their cluster's majority class: 1
means no cluster mixes the classes) and ``cluster_noise_nN`` (fraction left unclustered) for N
objects (``--cluster-points``, default 60 and 200), on the embedding (the default) and on the
descriptors (``*_features_nN``), with ``min_cluster_size=10``, and writes the scatter plots
(``--png PATH`` gives ``PATH_N.png``; default ``points_clusters_N.png`` in the temporary folder).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _harness import machine_line

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"


def _ious(pred: np.ndarray, truth: np.ndarray, n: int) -> tuple[float, float]:
    """Foreground IoU, and mean IoU of region k (pred == k) with component k (truth == k)."""
    fg = float(((pred > 0) & (truth > 0)).sum() / max(((pred > 0) | (truth > 0)).sum(), 1))
    both = np.bincount(truth[(pred == truth) & (truth > 0)], minlength=n + 1)[1:]
    p = np.bincount(pred.ravel(), minlength=n + 1)[1 : n + 1]
    t = np.bincount(truth.ravel(), minlength=n + 1)[1 : n + 1]
    return fg, float(np.mean(both / np.maximum(p + t - both, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--method", default="chan_vese", choices=["chan_vese", "geodesic"])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--smoothing", type=int, default=1)
    parser.add_argument("--sigma", type=float, default=2.0, help="Gaussian of the feature (px)")
    parser.add_argument("--margin", type=float, default=0.5)
    parser.add_argument("--min-size", type=int, default=100, help="smallest object, voxels")
    parser.add_argument(
        "--cluster-points", default="60,200", help="synthetic objects per clustering run"
    )
    parser.add_argument("--png", help="scatter plot of the clustering (PNG)")
    args = parser.parse_args()

    from scipy import ndimage

    from voxelwise.analysis import measure
    from voxelwise.blockwise import relabel_sequential
    from voxelwise.data import load_vnc
    from voxelwise.points import Points, ellipsoids, paint, refine_points

    print(machine_line())
    print(f"load_average_start: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    image, mito, meta = load_vnc(DATA, labels="mitochondria")
    image, mito = image.compute(), mito.compute()
    truth, n = ndimage.label(mito)
    sizes = np.bincount(truth.ravel())[1:]
    small = np.flatnonzero(sizes < args.min_size) + 1
    truth[np.isin(truth, small)] = 0
    truth = np.asarray(relabel_sequential(truth)[0]).astype(np.int32)
    n = int(truth.max())
    table = measure(truth, spacing=meta.spacing, surface=False)
    spacing = np.asarray(meta.spacing)
    diam = (6 * np.asarray(table["volume"]) / np.pi) ** (1 / 3)
    size = float(np.median(diam))
    zyx = np.stack([table[f"centroid_{a}"] for a in "zyx"], axis=1)
    ids = np.asarray(table["id"])
    print(f"objects: {n} (components of at least {args.min_size} voxels)")
    print(
        f"size_nm: median {size:.0f}, range {diam.min():.0f}-{diam.max():.0f} (equivalent diameter)"
    )
    print(f"spacing_nm: {tuple(float(s) for s in spacing)}")
    print(
        f"method: {args.method}, iterations {args.iterations}, smoothing {args.smoothing}, "
        f"feature gaussian sigma {args.sigma} px, margin {args.margin}"
    )
    sig = (args.sigma * spacing[2] / spacing[0], args.sigma, args.sigma)
    feature = ndimage.gaussian_filter(image.astype(np.float32), sig)
    runs = {
        "": (Points.from_arrays(zyx, np.ones(n), sizes=diam, ids=ids), None),
        "_typical": (Points.from_arrays(zyx, np.ones(n), ids=ids), size),
    }
    for suffix, (pts, given) in runs.items():
        t0 = time.perf_counter()
        ell = ellipsoids(pts, size=given, spacing=spacing, values="id")
        raster = np.asarray(paint(ell, truth.shape, chunks=(20, 256, 256)).compute())
        t_raster = time.perf_counter() - t0
        t0 = time.perf_counter()
        refined = refine_points(
            pts,
            feature,
            size=given,
            spacing=spacing,
            values="id",
            method=args.method,
            iterations=args.iterations,
            smoothing=args.smoothing,
            margin=args.margin,
            chunks=(20, 256, 256),
        )
        refined = np.asarray(refined.compute())
        t_refine = time.perf_counter() - t0
        iou_r, obj_r = _ious(raster, truth, n)
        iou_f, obj_f = _ious(refined, truth, n)
        print(f"iou_rasterized{suffix}: {iou_r:.3f}")
        print(f"iou_refined{suffix}: {iou_f:.3f}")
        print(f"object_iou_rasterized{suffix}: {obj_r:.3f}")
        print(f"object_iou_refined{suffix}: {obj_f:.3f}")
        print(f"rasterize_seconds{suffix}: {t_raster:.2f}")
        print(f"refine_seconds{suffix}: {t_refine:.1f}")
    for n_points in (int(v) for v in args.cluster_points.split(",")):
        clustering(n_points, args.png)
    print(f"load_average_end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


def clustering(n: int, png: str | None) -> None:
    import tempfile

    from sklearn.metrics import adjusted_rand_score

    from voxelwise.data import balls_and_shells
    from voxelwise.points import (
        Points,
        cluster_features,
        embed_features,
        patch_features,
        sample_patches,
        scatter_png,
    )

    image, centres, classes = balls_and_shells(n, rng=0)  # 8 per row
    pts = Points.from_arrays(centres, classes)
    t0 = time.perf_counter()
    x, _ = patch_features(sample_patches(image, pts, 16))
    xy = embed_features(x, method="tsne", rng=0)
    on_embedding = cluster_features(xy, min_cluster_size=10, components=None)
    seconds = time.perf_counter() - t0
    on_features = cluster_features(x, min_cluster_size=10)
    print(f"cluster_objects: {len(pts)} (two classes: solid balls, hollow shells)")
    for suffix, clusters in ((f"_n{n}", on_embedding), (f"_features_n{n}", on_features)):
        kept = clusters >= 0
        purity = 0.0
        if kept.any():
            hits = 0
            for c in np.unique(clusters[kept]):
                members = pts.classes[clusters == c]
                hits += int(np.bincount(members).max())
            purity = hits / int(kept.sum())
        ari = adjusted_rand_score(pts.classes, clusters)
        print(f"cluster_ari{suffix}: {ari:.3f}")
        print(f"cluster_purity{suffix}: {purity:.3f}")
        print(f"cluster_noise{suffix}: {float((~kept).mean()):.3f}")
        print(f"clusters{suffix}: {len(set(clusters.tolist()) - {-1})}")
    folder = Path(png).parent if png else Path(tempfile.gettempdir())
    stem = Path(png).stem if png else "points_clusters"
    target = str(folder / f"{stem}_{n}.png")
    scatter_png(xy, on_embedding, target, classes=pts.classes.tolist(), title="balls vs shells")
    print(f"cluster_seconds_n{n}: {seconds:.1f}")
    print(f"cluster_png_n{n}: {target}")


if __name__ == "__main__":
    main()
