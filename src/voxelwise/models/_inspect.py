"""Recognising model files and describing them for the registry.

Shallow models (:mod:`voxelwise.learn`) are ``.npz`` archives with a ``meta`` member; deep models
(:mod:`voxelwise.deep`) are ``torch.save`` zip archives. The kind is told from the archive's
member names without importing torch; the file is then validated with the package's own loader
(which never runs code from the file), so a file made by another program is refused.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from voxelwise.errors import FormatNotSupportedError, NotAVolumeFileError

__all__ = ["describe_model", "load_any", "model_kind"]

_SUPPORTED = (
    "voxelwise reads its own model files only: shallow models (.npz, written by "
    "voxelwise.learn.train(save=...)) and deep models (.pt, written by voxelwise.deep.train)"
)


def model_kind(path: str | os.PathLike[str]) -> str:
    """``"shallow"`` or ``"deep"`` from the file's layout (nothing is loaded).

    Raises
    ------
    NotAVolumeFileError
        No such file.
    FormatNotSupportedError
        Not a zip archive of either layout (e.g. a pickle, an ONNX or Keras file).
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise NotAVolumeFileError(f"No model file at {source}; give the path of a model file")
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise FormatNotSupportedError(
            f"{source} is not a voxelwise model file (not a zip archive: {e}); {_SUPPORTED}"
        ) from e
    if "meta.npy" in names:
        return "shallow"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return "deep"
    raise FormatNotSupportedError(
        f"{source} is a zip archive but not a voxelwise model file; {_SUPPORTED}"
    )


def load_any(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """``(kind, model)``: the file loaded with its package's loader.

    Raises
    ------
    FormatNotSupportedError
        A file made by another program (an ``.npz`` without voxelwise metadata, a PyTorch file
        without the voxelwise entry, ...).
    """
    kind = model_kind(path)
    if kind == "shallow":
        from voxelwise.learn import ModelFileError, load_model

        try:
            return kind, load_model(path)
        except ModelFileError as e:
            raise FormatNotSupportedError(f"{e}; {_SUPPORTED}") from e
    from voxelwise._optional import optional_import

    optional_import("torch", feature="reading deep models")
    from voxelwise.deep import load_model as load_deep

    return kind, load_deep(path)


def _shallow_record(model: Any) -> dict[str, Any]:
    training = dict(model.training)
    metrics = dict(training.pop("validation", None) or {})
    return {
        "kind": "shallow",
        "architecture": f"{model.classifier}/{model.mode}",
        "label_set": model.label_set,
        "classes": [
            {"value": int(v), "name": str(n), "color": [int(c) for c in col]}
            for v, n, col in zip(model.classes, model.class_names, model.colors)
        ],
        "provenance": {
            **training,
            "features": list(model.features),
            "classifier_params": dict(model.params),
            "parent": model.parent,
            "trained_with": model.version,
        },
        "metrics": metrics,
    }


def _deep_record(model: Any) -> dict[str, Any]:
    meta = dict(model.metadata)
    metrics = {"val_miou": meta.get("val_miou")} if meta.get("val_miou") is not None else {}
    provenance = dict(meta.get("provenance") or {})
    if meta.get("training_data"):
        provenance["training_data"] = meta["training_data"]
    config = dict(meta.get("config") or {})
    provenance["config"] = {
        k: config[k]
        for k in ("epochs", "steps_per_epoch", "batch_size", "loss", "lr")
        if k in config
    }
    provenance["patch_size"] = list(meta.get("patch_size") or [])
    provenance["network"] = dict(meta.get("network") or {})
    return {
        "kind": "deep",
        "architecture": str(meta.get("arch")),
        "label_set": meta.get("label_set"),
        "classes": [
            {"value": int(v), "name": str(n)}
            for v, n in zip(meta.get("label_values", []), meta.get("label_names", []))
        ],
        "provenance": provenance,
        "metrics": metrics,
    }


def describe_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The registry fields of a model file: ``kind``, ``architecture``, ``label_set``,
    ``classes``, ``provenance``, ``metrics`` (validated by loading the file)."""
    kind, model = load_any(path)
    return _shallow_record(model) if kind == "shallow" else _deep_record(model)
