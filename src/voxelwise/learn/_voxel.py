"""Array-level voxel classification: train on annotated voxels, predict every voxel chunkwise."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise._validate import parse_rng
from voxelwise.learn._errors import FeatureMismatchError, TrainingDataError
from voxelwise.learn._estimators import fit_estimator, parse_classifier
from voxelwise.learn._model import Model
from voxelwise.learn._sampling import annotated_voxels, balanced_sample, read_points
from voxelwise.workspace import default_color

__all__ = [
    "DEFAULT_MAX_PER_CLASS",
    "as_feature_list",
    "confidence_maps",
    "fit_voxels",
    "labels_from_probabilities",
    "predict_voxels",
    "probabilities_block",
]

#: Default cap on the training voxels sampled per class.
DEFAULT_MAX_PER_CLASS = 25_000


def as_feature_list(
    features: Any, shape: Sequence[int] | None = None
) -> tuple[list[str], list[da.Array]]:
    """Names and lazy arrays of features given as a dict, a sequence of (Z, Y, X) arrays, or a
    (F, Z, Y, X) array; all must share one (Z, Y, X) shape (``shape`` when given)."""
    if isinstance(features, Mapping):
        names = [str(k) for k in features]
        items = list(features.values())
    elif hasattr(features, "ndim") and features.ndim == 4:
        items = [features[i] for i in range(features.shape[0])]
        names = [f"feature_{i}" for i in range(len(items))]
    elif isinstance(features, Sequence) and not isinstance(features, str):
        items = list(features)
        names = [f"feature_{i}" for i in range(len(items))]
    else:
        raise TypeError(
            "Expected features as a dict of name to (Z, Y, X) array, a list of (Z, Y, X) arrays "
            f"or a (F, Z, Y, X) array, got {type(features).__name__} instead"
        )
    if not items:
        raise FeatureMismatchError("No features given; pass at least one feature array")
    arrays = []
    want = None if shape is None else tuple(int(s) for s in shape)
    for name, item in zip(names, items):
        if not hasattr(item, "shape") or not hasattr(item, "dtype"):
            raise TypeError(f"Expected feature {name!r} as an array, got {type(item).__name__}")
        got = tuple(int(s) for s in item.shape)
        if want is None:
            want = got
        if len(got) != 3 or got != want:
            raise FeatureMismatchError(
                f"Feature {name!r} has shape {got}, but the labels/other features have shape "
                f"{want} (z, y, x); every feature must match voxel for voxel"
            )
        if np.dtype(item.dtype).kind not in "biuf":
            raise TypeError(f"Expected a real-valued feature {name!r}, got dtype {item.dtype}")
        arrays.append(item if isinstance(item, da.Array) else da.from_array(item, asarray=True))
    return names, arrays


def class_indices(values: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    """Index of each value in ``classes`` (-1 for values that are not a class)."""
    lookup = np.asarray(classes, dtype=np.int64)
    order = np.argsort(lookup)
    pos = np.searchsorted(lookup[order], values)
    pos = np.minimum(pos, len(lookup) - 1)
    hit = lookup[order][pos] == values
    return np.where(hit, order[pos], -1)


def check_classes(values: np.ndarray, what: str = "The annotations") -> None:
    """Refuse training data with no sample or a single class, saying what to annotate."""
    present = np.unique(values)
    if present.size == 0:
        raise TrainingDataError(
            f"{what} hold no annotated voxels of the classes to train; paint some strokes of at "
            "least two labels first (0 means unlabelled)"
        )
    if present.size < 2:
        raise TrainingDataError(
            f"{what} hold only one class (value {int(present[0])}); at least two classes are "
            "needed to train a classifier: annotate some voxels of another label (e.g. "
            "background) too"
        )


def fit_voxels(
    features: Any,
    labels: Any,
    *,
    classifier: str = "rf",
    classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    class_weight: Any = "balanced",
    max_per_class: int | None = DEFAULT_MAX_PER_CLASS,
    params: Mapping[str, Any] | None = None,
    rng: np.random.Generator | int | None = 0,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Model:
    """Train a voxel classifier on the annotated voxels of ``labels``.

    Parameters
    ----------
    features : dict of str to (Z, Y, X) array, list of (Z, Y, X) arrays, or (F, Z, Y, X) array
        Feature volumes (NumPy, dask or zarr); only the chunks holding annotated voxels are read.
    labels : (Z, Y, X) array of int
        Annotations: 0 is unlabelled, every other value a class.
    classifier : str
        ``"rf"`` (default), ``"extra_trees"``, ``"hgb"``, ``"svm"`` or ``"logistic"``.
    classes : sequence of int, optional
        The label values to train on (others are ignored); default every non-zero value found.
    class_names : sequence of str, optional
        Names of ``classes`` (default ``label_<value>``).
    class_weight : "balanced", None, or dict of value to weight
        ``"balanced"`` weighs classes inversely to their sample counts.
    max_per_class : int or None
        Cap on the voxels sampled per class (a deterministic, stable sample); None keeps all.
    params : dict, optional
        Classifier parameters overriding the defaults (see :data:`CLASSIFIERS`).
    rng : Generator, int or None
        Seeds the sample and the classifier.
    scheduler, progress
        See :mod:`voxelwise._compute`.

    Returns
    -------
    Model
        Mode ``"voxel"``; apply it with :func:`predict_voxels`.

    Raises
    ------
    TrainingDataError
        No annotated voxels, or a single class.
    FeatureMismatchError
        Features missing or of another shape than ``labels``.
    """
    start = time.perf_counter()
    lab = labels if isinstance(labels, da.Array) else da.from_array(labels, asarray=True)
    if lab.ndim != 3 or np.dtype(lab.dtype).kind not in "biu":
        raise TypeError(
            f"Expected labels as a (Z, Y, X) integer array, got shape {lab.shape} and dtype "
            f"{lab.dtype} instead"
        )
    names, arrays = as_feature_list(features, lab.shape)
    classifier = parse_classifier(classifier)
    flat, values = annotated_voxels(lab, scheduler=scheduler)
    if classes is None:
        classes = [int(v) for v in np.unique(values)]
    classes = [int(c) for c in classes]
    idx = class_indices(values, classes)
    flat, values, idx = flat[idx >= 0], values[idx >= 0], idx[idx >= 0]
    check_classes(values)
    seed = int(parse_rng(rng).integers(2**31 - 1))
    keep = balanced_sample(flat, idx, max_per_class=max_per_class, seed=seed)
    x = read_points(arrays, flat[keep], lab.shape, scheduler=scheduler, progress=progress)
    y = idx[keep]
    present = np.unique(y)
    if present.size != len(classes):
        missing = [classes[i] for i in range(len(classes)) if i not in set(present.tolist())]
        raise TrainingDataError(
            f"No annotated voxels of class value(s) {missing}; annotate them or leave them out "
            "of classes="
        )
    return fit_model(
        x,
        y,
        classes=classes,
        class_names=class_names,
        class_weight=class_weight,
        classifier=classifier,
        params=params,
        seed=seed,
        mode="voxel",
        features=names,
        training={"annotated_voxels": int(flat.size)},
        start=start,
    )


def fit_model(
    x: np.ndarray,
    y: np.ndarray,
    *,
    classes: Sequence[int],
    class_names: Sequence[str] | None,
    class_weight: Any,
    classifier: str,
    params: Mapping[str, Any] | None,
    seed: int,
    mode: str,
    features: Sequence[str],
    training: Mapping[str, Any],
    start: float,
    **extra: Any,
) -> Model:
    """Fit the estimator on (N, F) samples ``x`` with class indices ``y`` and wrap it in a Model.

    Shared by voxel and supervoxel mode; ``training`` gets the per-class sample counts and the
    seconds since ``start``; ``extra`` goes to :class:`Model` (e.g. ``statistics``).
    """
    weight = class_weight
    if isinstance(class_weight, Mapping):
        weight = {classes.index(int(k)): w for k, w in class_weight.items() if int(k) in classes}
    predictor, used = fit_estimator(
        x,
        y,
        n_classes=len(classes),
        classifier=classifier,
        params=params,
        class_weight=weight,
        rng=seed,
    )
    names_out = (
        tuple(class_names) if class_names is not None else tuple(f"label_{c}" for c in classes)
    )
    return Model(
        predictor=predictor,
        classes=tuple(classes),
        class_names=names_out,
        colors=tuple(default_color(c) for c in classes),
        mode=mode,
        classifier=classifier,
        params=used,
        features=tuple(features),
        recipe=tuple({"name": n, "source": None, "filter": None} for n in features),
        training={
            **training,
            "samples_per_class": np.bincount(y, minlength=len(classes)).tolist(),
            "seconds": round(time.perf_counter() - start, 3),
        },
        **extra,
    )


def probabilities_block(*blocks: np.ndarray, model: Model) -> np.ndarray:
    """(K, z, y, x) float32 probabilities of one chunk from its F feature blocks."""
    shape = blocks[0].shape
    n = int(np.prod(shape))
    out = np.empty((model.n_classes, n), dtype=np.float32)
    step = 1 << 17
    for start in range(0, n, step):
        stop = min(start + step, n)
        x = np.empty((stop - start, len(blocks)), dtype=np.float32)
        for j, b in enumerate(blocks):
            x[:, j] = b.reshape(-1)[start:stop]
        out[:, start:stop] = model.predictor.predict_proba(x).T
    return out.reshape((model.n_classes, *shape))


def predict_voxels(model: Model, features: Any, *, chunks: Any = None) -> da.Array:
    """Lazy (K, Z, Y, X) float32 class probabilities of every voxel, chunk by chunk.

    ``features`` are given as for :func:`fit_voxels`, in the model's feature order (a dict is
    reordered by the model's feature names). ``chunks`` rechunks them first (z, y, x).
    """
    if model.mode != "voxel":
        raise FeatureMismatchError(
            "This is a supervoxel model; apply it to a workspace with voxelwise.learn.predict"
        )
    if isinstance(features, Mapping):
        missing = [n for n in model.features if n not in features]
        if missing:
            raise FeatureMismatchError(
                f"The model needs the feature(s) {', '.join(map(repr, missing))}, which were not "
                f"given; it was trained on {', '.join(model.features)}"
            )
        features = {n: features[n] for n in model.features}
    _, arrays = as_feature_list(features)
    if len(arrays) != len(model.features):
        raise FeatureMismatchError(
            f"The model was trained on {len(model.features)} features "
            f"({', '.join(model.features)}), got {len(arrays)} instead"
        )
    first = arrays[0] if chunks is None else arrays[0].rechunk(chunks)
    arrays = [first] + [a.rechunk(first.chunks) for a in arrays[1:]]
    return da.map_blocks(
        probabilities_block,
        *arrays,
        model=model,
        dtype=np.float32,
        new_axis=0,
        chunks=((model.n_classes,), *first.chunks),
        meta=np.empty((0, 0, 0, 0), dtype=np.float32),
        name=f"vw-learn-predict-{tokenize(model.token, *arrays)}",
    )


def _labels_block(p: np.ndarray, *, lut: np.ndarray) -> np.ndarray:
    best = p.argmax(axis=0)
    out = lut[best]
    out[p.max(axis=0) <= 0] = 0
    return out


def labels_from_probabilities(
    probabilities: Any, classes: Sequence[int], *, dtype: Any = None
) -> da.Array:
    """Lazy (Z, Y, X) labels: the value of the most probable class per voxel (0 where every
    probability is 0, e.g. outside a parent's region)."""
    p = probabilities if isinstance(probabilities, da.Array) else da.from_array(probabilities)
    values = np.asarray(classes, dtype=np.int64)
    dt = np.dtype(dtype) if dtype is not None else np.min_scalar_type(max(int(values.max()), 255))
    lut = values.astype(dt)
    return da.map_blocks(
        _labels_block, p, lut=lut, drop_axis=0, dtype=dt, meta=np.empty((0, 0, 0), dt)
    )


def _confidence_block(p: np.ndarray) -> np.ndarray:
    k = p.shape[0]
    top = p.max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    entropy = -terms.sum(axis=0) / np.log(k) if k > 1 else np.zeros_like(top)
    entropy = np.where(top > 0, entropy, 0.0)
    return np.stack([top, np.clip(entropy, 0.0, 1.0)]).astype(np.float32)


def confidence_maps(probabilities: Any) -> da.Array:
    """Lazy (2, Z, Y, X) float32: the maximum probability, and the entropy of the class
    probabilities divided by log(K) (0 = certain, 1 = uniform)."""
    p = probabilities if isinstance(probabilities, da.Array) else da.from_array(probabilities)
    return da.map_blocks(
        _confidence_block,
        p,
        dtype=np.float32,
        chunks=((2,), *p.chunks[1:]),
        meta=np.empty((0, 0, 0, 0), np.float32),
    )
