"""Object classification (as SVETLANA): classify every object of an instance layer.

Objects
    An instance layer, or a class layer split into objects by :func:`find_objects`;
    :func:`object_table` measures them (bounding boxes, sizes, intensities, surfaces).
Patches
    :func:`plan_patches` picks the window around each object (1.4 x the largest bounding box,
    ignoring the largest 10 % of objects, binned to at most 64 voxels per axis) and :func:`extract_patches` cuts a
    two-channel patch (image, object mask, optionally dilated for context) on the object's
    largest plane (2D) or as a box (3D), reading only each object's window.
Labelling
    Labels are stored in the workspace (``objects/<layer>.labels.csv``):
    :func:`label_objects`, :func:`skip_objects`, :func:`unlabel_objects`,
    :func:`object_labels`; :func:`next_objects` / :class:`LabelSession` show unlabelled
    objects in a seeded random order (no selection bias) or the ids chosen;
    :func:`preview_objects` draws them as a PNG; :func:`labels_from_layer` labels from a
    class layer (e.g. ground truth).
Models
    :func:`train_cnn` (:class:`MinimalNet`, SVETLANA's minimalist CNN, or the residual
    :class:`DeepNet`; 2D or 3D; flips, rotations, intensity jitter; class-balanced batches)
    gives an :class:`ObjectCNN` (``.pt``, loaded with ``weights_only=True``);
    :func:`train_forest` a random forest on the measurements, :class:`ObjectForest`
    (``.npz``, no pickle), the fast alternative. :func:`load_object_model` reads either.
Prediction
    :func:`classify_objects` gives a table (class, confidence, probabilities);
    :func:`class_volume` paints classes on the objects chunk by chunk. On a workspace,
    :func:`train_objects` and :func:`predict_objects` do it all and record runs.

``import voxelwise.objects`` does not import torch: the CNN names load it on first use.

>>> from voxelwise import objects
>>> objects.find_objects(ws, "classes", value=[2, 3, 4], min_size=100)  # doctest: +SKIP
>>> objects.label_objects(ws, "classes_objects", {12: "mitochondria", 40: "synapse"})  # doctest: +SKIP
>>> model = objects.train_objects(ws, "classes_objects", method="cnn")  # doctest: +SKIP
>>> info, table = objects.predict_objects(ws, "classes_objects", model)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DERIVED",
    "FOREST_FEATURES",
    "METHODS",
    "MIN_INPUT",
    "DeepNet",
    "LabelSession",
    "MinimalNet",
    "ModelNotFoundError",
    "ObjectCNN",
    "ObjectForest",
    "ObjectLabelsError",
    "ObjectPatches",
    "ObjectTooSmallError",
    "ObjectsError",
    "PatchPlan",
    "class_volume",
    "classify_objects",
    "extract_patches",
    "feature_matrix",
    "find_objects",
    "label_objects",
    "labels_from_layer",
    "load_object_model",
    "majority_classes",
    "next_objects",
    "object_labels",
    "object_table",
    "objects_table",
    "plan_patches",
    "predict_objects",
    "preview_objects",
    "preview_png",
    "skip_objects",
    "train_cnn",
    "train_forest",
    "train_objects",
    "unlabel_objects",
]

_WHERE = {
    "DERIVED": "_forest",
    "FOREST_FEATURES": "_forest",
    "ObjectForest": "_forest",
    "feature_matrix": "_forest",
    "train_forest": "_forest",
    "METHODS": "_workspace",
    "find_objects": "_workspace",
    "labels_from_layer": "_workspace",
    "predict_objects": "_workspace",
    "preview_objects": "_workspace",
    "train_objects": "_workspace",
    "MIN_INPUT": "_patches",
    "ObjectPatches": "_patches",
    "PatchPlan": "_patches",
    "extract_patches": "_patches",
    "plan_patches": "_patches",
    "DeepNet": "_nets",
    "MinimalNet": "_nets",
    "ObjectCNN": "_cnn",
    "train_cnn": "_cnn",
    "LabelSession": "_labels",
    "label_objects": "_labels",
    "next_objects": "_labels",
    "object_labels": "_labels",
    "objects_table": "_labels",
    "skip_objects": "_labels",
    "unlabel_objects": "_labels",
    "ModelNotFoundError": "_errors",
    "ObjectLabelsError": "_errors",
    "ObjectTooSmallError": "_errors",
    "ObjectsError": "_errors",
    "class_volume": "_classify",
    "classify_objects": "_classify",
    "load_object_model": "_classify",
    "majority_classes": "_classify",
    "object_table": "_boxes",
    "preview_png": "_preview",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"voxelwise.objects.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'voxelwise.objects' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
