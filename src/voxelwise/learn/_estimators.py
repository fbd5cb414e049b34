"""The classifiers: names, defaults, parameter checks, and fitting with scikit-learn.

Fitting returns a :class:`~voxelwise.learn._predictors.Predictor` (arrays only), so a trained
model never holds, saves or loads a scikit-learn object.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.learn._errors import LearnError, TrainingDataError
from voxelwise.learn._plugins import fit_plugin, is_plugin, plugin_defaults, plugin_params
from voxelwise.learn._predictors import (
    BoostingPredictor,
    ForestPredictor,
    LinearPredictor,
    Predictor,
)

__all__ = [
    "CLASSIFIERS",
    "default_params",
    "fit_estimator",
    "parse_class_weight",
    "parse_classifier",
]

#: Classifier names and their default parameters (passed to the scikit-learn estimator; the SVM's
#: ``n_components`` is the number of random Fourier features, ``gamma`` their RBF width on
#: standardised features, ``"scale"`` meaning 1 / n_features).
CLASSIFIERS: dict[str, dict[str, Any]] = {
    "rf": {
        "n_estimators": 100,
        "max_depth": None,
        "min_samples_leaf": 1,
        "max_features": "sqrt",
        "n_jobs": -1,
    },
    "extra_trees": {
        "n_estimators": 100,
        "max_depth": None,
        "min_samples_leaf": 1,
        "max_features": "sqrt",
        "n_jobs": -1,
    },
    "hgb": {
        "max_iter": 100,
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "l2_regularization": 0.0,
        "early_stopping": "auto",
    },
    "svm": {"C": 1.0, "gamma": "scale", "n_components": 300},
    "logistic": {"C": 1.0, "max_iter": 1000},
}

_SMALL = 50_000  # training sets below this many samples fit boosting on one thread

_ALIASES = {
    "random_forest": "rf",
    "randomforest": "rf",
    "et": "extra_trees",
    "extratrees": "extra_trees",
    "gradient_boosting": "hgb",
    "hist_gradient_boosting": "hgb",
    "gbm": "hgb",
    "linear_svm": "svm",
    "logreg": "logistic",
    "logistic_regression": "logistic",
}


def parse_classifier(name: Any) -> str:
    """The canonical classifier name (``"rf"``, ``"extra_trees"``, ``"hgb"``, ``"svm"``,
    ``"logistic"``); aliases such as ``"random_forest"`` are accepted, and dotted names
    (``"package.name"``) are plugin classifiers (see :mod:`voxelwise.plugins`)."""
    if not isinstance(name, str):
        raise TypeError(f"Expected the classifier as a name, got {name!r} instead")
    if is_plugin(name.strip()):  # package.name: a plugin classifier (checked when fitted)
        _ = plugin_defaults(name.strip())
        return name.strip()
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in CLASSIFIERS:
        raise LearnError(
            f"Unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)} (random "
            "forest, extra trees, histogram gradient boosting, SVM, logistic regression) or a "
            "plugin classifier by its dotted name (voxelwise plugins list)"
        )
    return key


def default_params(classifier: str) -> dict[str, Any]:
    """The default parameters of a classifier (a fresh dict)."""
    name = parse_classifier(classifier)
    if is_plugin(name):
        return plugin_defaults(name)
    return dict(CLASSIFIERS[name])


def _merged(classifier: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    out = default_params(classifier)
    if params is None:
        return out
    if not isinstance(params, Mapping):
        raise TypeError(f"Expected classifier params as a dict, got {params!r} instead")
    allowed = set(_sklearn_class(classifier)().get_params()) | set(out)
    allowed -= {"class_weight", "random_state", "verbose", "warm_start"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise LearnError(
            f"The classifier {classifier!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {', '.join(sorted(allowed))}"
        )
    out.update(params)
    return out


def _sklearn_class(classifier: str) -> Any:
    from sklearn import ensemble, linear_model, svm

    return {
        "rf": ensemble.RandomForestClassifier,
        "extra_trees": ensemble.ExtraTreesClassifier,
        "hgb": ensemble.HistGradientBoostingClassifier,
        "svm": svm.LinearSVC,
        "logistic": linear_model.LogisticRegression,
    }[classifier]


def parse_class_weight(class_weight: Any, n_classes: int) -> dict[int, float] | str | None:
    """``"balanced"``, ``None``, or a weight per class index (from a per-index sequence or a
    mapping already translated to indices)."""
    if class_weight is None or class_weight == "balanced":
        return class_weight
    if isinstance(class_weight, Mapping):
        weights = dict(class_weight)
    elif isinstance(class_weight, list | tuple | np.ndarray):
        weights = dict(enumerate(class_weight))
    else:
        raise TypeError(
            f"Expected class_weight as 'balanced', None or a weight per class, got "
            f"{class_weight!r} instead"
        )
    out = {}
    for k, w in weights.items():
        if not 0 <= int(k) < n_classes:
            raise LearnError(f"class_weight names class index {k}, but there are {n_classes}")
        if not (np.isfinite(float(w)) and float(w) > 0):
            raise LearnError(f"Expected positive class weights, got {w!r} for class {k}")
        out[int(k)] = float(w)
    return out


def _check_training(x: np.ndarray, y: np.ndarray, n_classes: int, classifier: str) -> None:
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise LearnError(
            f"Expected features (N, F) and labels (N,), got {x.shape} and {y.shape} instead"
        )
    present = np.unique(y)
    if present.size < 2:
        raise TrainingDataError(
            f"The training data holds only {present.size} class; at least two classes are "
            "needed to train a classifier: annotate some voxels of another label (e.g. "
            "background) too"
        )
    if present.min() < 0 or present.max() >= n_classes:
        raise LearnError(f"Expected class indices 0..{n_classes - 1}, got {present.tolist()}")
    if classifier in ("svm", "logistic") and not np.isfinite(x).all():
        raise LearnError(
            f"The features hold NaN or infinite values at {int((~np.isfinite(x)).any(1).sum())} "
            f"training samples; the {classifier!r} classifier needs finite features. Use a tree "
            "classifier (rf, extra_trees, hgb), which handles missing values, or fix the features"
        )


def fit_estimator(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    classifier: str = "rf",
    params: Mapping[str, Any] | None = None,
    class_weight: Any = "balanced",
    rng: np.random.Generator | int | None = None,
) -> tuple[Predictor, dict[str, Any]]:
    """Fit a classifier on (N, F) features and class indices ``y`` in ``0..n_classes-1``.

    Returns the fitted predictor and the parameters used (JSON-able). Every class index must be
    present in ``y``: the probability columns are the class indices in order.
    """
    classifier = parse_classifier(classifier)
    p = plugin_params(classifier, params) if is_plugin(classifier) else _merged(classifier, params)
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    _check_training(x, y, n_classes, classifier)
    if np.unique(y).size != n_classes:
        raise TrainingDataError(
            f"Every class needs training samples; got samples of classes "
            f"{np.unique(y).tolist()} out of 0..{n_classes - 1}"
        )
    if is_plugin(classifier):
        return fit_plugin(classifier, x, y, n_classes, p)
    seed = int(parse_rng(rng).integers(2**31 - 1))
    weight = parse_class_weight(class_weight, n_classes)
    start = time.perf_counter()
    if classifier in ("rf", "extra_trees", "hgb"):
        est = _sklearn_class(classifier)(**p, class_weight=weight, random_state=seed)
        if classifier == "hgb" and x.shape[0] < _SMALL:
            # OpenMP threads cost far more than they save on small training sets (seconds
            # instead of milliseconds on a busy machine), so boost on one thread there.
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="openmp"):
                est.fit(x.astype(np.float32), y)
        else:
            est.fit(x.astype(np.float32), y)
        predictor: Predictor = (
            BoostingPredictor.from_sklearn(est)
            if classifier == "hgb"
            else ForestPredictor.from_sklearn(est)
        )
    elif classifier == "logistic":
        predictor = _fit_logistic(x, y, n_classes, p, weight, seed)
    else:
        predictor = _fit_svm(x, y, n_classes, p, weight, seed)
    used = {k: v for k, v in p.items() if k != "n_jobs"}
    used["fit_seconds"] = round(time.perf_counter() - start, 3)
    used["random_state"] = seed
    return predictor, used


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return (x - mean) / scale, mean, scale


def _fold_standardize(
    w: np.ndarray, b: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weights on raw features equal to standardising first: (x - m) / s @ W + b."""
    w_raw = w / scale[:, None]
    return w_raw, b - mean @ w_raw


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, n_classes: int, p: dict[str, Any], weight: Any, seed: int
) -> LinearPredictor:
    from sklearn.linear_model import LogisticRegression

    xs, mean, scale = _standardize(x.astype(np.float64))
    est = LogisticRegression(**p, class_weight=weight, random_state=seed).fit(xs, y)
    w, b = _fold_standardize(est.coef_.T, est.intercept_, mean, scale)
    return LinearPredictor(x.shape[1], n_classes, [("affine", w, b)])


def _fit_svm(
    x: np.ndarray, y: np.ndarray, n_classes: int, p: dict[str, Any], weight: Any, seed: int
) -> LinearPredictor:
    """Linear SVM on random Fourier features of the standardised features (an RBF-kernel SVM
    approximated in linear time), with Platt scaling fitted on out-of-fold decision values."""
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.svm import LinearSVC

    q = dict(p)
    n_components = int(q.pop("n_components"))
    gamma = q.pop("gamma")
    xs, mean, scale = _standardize(x.astype(np.float64))
    gamma = 1.0 / x.shape[1] if gamma == "scale" else float(gamma)
    rff = RBFSampler(gamma=gamma, n_components=n_components, random_state=seed).fit(xs)
    z = rff.transform(xs)
    svm = LinearSVC(**q, class_weight=weight, random_state=seed)
    folds = int(min(3, np.bincount(y).min()))
    if folds >= 2:
        decision = cross_val_predict(svm, z, y, cv=folds, method="decision_function")
    else:
        decision = svm.fit(z, y).decision_function(z)
    svm.fit(z, y)
    decision = decision.reshape(len(y), -1)
    platt = LogisticRegression(C=100.0, max_iter=1000).fit(decision, y)
    w_rff, b_rff = _fold_standardize(rff.random_weights_, rff.random_offset_, mean, scale)
    w_svm = svm.coef_.T
    b_svm = np.atleast_1d(svm.intercept_)
    # SVM scores then Platt scaling: two affine maps, fused into one.
    w = w_svm @ platt.coef_.T
    b = b_svm @ platt.coef_.T + platt.intercept_
    return LinearPredictor(x.shape[1], n_classes, [("cosine", w_rff, b_rff), ("affine", w, b)])
