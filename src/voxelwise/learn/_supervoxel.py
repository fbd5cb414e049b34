"""Array-level supervoxel classification: per-supervoxel features, majority labels from the
annotations, training, prediction with optional MRF refinement, and painting back to voxels."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_rng
from voxelwise.learn._aggregate import supervoxel_statistics
from voxelwise.learn._errors import FeatureMismatchError, LearnError, TrainingDataError
from voxelwise.learn._estimators import parse_classifier
from voxelwise.learn._model import Model
from voxelwise.learn._mrf import DEFAULT_SMOOTHNESS, edge_weights, refine_graph
from voxelwise.learn._sampling import annotated_voxels, read_points
from voxelwise.learn._voxel import as_feature_list, check_classes, class_indices, fit_model

__all__ = [
    "STATISTICS",
    "SupervoxelPrediction",
    "fit_supervoxels",
    "majority_labels",
    "paint",
    "predict_supervoxels",
    "supervoxel_inputs",
]

#: Per-supervoxel statistics a model may use.
STATISTICS = ("mean", "std", "min", "max")


def parse_statistics(statistics: Any) -> tuple[str, ...]:
    items = (statistics,) if isinstance(statistics, str) else tuple(statistics)
    bad = [s for s in items if s not in STATISTICS]
    if not items or bad:
        raise LearnError(
            f"Expected statistics among {', '.join(STATISTICS)}, got {statistics!r} instead"
        )
    return tuple(dict.fromkeys(items))


def _labels_volume(labels: Any, what: str) -> da.Array:
    arr = labels if isinstance(labels, da.Array) else da.from_array(labels, asarray=True)
    if arr.ndim != 3 or np.dtype(arr.dtype).kind not in "biu":
        raise TypeError(
            f"Expected {what} as a (Z, Y, X) integer array, got shape {arr.shape} and dtype "
            f"{arr.dtype} instead"
        )
    return arr


def supervoxel_inputs(
    supervoxels: Any,
    features: Sequence[Any],
    names: Sequence[str],
    statistics: Sequence[str],
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, x, size)``: supervoxel ids (sorted), the (n, F * S) inputs ``feature_stat`` and
    the voxel count of each supervoxel, in one chunked pass over the features (see
    :func:`~voxelwise.learn._aggregate.supervoxel_statistics`)."""
    if len(names) != len(features):
        raise FeatureMismatchError(f"Expected {len(names)} features, got {len(features)}")
    return supervoxel_statistics(
        supervoxels, features, statistics, scheduler=scheduler, progress=progress
    )


def majority_labels(
    supervoxels: Any,
    labels: Any,
    classes: Sequence[int],
    *,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label each annotated supervoxel by the majority of its annotated voxels.

    Returns ``(ids, class_index, votes)``: the supervoxels holding annotated voxels of
    ``classes`` (sorted), the index of the winning class (ties go to the first class), and
    the (n, K) count of annotated voxels per class.
    """
    sv = _labels_volume(supervoxels, "supervoxels")
    lab = _labels_volume(labels, "annotations")
    if lab.shape != sv.shape:
        raise FeatureMismatchError(
            f"The annotations have shape {lab.shape} but the supervoxels {sv.shape} (z, y, x)"
        )
    flat, values = annotated_voxels(lab, scheduler=scheduler, progress=progress)
    idx = class_indices(values, classes)
    flat, idx = flat[idx >= 0], idx[idx >= 0]
    ids = read_points([sv], flat, sv.shape, scheduler=scheduler)[:, 0].astype(np.int64)
    inside = ids > 0
    ids, idx = ids[inside], idx[inside]
    k = len(classes)
    uniq, inverse = np.unique(ids, return_inverse=True)
    votes = np.bincount(inverse * k + idx, minlength=uniq.size * k).reshape(uniq.size, k)
    return uniq, votes.argmax(axis=1), votes


def fit_supervoxels(
    supervoxels: Any,
    features: Any,
    labels: Any,
    *,
    classifier: str = "rf",
    classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    statistics: Sequence[str] = ("mean", "std"),
    class_weight: Any = "balanced",
    params: Mapping[str, Any] | None = None,
    rng: np.random.Generator | int | None = 0,
    inputs: tuple[np.ndarray, np.ndarray] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Model:
    """Train a supervoxel classifier: each supervoxel holding annotated voxels is one sample,
    labelled by their majority, described by statistics of the features over its voxels.

    Parameters
    ----------
    supervoxels : (Z, Y, X) array of int
        Supervoxel ids (0 = none).
    features : dict, list of (Z, Y, X) arrays, or (F, Z, Y, X) array
        Feature volumes.
    labels : (Z, Y, X) array of int
        Annotations (0 unlabelled).
    statistics : sequence of {"mean", "std", "min", "max"}
        Per-supervoxel statistics of every feature used as inputs.
    inputs : (ids, x), optional
        Precomputed :func:`supervoxel_inputs` (reused between retrainings).
    classifier, classes, class_names, class_weight, params, rng, scheduler, progress
        As for :func:`~voxelwise.learn.fit_voxels`.

    Returns
    -------
    Model
        Mode ``"supervoxel"``; apply it with :func:`predict_supervoxels`.
    """
    start = time.perf_counter()
    sv = _labels_volume(supervoxels, "supervoxels")
    names, arrays = as_feature_list(features, sv.shape)
    stats = parse_statistics(statistics)
    classifier = parse_classifier(classifier)
    lab = _labels_volume(labels, "annotations")
    if classes is None:
        _, values = annotated_voxels(lab, scheduler=scheduler)
        classes = [int(v) for v in np.unique(values)]
    classes = [int(c) for c in classes]
    ids, y, votes = majority_labels(sv, lab, classes, scheduler=scheduler)
    check_classes(np.asarray(classes)[y] if y.size else y, "The annotated supervoxels")
    if inputs is None:
        all_ids, x_all, _ = supervoxel_inputs(
            sv, arrays, names, stats, scheduler=scheduler, progress=progress
        )
    else:
        all_ids, x_all = inputs
    rows = np.searchsorted(all_ids, ids)
    x = x_all[rows]
    present = np.unique(y)
    if present.size != len(classes):
        missing = [c for i, c in enumerate(classes) if i not in set(present.tolist())]
        raise TrainingDataError(
            f"No supervoxel has a majority of class value(s) {missing}; annotate more of them"
        )
    seed = int(parse_rng(rng).integers(2**31 - 1))
    return fit_model(
        x,
        y,
        classes=classes,
        class_names=class_names,
        class_weight=class_weight,
        classifier=classifier,
        params=params,
        seed=seed,
        mode="supervoxel",
        features=names,
        training={
            "annotated_supervoxels": int(ids.size),
            "annotated_voxels": int(votes.sum()),
        },
        start=start,
        statistics=stats,
    )


@dataclass(frozen=True, eq=False)
class SupervoxelPrediction:
    """Per-supervoxel results: ``ids`` (n,), ``probabilities`` (n, K) float32 and ``labels``
    (n,) class indices (refined when asked)."""

    ids: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    refined: bool


def refine_supervoxels(
    ids: np.ndarray,
    probabilities: np.ndarray,
    x: np.ndarray,
    rag: Any,
    *,
    smoothness: float = DEFAULT_SMOOTHNESS,
    active: np.ndarray | None = None,
) -> np.ndarray:
    """Class indices after a Potts MRF on the supervoxel adjacency graph ``rag`` (a
    :class:`~voxelwise.supervoxels.RegionAdjacencyGraph`), weighted by feature similarity and
    contact; ``active`` (n,) bool restricts it to some supervoxels (the rest keep argmax)."""
    labels = probabilities.argmax(axis=1).astype(np.int64)
    edges = np.asarray(rag.edges, dtype=np.int64)
    if edges.size == 0:
        return labels
    a = np.searchsorted(ids, edges[:, 0])
    b = np.searchsorted(ids, edges[:, 1])
    ok = (a < ids.size) & (b < ids.size)
    ok &= (ids[np.minimum(a, ids.size - 1)] == edges[:, 0]) & (
        ids[np.minimum(b, ids.size - 1)] == edges[:, 1]
    )
    nodes = np.arange(ids.size) if active is None else np.flatnonzero(active)
    local = np.full(ids.size, -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    a, b, contact = local[a[ok]], local[b[ok]], np.asarray(rag.contact)[ok]
    keep = (a >= 0) & (b >= 0)
    pairs = np.stack([a[keep], b[keep]], axis=1)
    w = edge_weights(x[nodes], pairs, contact=contact[keep])
    labels[nodes] = refine_graph(probabilities[nodes], pairs, w, smoothness=smoothness)
    return labels


def predict_supervoxels(
    model: Model,
    supervoxels: Any,
    features: Any = None,
    *,
    refine: bool = False,
    smoothness: float = DEFAULT_SMOOTHNESS,
    inputs: tuple[np.ndarray, np.ndarray] | None = None,
    rag: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> SupervoxelPrediction:
    """Class probabilities of every supervoxel, and labels (MRF-refined with ``refine``).

    ``features`` as for :func:`fit_supervoxels`, in the model's order (a dict is reordered by
    name); or ``inputs=(ids, x)`` precomputed. ``rag`` is the supervoxels' adjacency graph
    (computed when refining without one).
    """
    if model.mode != "supervoxel":
        raise FeatureMismatchError(
            "This is a voxel model; apply it with voxelwise.learn.predict_voxels"
        )
    sv = _labels_volume(supervoxels, "supervoxels")
    if inputs is None:
        if features is None:
            raise TypeError("Give features= or inputs=")
        if isinstance(features, Mapping):
            missing = [n for n in model.features if n not in features]
            if missing:
                raise FeatureMismatchError(
                    f"The model needs the feature(s) {', '.join(map(repr, missing))}, not given"
                )
            features = {n: features[n] for n in model.features}
        names, arrays = as_feature_list(features, sv.shape)
        if len(arrays) != len(model.features):
            raise FeatureMismatchError(
                f"The model was trained on {len(model.features)} features, got {len(arrays)}"
            )
        ids, x, _ = supervoxel_inputs(
            sv, arrays, names, model.statistics, scheduler=scheduler, progress=progress
        )
    else:
        ids, x = inputs
    proba = model.predict_proba(x) if ids.size else np.empty((0, model.n_classes), np.float32)
    if refine and ids.size:
        if rag is None:
            from voxelwise.supervoxels import region_adjacency

            rag = region_adjacency(sv, scheduler=scheduler)
        labels = refine_supervoxels(ids, proba, x, rag, smoothness=smoothness)
    else:
        labels = proba.argmax(axis=1).astype(np.int64)
    return SupervoxelPrediction(ids=ids, probabilities=proba, labels=labels, refined=bool(refine))


def _paint_block(block: np.ndarray, *, lut: np.ndarray) -> np.ndarray:
    out = lut[np.minimum(block, lut.shape[0] - 1).astype(np.int64)]
    if lut.ndim == 2:
        return np.moveaxis(out, -1, 0)
    return out


def paint(supervoxels: Any, ids: np.ndarray, values: np.ndarray, *, fill: Any = 0) -> da.Array:
    """Lazy volume holding ``values[i]`` on the voxels of supervoxel ``ids[i]`` (``fill``
    elsewhere): (Z, Y, X) for (n,) values, (C, Z, Y, X) for (n, C) values."""
    sv = _labels_volume(supervoxels, "supervoxels")
    values = np.asarray(values)
    top = int(ids.max()) if ids.size else 0
    shape = (top + 2, *values.shape[1:])
    lut = np.full(shape, fill, dtype=values.dtype)  # the last row catches ids beyond ``top``
    lut[ids.astype(np.int64)] = values
    if values.ndim == 1:
        return da.map_blocks(
            _paint_block, sv, lut=lut, dtype=lut.dtype, meta=np.empty((0, 0, 0), lut.dtype)
        )
    return da.map_blocks(
        _paint_block,
        sv,
        lut=lut,
        dtype=lut.dtype,
        new_axis=0,
        chunks=((values.shape[1],), *sv.chunks),
        meta=np.empty((0, 0, 0, 0), lut.dtype),
    )
