"""Held-out annotated voxels: validation metrics for shallow models trained on scribbles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np

__all__ = ["holdout_mask", "holdout_metrics"]

_GOLDEN = np.uint64(2654435761)  # Knuth's multiplicative hash


def _mask_block(block: np.ndarray, threshold: int, block_info: Any = None) -> np.ndarray:
    info = block_info[0]
    (z0, z1), (y0, y1), (x0, x1) = info["array-location"]
    _, ny, nx = info["shape"]
    z, y, x = np.ogrid[z0:z1, y0:y1, x0:x1]
    flat = ((z * ny + y) * nx + x).astype(np.uint64)
    return (flat * _GOLDEN) % np.uint64(2**32) < np.uint64(threshold)


def holdout_mask(labels: da.Array, fraction: float) -> da.Array:
    """Lazy bool mask choosing about ``fraction`` of the voxels, pseudo-randomly (a hash of the
    voxel index: the same voxels for the same shape, whatever the chunks)."""
    threshold = int(fraction * 2**32)
    return da.map_blocks(_mask_block, labels, threshold=threshold, dtype=bool)


def holdout_metrics(
    model: Any,
    features: Sequence[da.Array],
    labels: da.Array,
    mask: da.Array,
    *,
    max_per_class: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy and mean IoU of ``model`` on the annotated voxels under ``mask``.

    At most ``max_per_class`` voxels of each class are scored; their features are read from
    the chunks holding them only. Returns ``{}`` when no held-out voxel has a known class.
    """
    held = da.where(mask, labels, 0)
    coords = [np.asarray(c) for c in da.compute(*da.nonzero(held))]
    if not coords or coords[0].size == 0:
        return {}
    truth = np.asarray(held.vindex[tuple(coords)].compute())
    classes = np.asarray(model.classes)
    known = np.isin(truth, classes)
    gen = np.random.default_rng(seed)
    keep = []
    for value in classes:
        where = np.flatnonzero(known & (truth == value))
        if where.size > max_per_class:
            where = gen.choice(where, max_per_class, replace=False)
        keep.append(where)
    chosen = np.sort(np.concatenate(keep))
    if chosen.size == 0:
        return {}
    points = tuple(c[chosen] for c in coords)
    x = np.stack([np.asarray(f.vindex[points].compute()) for f in features], axis=1)
    pred = classes[np.argmax(model.predict_proba(x.astype(np.float32)), axis=1)]
    truth = truth[chosen]
    iou = {}
    for value, name in zip(model.classes, model.class_names):
        t, p = truth == value, pred == value
        if t.any():
            iou[str(name)] = float((t & p).sum() / (t | p).sum())
    return {
        "val_accuracy": float((pred == truth).mean()),
        "val_miou": float(np.mean(list(iou.values()))),
        "val_iou": iou,
        "val_voxels": int(chosen.size),
        "validation": "held-out annotated voxels",
    }
