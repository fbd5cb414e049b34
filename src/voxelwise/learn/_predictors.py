"""Fitted classifiers held as plain arrays: prediction and a pickle-free serialisation.

A model file must never run code when it is opened, so fitted estimators are not pickled.
Each predictor here exports itself as JSON-able metadata plus named NumPy arrays (stored in an
``.npz`` read with ``allow_pickle=False``) and is rebuilt from them:

- tree ensembles (random forest, extra trees) keep every tree's node arrays (children,
  feature, threshold, missing-value side, class fractions). On loading, each tree is rebuilt as
  a :class:`sklearn.tree._tree.Tree` from those arrays (``Tree.__setstate__`` takes plain
  arrays, the same state its pickle support uses), so prediction runs in scikit-learn's
  compiled traversal instead of a slow Python loop;
- histogram gradient boosting keeps each iteration's tree nodes and the baseline, rebuilt as
  scikit-learn ``TreePredictor`` objects (compiled traversal again), with the sigmoid or
  softmax link applied here;
- linear models (logistic regression; the SVM as random Fourier features of the standardised
  features, a linear SVM and a Platt scaling) are chains of affine maps, cosine features and a
  link, evaluated with NumPy.

Only node fields that prediction reads are stored; fields a newer scikit-learn adds to its node
records are filled with zeros, so files stay loadable across versions.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelwise.learn._errors import FeatureMismatchError, ModelFileError

__all__ = [
    "BoostingPredictor",
    "ForestPredictor",
    "LinearPredictor",
    "Predictor",
    "predictor_from_arrays",
]

_BATCH = 1 << 17  # rows per prediction batch: bounds the temporary memory


def _check_x(x: Any, n_features: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise FeatureMismatchError(
            f"The classifier was trained on {n_features} features, got an array of shape "
            f"{arr.shape} instead; give (n_samples, {n_features}) features in the training order"
        )
    return arr


class Predictor(abc.ABC):
    """Base class: ``predict_proba(x) -> (N, K) float32`` and array export."""

    kind = ""

    def __init__(self, n_features: int, n_classes: int) -> None:
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities of (N, F) features as an (N, K) float32 array (rows sum to 1)."""
        arr = _check_x(x, self.n_features)
        out = np.empty((arr.shape[0], self.n_classes), dtype=np.float32)
        for start in range(0, arr.shape[0], _BATCH):
            stop = min(start + _BATCH, arr.shape[0])
            out[start:stop] = self._proba(arr[start:stop])
        return out

    @abc.abstractmethod
    def _proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of one batch of (N, F) float features."""

    @abc.abstractmethod
    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(metadata, arrays) that :func:`predictor_from_arrays` turns back into a predictor."""


# -- tree ensembles ---------------------------------------------------------------------------


class ForestPredictor(Predictor):
    """Average of decision trees' class fractions (random forest, extra trees)."""

    kind = "forest"

    def __init__(self, n_features: int, n_classes: int, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__(n_features, n_classes)
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        offsets = self.arrays["offsets"]
        if offsets.ndim != 1 or offsets.size < 2 or offsets[-1] != self.arrays["left"].size:
            raise ModelFileError("The forest's node arrays are inconsistent; the file is damaged")
        self._trees = [self._tree(i) for i in range(offsets.size - 1)]

    @classmethod
    def from_sklearn(cls, forest: Any) -> ForestPredictor:
        trees = [est.tree_ for est in forest.estimators_]
        counts = [t.node_count for t in trees]
        n_classes = int(forest.n_classes_)

        def cat(get: Any) -> np.ndarray:
            return np.concatenate([get(t) for t in trees])

        arrays = {
            "offsets": np.r_[0, np.cumsum(counts)].astype(np.int64),
            "depth": np.array([t.max_depth for t in trees], dtype=np.int64),
            "left": cat(lambda t: t.children_left).astype(np.int64),
            "right": cat(lambda t: t.children_right).astype(np.int64),
            "feature": cat(lambda t: t.feature).astype(np.int64),
            "threshold": cat(lambda t: t.threshold).astype(np.float64),
            "missing_left": cat(lambda t: t.missing_go_to_left).astype(np.uint8),
            "value": cat(lambda t: t.value[:, 0, :n_classes]).astype(np.float64),
        }
        return cls(int(forest.n_features_in_), n_classes, arrays)

    def _tree(self, i: int) -> Any:
        from sklearn.tree._tree import NODE_DTYPE, Tree

        a = self.arrays
        lo, hi = int(a["offsets"][i]), int(a["offsets"][i + 1])
        nodes = np.zeros(hi - lo, dtype=NODE_DTYPE)
        nodes["left_child"] = a["left"][lo:hi]
        nodes["right_child"] = a["right"][lo:hi]
        nodes["feature"] = a["feature"][lo:hi]
        nodes["threshold"] = a["threshold"][lo:hi]
        if "missing_go_to_left" in (NODE_DTYPE.names or ()):
            nodes["missing_go_to_left"] = a["missing_left"][lo:hi]
        inner = nodes["left_child"] >= 0
        if (inner & (nodes["feature"] >= self.n_features)).any() or (
            nodes["left_child"][inner] >= hi - lo
        ).any():
            raise ModelFileError(f"Tree {i} of the forest refers to missing nodes or features")
        tree = Tree(self.n_features, np.array([self.n_classes], dtype=np.intp), 1)
        values = np.ascontiguousarray(a["value"][lo:hi, None, :], dtype=np.float64)
        tree.__setstate__(
            {
                "max_depth": int(a["depth"][i]),
                "node_count": hi - lo,
                "nodes": nodes,
                "values": values,
            }
        )
        return tree

    def _proba(self, x: np.ndarray) -> np.ndarray:
        xf = np.ascontiguousarray(x, dtype=np.float32)
        total = np.zeros((xf.shape[0], self.n_classes), dtype=np.float64)
        for tree in self._trees:
            p = tree.predict(xf)[:, : self.n_classes]
            total += p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        return total / len(self._trees)

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_trees": len(self._trees)}, dict(self.arrays)


# -- histogram gradient boosting --------------------------------------------------------------

_HGB_FIELDS = {
    "value": ("value", np.float64),
    "feature": ("feature_idx", np.int64),
    "threshold": ("num_threshold", np.float64),
    "missing_left": ("missing_go_to_left", np.uint8),
    "left": ("left", np.int64),
    "right": ("right", np.int64),
    "is_leaf": ("is_leaf", np.uint8),
}


class BoostingPredictor(Predictor):
    """Sum of boosted regression trees on the raw scale, then sigmoid (2 classes) or softmax."""

    kind = "boosting"

    def __init__(self, n_features: int, n_classes: int, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__(n_features, n_classes)
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.n_outputs = 1 if n_classes == 2 else n_classes
        baseline = self.arrays["baseline"].reshape(-1)
        offsets = self.arrays["offsets"]
        if baseline.size != self.n_outputs or (offsets.size - 1) % self.n_outputs:
            raise ModelFileError(
                "The boosting model's arrays are inconsistent; the file is damaged"
            )
        self._trees = [self._tree(i) for i in range(offsets.size - 1)]

    @classmethod
    def from_sklearn(cls, model: Any) -> BoostingPredictor:
        predictors = [p for iteration in model._predictors for p in iteration]
        nodes = [p.nodes for p in predictors]
        arrays: dict[str, np.ndarray] = {
            "offsets": np.r_[0, np.cumsum([len(n) for n in nodes])].astype(np.int64),
            "baseline": np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1),
        }
        for key, (field, dtype) in _HGB_FIELDS.items():
            arrays[key] = np.concatenate([n[field] for n in nodes]).astype(dtype)
        if np.concatenate([n["is_categorical"] for n in nodes]).any():
            raise ValueError("Categorical splits are not supported in voxelwise models")
        return cls(int(model.n_features_in_), len(model.classes_), arrays)

    def _tree(self, i: int) -> Any:
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        a = self.arrays
        lo, hi = int(a["offsets"][i]), int(a["offsets"][i + 1])
        nodes = np.zeros(hi - lo, dtype=PREDICTOR_RECORD_DTYPE)
        for key, (field, _) in _HGB_FIELDS.items():
            nodes[field] = a[key][lo:hi]
        inner = nodes["is_leaf"] == 0
        if (nodes["feature_idx"][inner] >= self.n_features).any() or (
            np.maximum(nodes["left"], nodes["right"])[inner] >= hi - lo
        ).any():
            raise ModelFileError(f"Tree {i} of the boosting model refers to missing nodes")
        empty = np.zeros((0, 8), dtype=np.uint32)
        return TreePredictor(nodes, empty, empty)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        xf = np.ascontiguousarray(x, dtype=np.float64)
        raw = np.tile(self.arrays["baseline"].reshape(1, -1), (xf.shape[0], 1))
        known = np.zeros((0, 8), dtype=np.uint32)
        f_idx = np.zeros(self.n_features, dtype=np.uint32)
        for i, tree in enumerate(self._trees):
            raw[:, i % self.n_outputs] += tree.predict(xf, known, f_idx, 1)
        return _link(raw, self.n_classes)

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"n_trees": len(self._trees)}, dict(self.arrays)


# -- linear chains ----------------------------------------------------------------------------


def _link(raw: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities from raw scores: sigmoid of one column for 2 classes, else softmax."""
    if n_classes == 2 and raw.shape[1] == 1:
        p1 = 1.0 / (1.0 + np.exp(-np.clip(raw[:, 0], -60, 60)))
        return np.stack([1.0 - p1, p1], axis=1)
    shifted = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


class LinearPredictor(Predictor):
    """A chain of steps on the features: ``affine`` (x @ W + b) and ``cosine``
    (scale * cos(x @ W + b), random Fourier features), then the sigmoid/softmax link."""

    kind = "linear"

    def __init__(
        self, n_features: int, n_classes: int, steps: list[tuple[str, np.ndarray, np.ndarray]]
    ) -> None:
        super().__init__(n_features, n_classes)
        width = self.n_features
        for op, w, b in steps:
            if op not in ("affine", "cosine") or w.ndim != 2 or w.shape[0] != width:
                raise ModelFileError("The linear model's steps do not fit together")
            if b.shape != (w.shape[1],):
                raise ModelFileError("The linear model's offsets do not fit its weights")
            width = w.shape[1]
        if width != (1 if n_classes == 2 else n_classes) and width != n_classes:
            raise ModelFileError("The linear model's output does not match its classes")
        self.steps = [
            (op, np.asarray(w, np.float64), np.asarray(b, np.float64)) for op, w, b in steps
        ]

    def _proba(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float64)
        for op, w, b in self.steps:
            h = h @ w + b
            if op == "cosine":
                h = np.sqrt(2.0 / w.shape[1]) * np.cos(h)
        return _link(h, self.n_classes)

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        for i, (_, w, b) in enumerate(self.steps):
            arrays[f"w{i}"] = w
            arrays[f"b{i}"] = b
        return {"steps": [op for op, _, _ in self.steps]}, arrays


def predictor_from_arrays(
    kind: str, n_features: int, n_classes: int, meta: Mapping[str, Any], arrays: Mapping[str, Any]
) -> Predictor:
    """Rebuild a predictor from :meth:`Predictor.to_arrays` output (as stored in a model file)."""
    try:
        if kind == ForestPredictor.kind:
            return ForestPredictor(n_features, n_classes, arrays)
        if kind == BoostingPredictor.kind:
            return BoostingPredictor(n_features, n_classes, arrays)
        if kind == LinearPredictor.kind:
            ops = list(meta["steps"])
            steps = [
                (str(op), np.asarray(arrays[f"w{i}"]), np.asarray(arrays[f"b{i}"]))
                for i, op in enumerate(ops)
            ]
            return LinearPredictor(n_features, n_classes, steps)
        if kind == "plugin":
            from voxelwise.learn._plugins import PluginPredictor

            return PluginPredictor.from_arrays(n_features, n_classes, meta, arrays)
    except KeyError as e:
        raise ModelFileError(f"The model file lacks the array {e}; it is damaged") from e
    raise ModelFileError(
        f"Unknown predictor kind {kind!r} in the model file; it was written by a newer voxelwise "
        "or is damaged"
    )
