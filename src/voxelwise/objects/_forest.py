"""The fast alternative: a random forest on each object's measurements.

Inputs are columns of the object table (:func:`voxelwise.analysis.measure` with the image as
``intensity`` and surfaces on) plus two shape ratios; the forest is fitted with
:mod:`voxelwise.learn`'s helpers and saved as arrays in one ``.npz`` file (no pickle: opening
a model runs no code).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from voxelwise import __version__
from voxelwise._validate import parse_rng
from voxelwise.analysis import Table
from voxelwise.errors import CorruptFileError, FormatNotSupportedError, OutputExistsError
from voxelwise.learn._estimators import fit_estimator
from voxelwise.learn._predictors import Predictor, predictor_from_arrays
from voxelwise.objects._boxes import select_ids
from voxelwise.objects._classes import class_plan
from voxelwise.objects._errors import ObjectLabelsError, ObjectsError

__all__ = [
    "DERIVED",
    "FOREST_FEATURES",
    "ObjectForest",
    "feature_matrix",
    "load_forest",
    "train_forest",
]

FORMAT = "voxelwise-object-forest"
FORMAT_VERSION = 1

#: Measurements the forest uses by default (``intensity_*`` need the image in the table).
FOREST_FEATURES = (
    "volume",
    "extent_major",
    "extent_middle",
    "extent_minor",
    "elongation",
    "flatness",
    "box_fill",
    "surface_area",
    "sphericity",
    "intensity_mean",
    "intensity_std",
    "intensity_min",
    "intensity_max",
)


def _box_voxels(t: Table) -> np.ndarray:
    return np.prod([np.asarray(t[f"bbox_{a}1"] - t[f"bbox_{a}0"], np.float64) for a in "zyx"], 0)


#: Features computed from other columns: name -> (columns needed, description).
DERIVED: dict[str, tuple[tuple[str, ...], str]] = {
    "elongation": (("extent_middle", "extent_major"), "extent_middle / extent_major"),
    "flatness": (("extent_minor", "extent_middle"), "extent_minor / extent_middle"),
    "box_fill": (
        ("volume_voxels", "bbox_z0", "bbox_z1", "bbox_y0", "bbox_y1", "bbox_x0", "bbox_x1"),
        "fraction of the bounding box the object fills",
    ),
}


def _derived(table: Table, name: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "box_fill":
            return np.asarray(table["volume_voxels"], np.float64) / _box_voxels(table)
        a, b = DERIVED[name][0]
        return np.asarray(table[a], np.float64) / np.asarray(table[b], np.float64)


def feature_matrix(table: Table, names: Sequence[str]) -> np.ndarray:
    """The (N, F) float32 inputs ``names`` from an object table (NaN becomes 0)."""
    missing = [
        n
        for n in names
        if n not in table and not (n in DERIVED and all(c in table for c in DERIVED[n][0]))
    ]
    if missing:
        raise ObjectsError(
            f"The object table lacks {', '.join(missing)}; measure the objects with the image "
            "as intensity and surface=True (object_table(labels, image, surface=True)), or "
            f"choose features among its columns: {', '.join(table.names)}"
        )
    cols = [np.asarray(table[n], np.float64) if n in table else _derived(table, n) for n in names]
    x = np.stack(cols, axis=1) if cols else np.zeros((len(table), 0))
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@dataclass
class ObjectForest:
    """A random forest over object measurements.

    ``metadata``: ``features`` (column names in order), ``class_names``, ``values``,
    ``params`` (as fitted), ``training`` (provenance), ``version``.
    """

    predictor: Predictor
    metadata: dict[str, Any]
    method: ClassVar[str] = "forest"

    @property
    def class_names(self) -> list[str]:
        return list(self.metadata["class_names"])

    @property
    def values(self) -> list[int]:
        return [int(v) for v in self.metadata["values"]]

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    def predict_proba(self, table: Table) -> np.ndarray:
        """Class probabilities (N, K) float32 of every row of an object table."""
        return self.predictor.predict_proba(feature_matrix(table, self.features))

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (method, classes, features, training figures)."""
        return {
            "method": self.method,
            "class_names": self.class_names,
            "values": self.values,
            "features": self.features,
            "training": self.metadata.get("training", {}),
        }

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write one ``.npz`` file (``.npz`` appended when missing; renamed into place)."""
        target = Path(path).expanduser()
        if target.suffix != ".npz":
            target = target.with_name(target.name + ".npz")
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target} exists already; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        pmeta, arrays = self.predictor.to_arrays()
        meta = {
            **self.metadata,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "predictor": {
                "kind": self.predictor.kind,
                "n_features": self.predictor.n_features,
                "n_classes": self.predictor.n_classes,
                "meta": pmeta,
            },
        }
        payload: dict[str, Any] = {f"est.{k}": np.asarray(v) for k, v in arrays.items()}
        payload["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(prefix=".forest-", suffix=".npz", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **payload)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def load_forest(path: str | os.PathLike[str]) -> ObjectForest:
    """Read a forest written by :meth:`ObjectForest.save` (``allow_pickle=False``)."""
    source = Path(path).expanduser()
    try:
        with np.load(source, allow_pickle=False) as data:
            files = dict(data.items())
        meta = json.loads(bytes(files["meta"].astype(np.uint8)).decode("utf-8"))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CorruptFileError(f"{source} is not a readable object forest ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FormatNotSupportedError(f"{source} is not a voxelwise object forest file")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise FormatNotSupportedError(
            f"{source} uses object forest format {meta['format_version']}; upgrade voxelwise"
        )
    arrays = {k[4:]: v for k, v in files.items() if k.startswith("est.")}
    p = meta.pop("predictor")
    try:
        predictor = predictor_from_arrays(
            p["kind"], p["n_features"], p["n_classes"], p.get("meta", {}), arrays
        )
    except Exception as e:
        raise CorruptFileError(f"The object forest {source} is damaged ({e})") from e
    meta.pop("format", None)
    meta.pop("format_version", None)
    return ObjectForest(predictor, meta)


def train_forest(
    table: Table,
    y: Sequence[str],
    *,
    ids: Sequence[int] | np.ndarray | None = None,
    features: Sequence[str] = FOREST_FEATURES,
    n_estimators: int = 300,
    class_names: Sequence[str] | None = None,
    values: Sequence[int] | None = None,
    rng: np.random.Generator | int | None = 0,
) -> ObjectForest:
    """Fit a random forest (balanced class weights) on labelled objects' measurements.

    Parameters
    ----------
    table : Table
        Object measurements (:func:`object_table` with the image and ``surface=True``).
    y : sequence of str
        Class name of each object, in the order of ``ids`` (or of the table's rows).
    ids : sequence of int, optional
        The labelled objects (default: every row of ``table``).
    features : sequence of str
        Input columns (:data:`FOREST_FEATURES`; :data:`DERIVED` ratios are computed).
    """
    rows = select_ids(table, ids) if ids is not None else np.arange(len(table))
    if len(y) != rows.size:
        raise ObjectLabelsError(f"Expected {rows.size} class names (one per object), got {len(y)}")
    names, vals, target = class_plan(y, class_names, values)
    x = feature_matrix(table.select(rows), list(features))
    start = time.perf_counter()
    predictor, params = fit_estimator(
        x,
        target,
        n_classes=len(names),
        classifier="rf",
        params={"n_estimators": int(n_estimators)},
        rng=parse_rng(rng),
    )
    counts = np.bincount(target, minlength=len(names))
    meta = {
        "features": list(features),
        "class_names": names,
        "values": vals,
        "params": params,
        "version": __version__,
        "training": {
            "objects": int(rows.size),
            "per_class": {n: int(c) for n, c in zip(names, counts)},
            "seconds": round(time.perf_counter() - start, 3),
        },
    }
    return ObjectForest(predictor, meta)
