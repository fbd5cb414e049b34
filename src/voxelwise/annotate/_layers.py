"""Annotation layers: create an empty one, or import a label volume from a file or an array."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, compute
from voxelwise._validate import as_volume_shape, parse_chunks, parse_roi
from voxelwise.annotate._errors import AnnotationError
from voxelwise.annotate._log import insert, transaction
from voxelwise.io import open_volume
from voxelwise.workspace import (
    InvalidLayerError,
    LabelNotFoundError,
    LayerExistsError,
    LayerInfo,
    Workspace,
)

__all__ = ["create_layer", "import_labels"]

_UNSIGNED = (np.uint16, np.uint32, np.uint64)


def _fitting_dtype(largest: int) -> np.dtype:
    for dt in _UNSIGNED:
        if largest <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise AnnotationError(f"Label value {largest} does not fit in 64 bits")


def _parse_dtype(dtype: Any, largest: int, what: str) -> np.dtype:
    if dtype is None:
        return _fitting_dtype(largest)
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"Expected dtype as e.g. 'uint16' or 'uint32', got {dtype!r}") from e
    if dt.kind not in "iu":
        raise InvalidLayerError(
            f"Annotation layers hold integers; got dtype {dt}; use 'uint16' or 'uint32'"
        )
    if largest > np.iinfo(dt).max:
        raise AnnotationError(
            f"{what} reaches value {largest}, which does not fit dtype {dt} (at most "
            f"{np.iinfo(dt).max}); use dtype={_fitting_dtype(largest).name!r} or leave dtype=None"
        )
    return dt


def create_layer(
    ws: Workspace,
    name: str,
    *,
    label_set: str | None = None,
    dtype: Any = None,
    chunks: Any = None,
    overwrite: bool = False,
) -> LayerInfo:
    """Add an empty annotation layer (all 0) to ``ws``; no chunk is stored until painted.

    Parameters
    ----------
    name : str
        Name of the new layer.
    label_set : str, optional
        The label set whose names and values the layer holds (create it with ``ws.add_label``).
        Without one, labels are painted as plain values.
    dtype : str or numpy dtype, optional
        Integer dtype; default uint16, or wider if the label set has larger values.
    chunks : int or (3,) ints, optional
        Chunk shape; default the workspace's. Smaller chunks make strokes cheaper.
    overwrite : bool
        Replace an existing layer of that name (and start a fresh edit history).
    """
    largest = 0
    if label_set is not None:
        largest = max((lab.value for lab in ws.label_set(label_set)), default=0)
    dt = _parse_dtype(dtype, largest, f"Label set {label_set!r}")
    chunk_shape = ws.chunks if chunks is None else chunks
    zeros = da.zeros(ws.shape, dtype=dt, chunks=parse_chunks(chunk_shape, ws.shape))
    return ws.add_layer(
        name,
        zeros,
        kind="annotation",
        chunks=chunks,
        overwrite=overwrite,
        label_set=label_set,
        params={"created_by": "voxelwise.annotate.create_layer"},
    )


def _counts(block: np.ndarray) -> np.ndarray:
    values, counts = np.unique(block, return_counts=True)
    out = np.empty((1,) * block.ndim, dtype=object)
    out[(0,) * block.ndim] = (values, counts)
    return out


def _value_counts(
    data: da.Array, scheduler: Scheduler, progress: ProgressCallback | None
) -> dict[int, int]:
    """Voxel count of every value, computed chunk by chunk (memory O(number of values))."""
    parts = da.map_blocks(_counts, data, dtype=object, chunks=(1,) * data.ndim)
    (result,) = compute(parts, scheduler=scheduler, progress=progress)
    totals: dict[int, int] = {}
    for values, counts in result.ravel():
        for v, c in zip(values.tolist(), counts.tolist()):
            totals[int(v)] = totals.get(int(v), 0) + int(c)
    return totals


def import_labels(
    ws: Workspace,
    source: str | os.PathLike[str] | Any,
    *,
    name: str,
    key: str | None = None,
    roi: Any = None,
    label_set: str | None = None,
    add_missing: bool = False,
    dtype: Any = None,
    overwrite: bool = False,
    author: str | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> LayerInfo:
    """Import a label volume (scribbles or dense labels) as an annotation layer, chunk by chunk.

    0 means unlabelled. The volume is read twice, chunk by chunk: once to list its values
    (checked against ``label_set``), once to write the layer. The import is the first entry of
    the layer's edit log (it cannot be undone; later edits can).

    Parameters
    ----------
    source : path or (Z, Y, X) integer array
        Any file :func:`voxelwise.io.open_volume` reads (TIFF, HDF5, MRC, Zarr, OME-Zarr, .npy,
        image stacks), or a numpy/dask/zarr array. Must have the workspace's shape.
    name : str
        Name of the new layer.
    key : str, optional
        Dataset inside a container file (HDF5, Zarr).
    roi : str or slices, optional
        Region ``"z0:z1,y0:y1,x0:x1"`` of the source to import, e.g. the ROI the workspace was
        created with.
    label_set : str, optional
        Label set describing the values; every non-zero value must be one of its labels.
    add_missing : bool
        Add values missing from ``label_set`` to it as labels named ``label_<value>`` (the set is
        created if needed) instead of refusing the import.
    dtype : str or numpy dtype, optional
        Integer dtype of the layer; default the narrowest of uint16/uint32/uint64 that holds
        the values.
    overwrite : bool
        Replace an existing layer of that name.
    author : str, optional
        Recorded in the edit log.
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress`` is called for each of the two passes.

    Raises
    ------
    InvalidLayerError
        The volume's shape differs from the workspace's (the message gives both), or it holds
        non-integer values.
    AnnotationError
        It holds negative values, or values too large for ``dtype``.
    LabelNotFoundError
        Values missing from ``label_set`` (and ``add_missing`` is False), or no such set.
    """
    if isinstance(source, str | os.PathLike):
        data = open_volume(source, key=key, roi=roi).data
        origin: str | None = str(Path(source))
    else:
        if not (hasattr(source, "shape") and hasattr(source, "dtype")):
            raise TypeError(
                f"Expected a path to a label volume or a (Z, Y, X) array, got "
                f"{type(source).__name__} instead"
            )
        data = source if isinstance(source, da.Array) else da.from_array(source)
        if roi is not None:
            full = as_volume_shape(data.shape, what="label volume")
            data = data.reshape(full)[parse_roi(roi, full)]
        origin = None
    shape = as_volume_shape(data.shape, what="label volume")
    if shape != tuple(ws.shape):
        raise InvalidLayerError(
            f"The label volume has shape {shape} but the workspace has shape {tuple(ws.shape)} "
            "(z, y, x); labels must match the image voxel for voxel (crop or pad them, or "
            "create the workspace from the matching image)"
        )
    data = data.reshape(shape)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "iu":
        raise InvalidLayerError(
            f"Expected integer label values, got dtype {data.dtype}; convert them first "
            "(e.g. array.astype('uint16')), or add continuous data with ws.add_layer"
        )
    data = data.rechunk(ws.chunks)
    if not overwrite and name in ws:
        raise LayerExistsError(
            f"A layer named {name!r} exists already in the workspace {ws.path}; pass "
            "overwrite=True to replace it, or choose another name"
        )
    sets = ws.label_sets()
    if label_set is not None and label_set not in sets and not add_missing:
        raise LabelNotFoundError(
            f"No label set named {label_set!r}; create it with ws.add_label({label_set!r}, "
            "'name', value=...) or pass add_missing=True"
        )
    totals = _value_counts(data, scheduler, progress)
    values = sorted(v for v in totals if v != 0)
    if values and values[0] < 0:
        raise AnnotationError(
            f"The label volume holds negative values (smallest {values[0]}); labels are >= 0 "
            "(0 = unlabelled)"
        )
    dt = _parse_dtype(dtype, values[-1] if values else 0, "The label volume")
    if label_set is not None:
        known = {lab.value for lab in sets.get(label_set, [])}
        missing = [v for v in values if v not in known]
        if missing and not add_missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise LabelNotFoundError(
                f"The label volume holds {len(missing)} value(s) that are not labels of set "
                f"{label_set!r}: {shown}. Add them with ws.add_label({label_set!r}, name, "
                "value=v) (or 'voxelwise labels add'), or pass add_missing=True"
            )
        for v in missing:
            ws.add_label(label_set, f"label_{v}", value=v)
    info = ws.add_layer(
        name,
        data.astype(dt),
        kind="annotation",
        overwrite=overwrite,
        label_set=label_set,
        params={"imported_from": origin, "key": key},
        scheduler=scheduler,
        progress=progress,
    )
    with transaction(ws) as conn:
        insert(
            conn,
            layer=name,
            directory=info.directory,
            kind="import",
            label=None,
            value=None,
            bbox=tuple((0, int(s)) for s in ws.shape),  # type: ignore[arg-type]
            voxels=sum(c for v, c in totals.items() if v != 0),
            author=author,
            params={"source": origin, "key": key, "roi": roi, "values": len(values)},
        )
    return info
