"""Object classification on a workspace: objects, labels, training and prediction as runs.

Plain functions over names, numbers and dicts (JSON-able in and out where a server needs it):
:func:`find_objects` (instances of a class layer), :func:`train_objects` (CNN or forest from
the stored labels), :func:`predict_objects` (a class layer, a label set and a table),
:func:`preview_objects` (PNG for labelling), :func:`labels_from_layer` (labels from a class
layer, e.g. ground truth). Each records a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise.analysis import Table, find_instances
from voxelwise.errors import LayerExistsError
from voxelwise.objects._classify import (
    as_model,
    class_volume,
    classify_objects,
    majority_classes,
)
from voxelwise.objects._errors import ObjectLabelsError, ObjectsError, ObjectTooSmallError
from voxelwise.objects._forest import FOREST_FEATURES, train_forest
from voxelwise.objects._labels import check_instances, object_labels, objects_table
from voxelwise.objects._patches import extract_patches, plan_patches
from voxelwise.objects._preview import preview_png
from voxelwise.objects._store import FOLDER

if TYPE_CHECKING:
    from voxelwise.workspace import LayerInfo, Workspace

__all__ = [
    "METHODS",
    "find_objects",
    "labels_from_layer",
    "predict_objects",
    "preview_objects",
    "train_objects",
]

METHODS = ("cnn", "forest")


def find_objects(
    ws: Workspace,
    source: str,
    *,
    value: Any = None,
    min_size: int = 0,
    connectivity: int = 1,
    name: str | None = None,
    overwrite: bool = False,
) -> LayerInfo:
    """Split a mask or class layer into objects: the connected components of every class
    (of ``value`` when given) kept apart, objects under ``min_size`` voxels dropped
    (see :func:`voxelwise.analysis.find_instances`). The new layer defaults to
    ``"<source>_objects"``."""
    return find_instances(
        ws,
        source,
        name=name or f"{source}_objects",
        value=value,
        by_value=True,
        connectivity=connectivity,
        min_size=min_size,
        overwrite=overwrite,
    )


def labels_from_layer(
    ws: Workspace, layer: str, classes: str, ids: Sequence[int]
) -> dict[int, str]:
    """Class names of ``ids`` from a class layer (the value covering most of each object),
    named by that layer's label set (``class_<value>`` without one). Feed the result to
    :func:`label_objects`, e.g. to label from ground truth."""
    check_instances(ws, layer)
    info = ws.layer(classes)
    names = {}
    if info.label_set is not None:
        names = {lab.value: lab.name for lab in ws.label_set(info.label_set)}
    majority = majority_classes(ws.get(layer), ws.get(classes))
    out = {}
    for i in ids:
        v = majority.get(int(i))
        if v is None:
            raise ObjectsError(f"Object {i} is not in layer {layer!r}")
        out[int(i)] = names.get(v, f"class_{v}")
    return out


def _training_set(ws: Workspace, layer: str) -> tuple[np.ndarray, list[str]]:
    labels = object_labels(ws, layer)
    if not labels:
        raise ObjectLabelsError(
            f"No labelled objects in {layer!r}; label some first (voxelwise objects label, or "
            "voxelwise.objects.label_objects)"
        )
    ids = np.array(sorted(labels), dtype=np.int64)
    return ids, [labels[int(i)] for i in ids]


def train_objects(
    ws: Workspace,
    layer: str,
    *,
    method: str = "cnn",
    image: str = "raw",
    arch: str = "minimal",
    ndim: int = 2,
    size: Any = "auto",
    dilate: int = 0,
    epochs: int = 60,
    min_size: int = 1,
    features: Sequence[str] = FOREST_FEATURES,
    rng: np.random.Generator | int | None = 0,
    device: str = "auto",
    save: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Train an object classifier on the labelled objects of an instance layer.

    ``method="cnn"`` trains :func:`train_cnn` on patches (``ndim``, ``size``, ``dilate``: see
    :func:`plan_patches`; the automatic size is estimated from all objects), ``"forest"``
    :func:`train_forest` on the measurements. ``save`` writes the model file (``.pt`` for a
    CNN, ``.npz`` for a forest). Returns the model; a run ``objects.train`` is recorded.
    """
    if method not in METHODS:
        raise ObjectsError(f"Expected method as one of {', '.join(METHODS)}, got {method!r}")
    start = time.perf_counter()
    ids, y = _training_set(ws, layer)
    table = objects_table(ws, layer, image=image)
    model: Any
    if method == "forest":
        model = train_forest(table, y, ids=ids, features=features, rng=rng)
    else:
        from voxelwise.objects._cnn import train_cnn

        plan = plan_patches(table, ndim=ndim, size=size, dilate=dilate)
        patches = extract_patches(
            ws.open_array(image, mode="r"),
            ws.open_array(layer, mode="r"),
            plan,
            ids=ids,
            table=table,
            min_size=min_size,
        )
        if patches.skipped.size:
            raise ObjectTooSmallError(
                f"Labelled objects {patches.skipped[:10].tolist()} have fewer than "
                f"min_size={min_size} voxels; unlabel them or lower min_size"
            )
        model = train_cnn(
            patches, y, arch=arch, epochs=epochs, rng=rng, device=device, progress=progress
        )
    model.metadata["training"].update({"layer": layer, "image": image, "workspace": str(ws.path)})
    saved = None if save is None else str(model.save(save, overwrite=overwrite))
    ws.record_run(
        "objects.train",
        params={
            "method": method,
            "arch": arch if method == "cnn" else None,
            "ndim": ndim,
            "size": size,
            "dilate": dilate,
            "epochs": epochs,
            "model": saved,
            "summary": model.summary(),
        },
        inputs=[layer, image],
        duration=time.perf_counter() - start,
    )
    return model


def _label_set(ws: Workspace, name: str, classes: Sequence[str], values: Sequence[int]) -> None:
    existing = {lab.name: lab.value for lab in ws.label_sets().get(name, [])}
    for cls, value in zip(classes, values):
        if cls in existing and existing[cls] != value:
            raise ObjectLabelsError(
                f"Label set {name!r} has {cls!r} = {existing[cls]} but the model gives it "
                f"{value}; choose another label_set"
            )
        if cls not in existing:
            ws.add_label(name, cls, value=int(value))


def predict_objects(
    ws: Workspace,
    layer: str,
    model: Any,
    *,
    image: str = "raw",
    name: str | None = None,
    label_set: str | None = None,
    out: str | os.PathLike[str] | None = None,
    min_size: int = 1,
    tta: bool = True,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[LayerInfo, Table]:
    """Classify every object of ``layer``: a class layer and a table of classes.

    The ``"labels"`` layer ``name`` (default ``"<layer>_classes"``) gives each object's voxels
    its class value, named by ``label_set`` (default ``name``); the table (``id``, ``class``,
    ``class_name``, ``confidence``, ``prob_<class>``, ``labelled``: the user's class or ``""``)
    is written to ``<workspace>/objects/<name>.csv`` and to ``out`` (``.csv``/``.parquet``).
    A run ``objects.predict`` is recorded.
    """
    start = time.perf_counter()
    model = as_model(model)
    check_instances(ws, layer)
    name = name or f"{layer}_classes"
    if name in ws and not overwrite:
        raise LayerExistsError(
            f"A layer named {name!r} exists already in the workspace {ws.path}; pass "
            "overwrite=True to replace it, or choose another name"
        )
    table = objects_table(ws, layer, image=image)
    result = classify_objects(
        model,
        ws.open_array(image, mode="r"),
        ws.open_array(layer, mode="r"),
        table=table,
        min_size=min_size,
        tta=tta,
        progress=progress,
    )
    given = object_labels(ws, layer)
    result["labelled"] = np.array([given.get(int(i), "") for i in result["id"]], dtype=str)
    label_set = label_set or name
    _label_set(ws, label_set, model.class_names, model.values)
    info = ws.add_layer(
        name,
        class_volume(ws.get(layer), result),
        kind="labels",
        sources=[layer, image],
        params={"method": model.method, "classes": model.class_names},
        label_set=label_set,
        overwrite=overwrite,
    )
    result.meta.update({"labels": layer, "classes_layer": name, "workspace": str(ws.path)})
    result.write(ws.path / FOLDER / f"{name}.csv")
    if out is not None:
        result.write(out)
    counts = {c: int((result["class_name"] == c).sum()) for c in model.class_names}
    ws.record_run(
        "objects.predict",
        params={"method": model.method, "counts": counts, "out": None if out is None else str(out)},
        inputs=[layer, image],
        outputs=[name],
        duration=time.perf_counter() - start,
    )
    return info, result


def preview_objects(
    ws: Workspace,
    layer: str,
    ids: Sequence[int],
    path: str | os.PathLike[str],
    *,
    image: str = "raw",
    size: Any = "auto",
    columns: int = 5,
) -> Path:
    """A PNG montage of objects (image plane with the object's outline and id) for labelling."""
    table = objects_table(ws, layer, image=image)
    plan = plan_patches(table, ndim=2, size=size, max_input=128)
    patches = extract_patches(
        ws.open_array(image, mode="r"), ws.open_array(layer, mode="r"), plan, ids=ids, table=table
    )
    return preview_png(patches, path, columns=columns)
