"""Classifiers from plugins: classes (or factories) registered under ``voxelwise.classifiers``.

A plugin classifier is called with its keyword parameters (type-annotated, so the CLI, the API
and the GUI can offer them) and returns an estimator with ``fit(x, y)`` ((N, F) float32 features,
class indices ``0..K-1``) and ``predict_proba(x) -> (N, K)``. To be saved in a model file it also
has ``to_arrays() -> dict of str to ndarray`` and ``from_arrays(arrays)`` (called on a fresh
estimator built with the same parameters, returning the restored estimator): model files stay
pickle-free, and loading one runs only the installed plugin's code, never code from the file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from voxelwise.learn._errors import LearnError, ModelFileError
from voxelwise.learn._predictors import Predictor

__all__ = ["PluginPredictor", "fit_plugin", "is_plugin", "plugin_defaults", "plugin_params"]


def is_plugin(name: str) -> bool:
    """Whether a classifier name is a plugin's (``package.name``)."""
    return "." in name


def _info(name: str) -> Any:
    from voxelwise.plugins import PluginError, get_plugin

    try:
        return get_plugin("classifier", name)
    except PluginError as e:
        raise LearnError(str(e)) from e


def plugin_defaults(name: str) -> dict[str, Any]:
    """Default parameters of a plugin classifier (from its signature)."""
    schema = _info(name).schema or {}
    return {k: p.get("default") for k, p in schema.get("properties", {}).items()}


def plugin_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Checked parameters of a plugin classifier (defaults filled in)."""
    from voxelwise.plugins import PluginError, check_params

    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"Expected classifier params as a dict, got {params!r} instead")
    try:
        return check_params(_info(name).schema or {}, dict(params or {}), plugin=name)
    except PluginError as e:
        raise LearnError(str(e)) from e


class PluginPredictor(Predictor):
    """A fitted plugin estimator; saved as its ``to_arrays()`` plus its name and parameters."""

    kind = "plugin"

    def __init__(
        self, n_features: int, n_classes: int, plugin: str, params: Mapping[str, Any], est: Any
    ) -> None:
        super().__init__(n_features, n_classes)
        self.plugin = plugin
        self.params = dict(params)
        self.estimator = est

    def _proba(self, x: np.ndarray) -> np.ndarray:
        p = np.asarray(self.estimator.predict_proba(np.asarray(x, dtype=np.float32)))
        if p.shape != (x.shape[0], self.n_classes):
            raise LearnError(
                f"The plugin classifier {self.plugin!r} returned probabilities of shape {p.shape} "
                f"for {x.shape[0]} samples of {self.n_classes} classes; expected "
                f"({x.shape[0]}, {self.n_classes})"
            )
        return p

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        export = getattr(self.estimator, "to_arrays", None)
        if not callable(export) or not callable(getattr(self.estimator, "from_arrays", None)):
            raise ModelFileError(
                f"The plugin classifier {self.plugin!r} cannot be saved: its estimator lacks "
                "to_arrays() and from_arrays(arrays); use the model in this session, or ask the "
                "plugin's authors to add them"
            )
        arrays = {str(k): np.asarray(v) for k, v in export().items()}
        if any(a.dtype == object for a in arrays.values()):
            raise ModelFileError(
                f"The plugin classifier {self.plugin!r} exported object arrays, which a "
                "pickle-free model file cannot hold"
            )
        return {"plugin": self.plugin, "params": self.params}, arrays

    @classmethod
    def from_arrays(
        cls, n_features: int, n_classes: int, meta: Mapping[str, Any], arrays: Mapping[str, Any]
    ) -> PluginPredictor:
        name = str(meta["plugin"])
        params = dict(meta.get("params") or {})
        try:
            est = _info(name).obj(**plugin_params(name, params))
            est = est.from_arrays({k: np.asarray(v) for k, v in arrays.items()})
        except LearnError as e:
            raise ModelFileError(
                f"The model uses the plugin classifier {name!r}, which cannot be loaded: {e}"
            ) from e
        return cls(n_features, n_classes, name, params, est)


def fit_plugin(
    name: str, x: np.ndarray, y: np.ndarray, n_classes: int, params: Mapping[str, Any]
) -> tuple[PluginPredictor, dict[str, Any]]:
    """Build the plugin estimator with ``params``, fit it, and wrap it as a predictor."""
    info = _info(name)
    start = time.perf_counter()
    try:
        est = info.obj(**params)
        fitted = est.fit(np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64))
    except (ValueError, TypeError) as e:
        raise LearnError(f"The plugin classifier {name!r} failed to train: {e}") from e
    est = fitted if fitted is not None else est
    predictor = PluginPredictor(x.shape[1], n_classes, name, params, est)
    used = dict(params)
    used["fit_seconds"] = round(time.perf_counter() - start, 3)
    return predictor, used
