"""Trained models as first-class objects, and label export for other annotation software.

Registry
    Every workspace keeps a registry of trained models (shallow :mod:`voxelwise.learn`
    classifiers and deep :mod:`voxelwise.deep` networks) in its catalog, with architecture,
    label set, classes, training provenance (workspaces, layers, ROI, run), validation
    metrics, size and date: :func:`list_models` (JSON-able records; models saved by training
    runs are registered automatically, :func:`sync_models`), :func:`register_model`,
    :func:`export_model` / :func:`import_model` (one self-contained file; files made by other
    programs are refused), :func:`apply_model` (to any workspace or volume file, dispatching
    to :func:`voxelwise.learn.predict` or :func:`voxelwise.deep.predict_workspace`).
Pooled training
    :func:`train_pooled` trains one model (deep, or shallow on pooled annotated voxels) on the
    labels of several workspaces, optionally fine-tuning a registered deep model.
Label export
    :func:`export_labels` writes a label layer for other software: TIFF and HDF5 with label
    names, OME-Zarr labels (``image-label`` with colours), NRRD (3D Slicer segmentation
    names), MRC (IMOD) and object tables as CSV.

``import voxelwise.models`` is light: learn, deep (and torch) load only when a model is used.

>>> from voxelwise import models
>>> models.list_models(ws)  # doctest: +SKIP
>>> models.train_pooled([(ws1, "raw", "labels"), (ws2, "raw", "labels")], kind="deep")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "LABEL_FORMATS",
    "apply_model",
    "describe_model",
    "export_labels",
    "export_model",
    "import_model",
    "list_models",
    "model_file",
    "model_kind",
    "register_model",
    "sync_models",
    "train_pooled",
]

_WHERE = {
    "LABEL_FORMATS": "_labels_export",
    "export_labels": "_labels_export",
    "describe_model": "_inspect",
    "model_kind": "_inspect",
    "apply_model": "_registry",
    "export_model": "_registry",
    "import_model": "_registry",
    "list_models": "_registry",
    "model_file": "_registry",
    "register_model": "_registry",
    "sync_models": "_registry",
    "train_pooled": "_pooled",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"voxelwise.models.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'voxelwise.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
