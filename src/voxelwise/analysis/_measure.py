"""Per-object measurements of a label volume, chunk by chunk, as a :class:`Table`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import numpy as np

from voxelwise import _compute
from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._arrays import (
    as_labels,
    as_volume,
    chunk_origins,
    haloed_tasks,
    is_stored,
    match_shape,
    parse_spacing_or_unit,
)
from voxelwise.analysis._moments import chunk_moments, combine_moments
from voxelwise.analysis._surface import chunk_surfaces, finish_surfaces, plan_surface
from voxelwise.analysis._table import Table

__all__ = ["INTENSITY_STATISTICS", "MEASUREMENTS", "measure", "measurement_names"]

MEASUREMENTS: dict[str, str] = {
    "id": "object id (the label value)",
    "volume_voxels": "number of voxels",
    "volume": "volume in physical units: voxels x spacing_z x spacing_y x spacing_x",
    "centroid_z": "mean z voxel index (multiply by spacing_z for physical units)",
    "centroid_y": "mean y voxel index",
    "centroid_x": "mean x voxel index",
    "bbox_z0": "bounding box start along z (voxel index, inclusive)",
    "bbox_y0": "bounding box start along y",
    "bbox_x0": "bounding box start along x",
    "bbox_z1": "bounding box end along z (voxel index, exclusive)",
    "bbox_y1": "bounding box end along y (exclusive)",
    "bbox_x1": "bounding box end along x (exclusive)",
    "extent_major": "longest edge of the PCA-oriented box, physical units (sqrt(12 var))",
    "extent_middle": "middle edge of the PCA-oriented box, physical units",
    "extent_minor": "shortest edge of the PCA-oriented box, physical units",
    "axis_z": "z component of the major axis (unit vector in physical space)",
    "axis_y": "y component of the major axis",
    "axis_x": "x component of the major axis",
    "surface_area": "marching-cubes surface area, physical units squared",
    "sphericity": "pi^(1/3) (6 volume)^(2/3) / surface_area: 1 for a ball, less otherwise",
}
INTENSITY_STATISTICS = ("sum", "mean", "std", "min", "max")
_SHAPE_COLUMNS = tuple(k for k in MEASUREMENTS if k not in ("surface_area", "sphericity"))


def measurement_names(intensity_names: Any = (), *, surface: bool = True) -> list[str]:
    """The columns :func:`measure` produces for these intensity layer names."""
    names = list(_SHAPE_COLUMNS)
    if surface:
        names += ["surface_area", "sphericity"]
    for layer in intensity_names:
        names += [f"{layer}_{stat}" for stat in INTENSITY_STATISTICS]
    return names


def _parse_intensity(intensity: Any) -> dict[str, Any]:
    if intensity is None:
        return {}
    if not isinstance(intensity, Mapping):
        intensity = {"intensity": intensity}
    out = {}
    for name, arr in intensity.items():
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(
                f"Expected intensity layer names of letters, digits, '_' and '-', got {name!r} "
                "instead (they become column names like NAME_mean)"
            )
        out[name] = arr
    return out


def _pca(
    scatter: np.ndarray, n: np.ndarray, spacing: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(k, 3) box edges (major first) and (k, 3) major axes from coordinate scatter matrices."""
    k = n.size
    cov = np.zeros((k, 3, 3))
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    sp = np.asarray(spacing)
    for p, (a, b) in enumerate(pairs):
        cov[:, a, b] = cov[:, b, a] = scatter[:, p] / n * sp[a] * sp[b]
    cov += np.diag(sp**2 / 12.0)  # each voxel is a box, not a point
    values, vectors = np.linalg.eigh(cov) if k else (np.empty((0, 3)), np.empty((0, 3, 3)))
    edges = np.sqrt(12.0 * np.clip(values[:, ::-1], 0.0, None))
    major = vectors[:, :, 2] if k else np.empty((0, 3))
    flip = np.take_along_axis(major, np.abs(major).argmax(axis=1)[:, None], axis=1) < 0
    major = np.where(flip, -major, major)
    return edges, major


def measure(
    labels: Any,
    intensity: Any = None,
    *,
    spacing: Any = None,
    surface: bool = True,
    chunks: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> Table:
    """Measure every object of a label volume: size, position, shape, surface, intensities.

    Works chunk by chunk: every chunk gives per-object partial sums (count, coordinate sums and
    outer products, bounding box, intensity sums, squared deviations, min and max) that are
    combined over chunks, so objects may span any number of chunks and memory is
    O(number of objects), never O(voxels). Surface areas are also summed chunk by chunk (see
    Notes), exactly as if the whole volume were meshed at once.

    Parameters
    ----------
    labels : (Z, Y, X) array of int
        NumPy, dask or zarr array of object ids; 0 is background and gets no row. A boolean
        mask is one object with id 1.
    intensity : (Z, Y, X) array or dict of str to (Z, Y, X) arrays, optional
        Layers to summarise per object (any real dtype); a single array is named
        ``"intensity"``. Each adds ``NAME_sum``, ``NAME_mean``, ``NAME_std`` (population),
        ``NAME_min`` and ``NAME_max``.
    spacing : float or (3,) floats, optional
        Voxel size (z, y, x); default 1 (results in voxel units).
    surface : bool
        Compute ``surface_area`` and ``sphericity`` (the costliest part: turn it off for a
        quick table).
    chunks : int or (3,) ints, optional
        Rechunk the labels first (default: their own chunks).
    scheduler, progress
        Where to compute and ``progress(done, total)``; see :func:`voxelwise.blockwise.compute`.

    Returns
    -------
    Table
        One row per id, sorted by id, with the columns of :data:`MEASUREMENTS` (in that order,
        the surface columns only with ``surface=True``) then the intensity columns. An empty
        label volume gives a table with these columns and no rows. ``table.meta`` records the
        spacing and the intensity layer names.

    Notes
    -----
    The surface is meshed by marching cubes on a smoothed signed distance of each object and
    read at the level that encloses the object's voxel volume; balls of radius >= 10 voxels
    are within about 2 % of 4 pi r^2, also with anisotropic spacing; sharp edges are rounded
    off, so angular objects read low (a 30-voxel cube by 6 %; see
    :mod:`voxelwise.analysis._surface`). Objects touching the volume's border are closed by it.
    Oriented box edges are ``sqrt(12 lambda)`` of the eigenvalues of the coordinate covariance
    (each voxel counted as a small box), so an axis-aligned box of ``n`` voxels of size ``s``
    measures exactly ``n s``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((4, 8, 8), dtype=np.uint8)
    >>> labels[1:3, 2:6, 2:4] = 7
    >>> t = measure(labels, spacing=(2, 1, 1), surface=False)
    >>> int(t["id"][0]), int(t["volume_voxels"][0]), float(t["volume"][0])
    (7, 16, 32.0)
    >>> [round(float(t[k][0]), 3) for k in ("extent_major", "extent_middle", "extent_minor")]
    [4.0, 4.0, 2.0]
    """
    arr = as_labels(labels, chunks=chunks)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    sp = parse_spacing_or_unit(spacing)
    layers = _parse_intensity(intensity)
    layer_arrays = []
    for name, value in layers.items():
        layer = match_shape(
            arr, as_volume(value, what=f"intensity {name!r}"), ("labels", f"intensity {name!r}")
        )
        if layer.dtype.kind not in "biuf":
            raise TypeError(f"Expected a real-valued intensity {name!r}, got dtype {layer.dtype}")
        layer_arrays.append(layer)

    blocks = [a.to_delayed().ravel() for a in (arr, *layer_arrays)]
    moment_tasks = [
        dask.delayed(chunk_moments)(*(b[i] for b in blocks), origin=origin)
        for i, origin in enumerate(chunk_origins(arr))
    ]
    surface_tasks = []
    plan = plan_surface(sp)
    if surface:
        direct = labels if is_stored(labels) and labels.dtype != bool else None
        surface_tasks = haloed_tasks(chunk_surfaces, arr, plan.halo, source=direct, plan=plan)
    results = _compute.compute(
        *moment_tasks, *surface_tasks, scheduler=scheduler, progress=progress
    )
    moments = combine_moments(list(results[: len(moment_tasks)]), len(layer_arrays))

    n = moments["n"]
    voxel = float(np.prod(sp))
    cols: dict[str, Any] = {
        "id": moments["id"],
        "volume_voxels": n.astype(np.int64),
        "volume": n * voxel,
    }
    for a, axis in enumerate("zyx"):
        cols[f"centroid_{axis}"] = moments["mean"][:, a]
    for end, key in (("0", "lo"), ("1", "hi")):
        for a, axis in enumerate("zyx"):
            cols[f"bbox_{axis}{end}"] = moments[key][:, a]
    edges, major = _pca(moments["scatter"], n, sp)
    for j, name in enumerate(("major", "middle", "minor")):
        cols[f"extent_{name}"] = edges[:, j]
    for a, axis in enumerate("zyx"):
        cols[f"axis_{axis}"] = major[:, a]
    if surface:
        area = finish_surfaces(list(results[len(moment_tasks) :]), moments["id"], n * voxel, plan)
        cols["surface_area"] = area
        with np.errstate(divide="ignore", invalid="ignore"):
            sphericity = np.pi ** (1 / 3) * (6 * n * voxel) ** (2 / 3) / area
        cols["sphericity"] = np.where(area > 0, sphericity, np.nan)
    for i, name in enumerate(layers):
        mean = moments[f"mean{i}"]
        cols[f"{name}_sum"] = mean * n
        cols[f"{name}_mean"] = mean
        cols[f"{name}_std"] = np.sqrt(moments[f"m2_{i}"] / np.maximum(n, 1))
        cols[f"{name}_min"] = moments[f"min{i}"]
        cols[f"{name}_max"] = moments[f"max{i}"]
    meta = {"spacing": list(sp), "intensity": list(layers), "surface": bool(surface)}
    return Table(cols, meta=meta)
