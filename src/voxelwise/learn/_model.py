"""The trained :class:`Model` and its pickle-free file format.

A model file is one ``.npz`` archive (NumPy's zip of ``.npy`` arrays) holding

- ``meta``: UTF-8 JSON as a uint8 array: format name and version, the voxelwise and
  scikit-learn versions, mode, classifier and its parameters, the classes (values, names,
  colours, label set, parent), the feature recipe and input columns, training statistics;
- ``est.<name>``: the fitted estimator's arrays (see :mod:`voxelwise.learn._predictors`).

It is read with ``numpy.load(..., allow_pickle=False)``: opening a model file never runs code
from it, so models can be shared like data. Unknown formats and damaged files raise
:class:`~voxelwise.learn.ModelFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise import __version__
from voxelwise.errors import OutputExistsError
from voxelwise.learn._errors import FeatureMismatchError, ModelFileError
from voxelwise.learn._predictors import Predictor, predictor_from_arrays

__all__ = ["FORMAT", "FORMAT_VERSION", "MODES", "Model", "as_model", "load_model"]

FORMAT = "voxelwise-shallow-model"
FORMAT_VERSION = 1
MODES = ("voxel", "supervoxel")


def _plain(value: Any) -> Any:
    """JSON-able copy: tuples to lists, NumPy scalars to Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True, eq=False)
class Model:
    """A trained shallow classifier: estimator, classes and the recipe of its features.

    Attributes
    ----------
    predictor : Predictor
        The fitted estimator as arrays; ``predict_proba`` maps (N, n_inputs) to (N, K).
    classes : tuple of int
        Label values, in the order of the probability columns.
    class_names : tuple of str
        Names of the classes (from the label set, else ``label_<value>``).
    colors : tuple of (r, g, b, a)
        Colours of the classes (0-255).
    mode : {"voxel", "supervoxel"}
        Whether the classifier sees voxels or per-supervoxel statistics.
    classifier : str
        ``"rf"``, ``"extra_trees"``, ``"hgb"``, ``"svm"`` or ``"logistic"``.
    params : dict
        The classifier's parameters as fitted.
    features : tuple of str
        Names of the feature layers, in order.
    recipe : tuple of dict
        How to compute each feature: ``{"name", "source", "filter", "params", "output"}``
        (``filter`` None for a layer read as it is).
    statistics : tuple of str
        Supervoxel mode: statistics of each feature per supervoxel (``"mean"``, ``"std"``,
        ``"min"``, ``"max"``); the inputs are ``feature_stat`` for every feature and statistic.
    supervoxels : dict, optional
        Supervoxel mode: ``{"layer": name, "params": {...}}`` of the supervoxels trained on.
    label_set : str, optional
        The label set the classes come from.
    parent : dict, optional
        Hierarchy: ``{"name", "value", "region"}`` of the parent label; the model predicts
        only where a parent layer holds one of the ``region`` values.
    training : dict
        Provenance: annotation layer, samples per class, timings.
    version : str
        voxelwise version that trained the model.
    """

    predictor: Predictor
    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    colors: tuple[tuple[int, int, int, int], ...]
    mode: str = "voxel"
    classifier: str = "rf"
    params: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    recipe: tuple[dict[str, Any], ...] = ()
    statistics: tuple[str, ...] = ()
    supervoxels: dict[str, Any] | None = None
    label_set: str | None = None
    parent: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ModelFileError(f"Unknown model mode {self.mode!r}; expected one of {MODES}")
        if len(self.classes) != self.predictor.n_classes:
            raise ModelFileError(
                f"The model names {len(self.classes)} classes but its estimator predicts "
                f"{self.predictor.n_classes}; the file is damaged"
            )
        if len(self.inputs) != self.predictor.n_features:
            raise ModelFileError(
                f"The model's recipe gives {len(self.inputs)} inputs but its estimator expects "
                f"{self.predictor.n_features}; the file is damaged"
            )

    @cached_property
    def token(self) -> str:
        """A digest of the model (metadata and estimator arrays), e.g. for dask task names."""
        digest = hashlib.sha1(json.dumps(self.metadata(), sort_keys=True).encode("utf-8"))
        _, arrays = self.predictor.to_arrays()
        for key in sorted(arrays):
            digest.update(key.encode("utf-8"))
            digest.update(np.ascontiguousarray(arrays[key]).tobytes())
        return digest.hexdigest()

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the classifier's input columns."""
        if self.mode == "supervoxel":
            return tuple(f"{f}_{s}" for f in self.features for s in self.statistics)
        return tuple(self.features)

    def __repr__(self) -> str:
        names = ", ".join(f"{n}={v}" for n, v in zip(self.class_names, self.classes))
        return (
            f"Model(mode={self.mode!r}, classifier={self.classifier!r}, classes=[{names}], "
            f"features={len(self.features)})"
        )

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities (N, K) float32 of input rows (N, len(inputs))."""
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != len(self.inputs):
            raise FeatureMismatchError(
                f"This model takes {len(self.inputs)} inputs per row ({_short(self.inputs)}), "
                f"got an array of shape {arr.shape} instead"
            )
        return self.predictor.predict_proba(arr)

    def with_training(self, **info: Any) -> Model:
        """A copy with more provenance in ``training``."""
        return replace(self, training={**self.training, **_plain(info)})

    # -- files ---------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Everything but the estimator's arrays, as JSON-able data."""
        try:
            import sklearn

            sk_version: str | None = sklearn.__version__
        except ImportError:  # pragma: no cover - sklearn is needed to train
            sk_version = None
        return _plain(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "voxelwise_version": self.version,
                "sklearn_version": sk_version,
                "mode": self.mode,
                "classifier": self.classifier,
                "params": self.params,
                "classes": list(self.classes),
                "class_names": list(self.class_names),
                "colors": [list(c) for c in self.colors],
                "label_set": self.label_set,
                "parent": self.parent,
                "features": list(self.features),
                "recipe": list(self.recipe),
                "statistics": list(self.statistics),
                "supervoxels": self.supervoxels,
                "training": self.training,
                "predictor": {
                    "kind": self.predictor.kind,
                    "n_features": self.predictor.n_features,
                    "n_classes": self.predictor.n_classes,
                },
            }
        )

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model as one ``.npz`` file (``.npz`` is appended when missing).

        The file is written next to the target and renamed into place, so a crash never leaves
        a half-written model under ``path``.
        """
        target = Path(path).expanduser()
        if target.suffix != ".npz":
            target = target.with_name(target.name + ".npz")
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target} exists already; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = self.metadata()
        pmeta, arrays = self.predictor.to_arrays()
        meta["predictor"]["meta"] = _plain(pmeta)
        payload: dict[str, Any] = {f"est.{k}": np.asarray(v) for k, v in arrays.items()}
        payload["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".npz", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **payload)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def as_model(model: Any) -> Model:
    """A :class:`Model` as it is, or loaded from a model file path."""
    if isinstance(model, Model):
        return model
    if isinstance(model, str | os.PathLike):
        return load_model(model)
    raise TypeError(f"Expected a Model or the path of a model file, got {type(model).__name__}")


def _short(names: Sequence[str]) -> str:
    return ", ".join(names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6 else "")


def load_model(path: str | os.PathLike[str]) -> Model:
    """Read a model written by :meth:`Model.save` (no code from the file is ever run).

    Raises
    ------
    ModelFileError
        The file does not exist, is not a voxelwise model, was written by a newer format
        version, or is damaged.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise ModelFileError(
            f"No model file at {source}; train one with voxelwise.learn.train(..., save=PATH)"
        )
    try:
        with np.load(source, allow_pickle=False) as data:
            files = dict(data.items())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ModelFileError(f"{source} is not a readable model file ({e})") from e
    if "meta" not in files:
        raise ModelFileError(f"{source} is an .npz archive but not a voxelwise model (no 'meta')")
    try:
        meta = json.loads(bytes(files["meta"].astype(np.uint8)).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"The metadata of {source} is damaged ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{source} is not a voxelwise shallow model file")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} uses model format version {meta['format_version']}, newer than this "
            f"voxelwise reads ({FORMAT_VERSION}); upgrade voxelwise"
        )
    arrays = {k[4:]: v for k, v in files.items() if k.startswith("est.")}
    try:
        pinfo = meta["predictor"]
        predictor = predictor_from_arrays(
            pinfo["kind"], pinfo["n_features"], pinfo["n_classes"], pinfo.get("meta", {}), arrays
        )
        return Model(
            predictor=predictor,
            classes=tuple(int(v) for v in meta["classes"]),
            class_names=tuple(str(n) for n in meta["class_names"]),
            colors=tuple(tuple(int(c) for c in col) for col in meta["colors"]),  # type: ignore[misc]
            mode=str(meta["mode"]),
            classifier=str(meta["classifier"]),
            params=dict(meta.get("params") or {}),
            features=tuple(meta.get("features") or ()),
            recipe=tuple(meta.get("recipe") or ()),
            statistics=tuple(meta.get("statistics") or ()),
            supervoxels=meta.get("supervoxels"),
            label_set=meta.get("label_set"),
            parent=meta.get("parent"),
            training=dict(meta.get("training") or {}),
            version=str(meta.get("voxelwise_version", "")),
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFileError | FeatureMismatchError):
            raise
        raise ModelFileError(f"The model file {source} is incomplete or damaged ({e})") from e
