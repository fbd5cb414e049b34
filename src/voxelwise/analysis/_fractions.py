"""Volume fractions of classes inside a mask, a parent label or each region, chunk by chunk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._arrays import (
    as_labels,
    isin_block,
    match_shape,
    parse_spacing_or_unit,
)
from voxelwise.analysis._table import Table

__all__ = ["volume_fractions"]


def _pair_counts(
    classes: np.ndarray, regions: np.ndarray | None, *, ignore: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct region ids, distinct class values and the (regions, classes) voxel counts."""
    keep = ~np.isin(classes, ignore) if ignore.size else np.ones(classes.shape, dtype=bool)
    if regions is not None:
        keep &= regions != 0
    c = classes[keep]
    r = regions[keep] if regions is not None else np.ones(c.size, dtype=np.int64)
    if c.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.zeros((0, 0), np.int64)
    r_ids, r_inv = np.unique(r, return_inverse=True)
    c_ids, c_inv = np.unique(c, return_inverse=True)
    counts = np.bincount(
        r_inv.ravel() * c_ids.size + c_inv.ravel(), minlength=r_ids.size * c_ids.size
    )
    return r_ids.astype(np.int64), c_ids.astype(np.int64), counts.reshape(r_ids.size, c_ids.size)


def _column_name(value: int, names: Mapping[int, str]) -> str:
    name = names.get(value, f"class_{value}")
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(name))


def volume_fractions(
    classes: Any,
    within: Any = None,
    *,
    values: Any = None,
    names: Mapping[int, str] | None = None,
    spacing: Any = None,
    ignore_label: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Table:
    """The fraction of a region's volume each class occupies (e.g. organelle volume fractions).

    As in Guay et al. (2021), where the fractions of cell volume taken by mitochondria,
    granules, nuclei, ... are compared between cells: one row per region, one fraction per
    class, computed chunk by chunk (memory O(regions x classes)).

    Parameters
    ----------
    classes : (Z, Y, X) array of int
        A class map (semantic labels).
    within : None, int, sequence of int, or (Z, Y, X) array of bool or int, optional
        The region(s): ``None`` the whole volume; a class value or values of ``classes``
        itself whose union is the parent (e.g. the classes that make up a cell: cytoplasm,
        mitochondria, nucleus); a mask; or a label array of regions (one row per id, e.g.
        cell instances).
    values : sequence of int, optional
        The classes to report; default every non-zero class present inside the regions.
    names : mapping of int to str, optional
        Class names for the column names (default ``class_<value>``).
    spacing : float or (3,) floats, optional
        Voxel size, for the ``volume`` column.
    ignore_label : int or sequence of int, optional
        Class values left out entirely (unannotated voxels): they count in neither the region
        nor any class.
    scheduler, progress
        Where to compute and ``progress(done, total)``.

    Returns
    -------
    Table
        Columns ``region`` (1 for the whole volume, a mask or a parent label; else the region
        id), ``voxels`` and ``volume`` of the region, then for each class ``voxels_NAME`` and
        ``fraction_NAME`` (its share of the region's voxels, NaN for an empty region).

    Examples
    --------
    >>> import numpy as np
    >>> cls = np.array([[[1, 1, 1, 2, 3, 0, 0, 0]]])
    >>> t = volume_fractions(cls, within=[1, 2, 3], names={1: "cyto", 2: "mito", 3: "nucleus"})
    >>> int(t["voxels"][0]), float(t["fraction_mito"][0]), float(t["fraction_cyto"][0])
    (5, 0.2, 0.6)
    """
    arr = as_labels(classes, what="class map")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    sp = parse_spacing_or_unit(spacing)
    ignore = np.atleast_1d(np.asarray([] if ignore_label is None else ignore_label, dtype=np.int64))
    regions = None
    if within is not None:
        if hasattr(within, "shape") and len(within.shape) >= 2:
            regions = match_shape(
                arr, as_labels(within, what="region labels"), ("class map", "regions")
            )
            if regions.dtype == bool:
                regions = regions.astype(np.uint8)
        else:
            parent = np.atleast_1d(np.asarray(within))
            if parent.dtype.kind not in "iu":
                raise TypeError(
                    f"Expected within as class values, a mask or a label array, got {within!r}"
                )
            regions = da.map_blocks(isin_block, arr, values=parent.astype(np.int64), dtype=bool)
            regions = regions.astype(np.uint8)
    class_blocks = arr.to_delayed().ravel()
    region_blocks = (
        regions.to_delayed().ravel() if regions is not None else [None] * len(class_blocks)
    )
    tasks = [
        dask.delayed(_pair_counts)(c, r, ignore=ignore) for c, r in zip(class_blocks, region_blocks)
    ]
    parts = _compute.compute(*tasks, scheduler=scheduler, progress=progress)
    r_all = np.unique(np.concatenate([p[0] for p in parts] + [np.empty(0, np.int64)]))
    c_all = np.unique(np.concatenate([p[1] for p in parts] + [np.empty(0, np.int64)]))
    counts = np.zeros((r_all.size, c_all.size), dtype=np.int64)
    for r_ids, c_ids, m in parts:
        if m.size:
            counts[np.ix_(np.searchsorted(r_all, r_ids), np.searchsorted(c_all, c_ids))] += m
    single = within is None or not hasattr(within, "shape") or within.dtype == bool
    if single and r_all.size == 0:  # one region, empty: still one row
        r_all = np.ones(1, dtype=np.int64)
        counts = np.zeros((1, c_all.size), dtype=np.int64)
    report = (
        np.unique(np.asarray(list(values), dtype=np.int64))
        if values is not None
        else c_all[c_all != 0]
    )
    totals = counts.sum(axis=1)
    cols: dict[str, Any] = {
        "region": r_all,
        "voxels": totals,
        "volume": totals * float(np.prod(sp)),
    }
    names = dict(names or {})
    for v in report.tolist():
        j = np.searchsorted(c_all, v)
        col = counts[:, j] if j < c_all.size and c_all[j] == v else np.zeros(r_all.size, np.int64)
        name = _column_name(int(v), names)
        cols[f"voxels_{name}"] = col
        with np.errstate(divide="ignore", invalid="ignore"):
            cols[f"fraction_{name}"] = np.where(totals > 0, col / np.maximum(totals, 1), np.nan)
    meta = {
        "spacing": list(sp),
        "classes": {str(v): names.get(int(v), "") for v in report.tolist()},
    }
    return Table(cols, meta=meta)
