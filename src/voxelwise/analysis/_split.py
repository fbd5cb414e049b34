"""Apply splitter rules to a label volume: one class label per object, chunk by chunk."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise.analysis._arrays import as_labels
from voxelwise.analysis._errors import TableError
from voxelwise.analysis._rules import SplitRules
from voxelwise.analysis._table import Table

__all__ = ["class_dtype", "split_labels"]


def class_dtype(max_value: int) -> np.dtype:
    """The smallest unsigned dtype holding class values up to ``max_value``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def _lookup(
    block: np.ndarray, keys: np.ndarray, values: np.ndarray, out_dtype: np.dtype
) -> np.ndarray:
    """``values[i]`` where ``block == keys[i]``, 0 for ids not in ``keys`` (``keys`` sorted)."""
    out = np.zeros(block.shape, dtype=out_dtype)
    if keys.size == 0:
        return out
    pos = np.searchsorted(keys, block)
    np.minimum(pos, keys.size - 1, out=pos)
    hit = (keys[pos] == block) & (block != 0)
    out[hit] = values[pos[hit]]
    return out


def split_labels(labels: Any, table: Table, rules: SplitRules) -> tuple[da.Array, Table]:
    """Assign every object to a class by ordered rules; return the class layer and the table.

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        Object ids, as measured in ``table``.
    table : Table
        Measurements with an ``id`` column (from :func:`measure`) and every column the rules
        use.
    rules : SplitRules
        Ordered rules; the first that matches an object decides its class; objects that match
        none get the default class, or 0 without one.

    Returns
    -------
    classes : (Z, Y, X) dask array of uint8 (wider when class values need it)
        Lazy: each object's voxels hold its class value (``rules.classes``); background and
        objects missing from the table are 0.
    table : Table
        A copy of ``table`` with ``class`` and ``class_name`` columns.

    Raises
    ------
    UnknownMeasurementError
        A rule names a measurement the table lacks; the message lists the valid ones.

    Examples
    --------
    >>> import numpy as np
    >>> from voxelwise.analysis import Rule, SplitRules, measure
    >>> labels = np.array([[[1, 2, 2, 2, 0, 3]]])
    >>> table = measure(labels, surface=False)
    >>> rules = SplitRules([Rule("single", "volume_voxels", "<", 2)], default="many")
    >>> classes, out = split_labels(labels, table, rules)
    >>> classes.compute().tolist(), out["class_name"].tolist()
    ([[[1, 2, 2, 2, 0, 1]]], ['single', 'many', 'single'])
    """
    if not isinstance(rules, SplitRules):
        raise TypeError(
            f"Expected rules as SplitRules (e.g. SplitRules.from_yaml(path)), got "
            f"{type(rules).__name__} instead"
        )
    if "id" not in table:
        raise TableError(
            f"Expected a table with an 'id' column (from measure), got columns {table.names}"
        )
    arr = as_labels(labels)
    out = rules.apply(table)
    ids = np.asarray(out["id"], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    keys = ids[order]
    if keys.size > 1 and np.any(keys[1:] == keys[:-1]):
        raise TableError("The table lists an id twice; measure the labels again")
    dtype = class_dtype(max(rules.classes.values(), default=0))
    values = out["class"][order].astype(dtype)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    info = np.iinfo(arr.dtype)
    keep = (keys >= info.min) & (keys <= info.max)  # ids the labels cannot hold match nothing
    keys, values = keys[keep].astype(arr.dtype), values[keep]
    classes = da.map_blocks(
        _lookup, arr, dask.delayed(keys), dask.delayed(values), dtype, dtype=dtype
    )
    return classes, out
