"""Apply an object model to every object: a table of classes and confidences, a class volume.

Nothing here imports torch: a CNN model file loads torch only when it is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import Scheduler
from voxelwise.analysis import Table, cross_counts
from voxelwise.objects._boxes import batches, object_table, select_ids
from voxelwise.objects._errors import ModelNotFoundError, ObjectsError
from voxelwise.objects._forest import ObjectForest, load_forest
from voxelwise.objects._patches import as_volume, extract_patches

__all__ = [
    "as_model",
    "class_volume",
    "classify_objects",
    "load_object_model",
    "majority_classes",
]


def load_object_model(path: str | os.PathLike[str], *, device: str = "cpu") -> Any:
    """Read an object model: a forest (``.npz``) or a CNN (any other suffix, needs torch)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise ModelNotFoundError(
            f"No object model at {source}; train one with voxelwise objects train (or "
            "voxelwise.objects.train_objects)"
        )
    if source.suffix == ".npz":
        return load_forest(source)
    from voxelwise.objects._cnn import load_cnn

    return load_cnn(source, device=device)


def as_model(model: Any) -> Any:
    if isinstance(model, str | os.PathLike):
        return load_object_model(model)
    if not hasattr(model, "predict_proba") or getattr(model, "method", None) not in (
        "cnn",
        "forest",
    ):
        raise TypeError(
            f"Expected an object model (ObjectCNN, ObjectForest) or its file, got "
            f"{type(model).__name__} instead"
        )
    return model


def classify_objects(
    model: Any,
    image: Any,
    labels: Any,
    *,
    table: Table | None = None,
    ids: Any = None,
    spacing: Any = None,
    min_size: int = 1,
    tta: bool = True,
    batch: int = 256,
    scheduler: Scheduler = None,
    progress: Callable[[int, int], None] | None = None,
) -> Table:
    """Predict the class of every object.

    Parameters
    ----------
    model : ObjectCNN, ObjectForest or path
    image, labels : (Z, Y, X) arrays
        The image and the instance ids (NumPy, dask or zarr; read object by object).
    table : Table, optional
        Object table; default computed (with intensities and surfaces for a forest, which
        also needs ``spacing`` equal to the training data's).
    ids : sequence of int, optional
        Objects to classify (default: all).
    min_size : int
        Objects with fewer voxels are not classified (class 0, confidence NaN).
    tta : bool
        CNN: average the 8 flips/rotations of each patch.
    batch : int
        Objects per step.

    Returns
    -------
    Table
        ``id``, ``class`` (label value; 0 if not classified), ``class_name``, ``confidence``
        (the top probability), ``prob_<class>`` per class; ``meta`` names the method and classes.
    """
    model = as_model(model)
    image, labels = as_volume(image, "image"), as_volume(labels, "labels")
    if table is None:
        forest = isinstance(model, ObjectForest)
        table = object_table(
            labels, image if forest else None, spacing=spacing, surface=forest, scheduler=scheduler
        )
    rows = select_ids(table, ids)
    sub = table.select(rows)
    names, values = model.class_names, np.asarray(model.values, dtype=np.int64)
    proba = np.full((rows.size, len(names)), np.nan, dtype=np.float32)
    ok = np.asarray(sub["volume_voxels"]) >= int(min_size)
    where = np.flatnonzero(ok)
    if isinstance(model, ObjectForest):
        proba[where] = model.predict_proba(sub.select(where))
        if progress is not None:
            progress(1, 1)
    else:
        object_ids = np.asarray(sub["id"], dtype=np.int64)
        for step in batches(where.size, batch):
            chosen = where[step.start : step.stop]
            patches = extract_patches(
                image, labels, model.plan, ids=object_ids[chosen], table=table, scheduler=scheduler
            )
            proba[chosen] = model.predict_proba(patches, tta=tta)
            if progress is not None:
                progress(step.stop, where.size)
    best = np.nan_to_num(proba, nan=-1.0).argmax(axis=1) if len(names) else np.zeros(0, int)
    cols: dict[str, Any] = {
        "id": np.asarray(sub["id"], dtype=np.int64),
        "class": np.where(ok, values[best], 0),
        "class_name": np.where(ok, np.asarray(names, dtype=str)[best], ""),
        "confidence": np.where(ok, proba.max(axis=1, initial=-np.inf), np.nan),
    }
    for j, name in enumerate(names):
        cols[f"prob_{name}"] = proba[:, j]
    meta = {"method": model.method, "class_names": names, "values": values.tolist()}
    return Table(cols, meta=meta)


def _remap(block: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(block.shape, dtype=values.dtype)
    if keys.size == 0:
        return out
    pos = np.minimum(np.searchsorted(keys, block), keys.size - 1)
    hit = keys[pos] == block
    out[hit] = values[pos[hit]]
    return out


def class_volume(labels: Any, table: Table, *, column: str = "class") -> da.Array:
    """A lazy class volume: every object's voxels get its ``column`` value (0 elsewhere).

    Computed chunk by chunk from the instance ids; uint8 when the values fit, else uint16/32.
    """
    arr = labels if isinstance(labels, da.Array) else da.from_array(as_volume(labels, "labels"))
    keys = np.asarray(table["id"], dtype=np.int64)
    order = np.argsort(keys)
    vals = np.asarray(table[column])
    if vals.dtype.kind not in "iub":
        raise ObjectsError(f"Expected whole-number values in column {column!r}, got {vals.dtype}")
    top = int(vals.max(initial=0))
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
    return da.map_blocks(
        _remap, arr, keys=keys[order], values=vals[order].astype(dtype), dtype=dtype
    )


def majority_classes(labels: Any, classes: Any, *, scheduler: Scheduler = None) -> dict[int, int]:
    """Object id -> the class value covering most of its voxels (e.g. from ground truth)."""
    a = labels if isinstance(labels, da.Array) else da.from_array(as_volume(labels, "labels"))
    b = classes if isinstance(classes, da.Array) else da.from_array(as_volume(classes, "classes"))
    if a.shape != b.shape:
        raise ObjectsError(f"The labels have shape {a.shape} but the classes {b.shape}")
    ids, cls, n = cross_counts(a, b.rechunk(a.chunks), ignore=[0], scheduler=scheduler)
    out: dict[int, int] = {}
    best: dict[int, int] = {}
    for i, c, k in zip(ids.tolist(), cls.tolist(), n.tolist()):
        if k > best.get(i, -1):
            best[i], out[i] = k, c
    return out
