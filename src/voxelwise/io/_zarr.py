"""Zarr v2/v3 arrays and groups, and OME-Zarr (NGFF 0.4 and 0.5) multiscale images.

Reading picks the array (``key``) or pyramid ``level``, squeezes singleton time/channel axes
and takes voxel size and unit from NGFF ``coordinateTransformations`` and ``axes`` (or from
``spacing``/``unit`` attributes of a plain array). Writing streams chunk by chunk through
:func:`voxelwise._compute.store_chunks` (plain array) or
:func:`voxelwise.io._ngff.write_multiscale` (OME-Zarr pyramid).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from voxelwise._compute import ProgressCallback, Scheduler, store_chunks
from voxelwise._validate import parse_chunks
from voxelwise.errors import CorruptFileError, InvalidVolumeError, KeyRequiredError
from voxelwise.io._ngff import AXES, read_multiscales, write_multiscale
from voxelwise.io._volume import (
    channel_error,
    check_dtype,
    group_chunks,
    normalize_unit,
    spacing_from_attrs,
)

__all__ = ["is_zarr", "read_zarr", "write_ome_zarr", "write_zarr"]

_ZARR_MARKERS = ("zarr.json", ".zarray", ".zgroup", ".zattrs")


def is_zarr(path: Path) -> bool:
    """Whether the folder ``path`` is a zarr store (v2 or v3 metadata at its root)."""
    return path.is_dir() and any((path / m).is_file() for m in _ZARR_MARKERS)


def _open(path: Path) -> Any:
    try:
        return zarr.open(store=str(path), mode="r")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"The zarr metadata of {path} is damaged ({e})") from e
    except (FileNotFoundError, ValueError, KeyError, TypeError) as e:
        raise CorruptFileError(
            f"{path} looks like a zarr store but cannot be opened ({e}); check that it was "
            "written completely"
        ) from e


def _candidates(group: Any) -> list[str]:
    """Image arrays (ndim >= 2) and multiscale groups inside ``group``, not inside a pyramid."""
    pyramids: list[str] = []
    arrays: list[str] = []
    for name, node in sorted(group.members(max_depth=None), key=lambda m: m[0]):
        if any(name.startswith(p + "/") for p in pyramids):
            continue
        if isinstance(node, zarr.Group):
            if read_multiscales(node) is not None:
                pyramids.append(name)
        elif len(node.shape) >= 2:
            arrays.append(name)
    return pyramids + [a for a in arrays if not any(a.startswith(p + "/") for p in pyramids)]


def _scale_of(transforms: Any, ndim: int) -> list[float]:
    scale = [1.0] * ndim
    for t in transforms or []:
        if isinstance(t, dict) and t.get("type") == "scale" and len(t.get("scale", [])) == ndim:
            scale = [a * float(b) for a, b in zip(scale, t["scale"])]
    return scale


def _read_multiscale(group: Any, ms: dict[str, Any], path: Path, level: int) -> dict[str, Any]:
    datasets = ms.get("datasets") or []
    levels = len(datasets)
    if not 0 <= level < levels:
        raise ValueError(
            f"Expected level between 0 and {levels - 1} for {path}, got {level} instead"
        )
    arr = group[datasets[level]["path"]]
    ndim = len(arr.shape)
    axes_meta = ms.get("axes") or [
        {"name": n, "type": "space"} for n in ("t", "c", "z", "y", "x")[5 - ndim :]
    ]
    axes = [a if isinstance(a, dict) else {"name": str(a)} for a in axes_meta]
    if len(axes) != ndim:
        raise CorruptFileError(
            f"The OME-Zarr metadata of {path} names {len(axes)} axes for {ndim}D arrays"
        )
    scale = _scale_of(datasets[level].get("coordinateTransformations"), ndim)
    top = _scale_of(ms.get("coordinateTransformations"), ndim)
    scale = [a * b for a, b in zip(scale, top)]
    index: list[Any] = []
    space: list[int] = []
    for i, (axis, size) in enumerate(zip(axes, arr.shape)):
        name = str(axis.get("name", "")).lower()
        kind = axis.get("type") or ("space" if name in AXES else name)
        if kind == "space":
            space.append(i)
            index.append(slice(None))
        elif size == 1:
            index.append(0)
        elif kind == "channel" or name == "c":
            raise channel_error(path, f"an OME-Zarr channel axis {name!r} of {size} channels")
        else:
            raise InvalidVolumeError(
                f"{path} has a {kind} axis {name!r} of length {size}; voxelwise reads one 3D "
                "volume: save each time point or channel as its own image"
            )
    check_dtype(arr.dtype, path)
    natural = getattr(arr, "shards", None) or arr.chunks
    nat_space = [natural[i] for i in space]
    shape_space = [arr.shape[i] for i in space]
    if len(space) == 2:
        nat_space, shape_space = [1, *nat_space], [1, *shape_space]
    chunks_space = group_chunks(nat_space, shape_space, arr.dtype.itemsize)
    chunks = [1] * ndim
    for j, i in enumerate(space):
        chunks[i] = chunks_space[j + (1 if len(space) == 2 else 0)]
    data = da.from_zarr(arr, chunks=tuple(chunks))[tuple(index)]
    spatial_scale = [scale[i] for i in space]
    if len(spatial_scale) == 2:
        spatial_scale = [spatial_scale[0], *spatial_scale]
    spacing = tuple(float(s) for s in spatial_scale) if all(s > 0 for s in spatial_scale) else None
    units = [axes[i].get("unit") for i in space if axes[i].get("unit")]
    unit = normalize_unit(units[-1]) if units else None
    return dict(data=data, spacing=spacing, unit=unit, levels=levels, format="ome-zarr")


def _read_node(node: Any, path: Path, key: str | None, level: int) -> dict[str, Any]:
    if isinstance(node, zarr.Array):
        if level != 0:
            raise ValueError(f"{path} is a single zarr array without pyramid levels; use level=0")
        check_dtype(node.dtype, path)
        natural = getattr(node, "shards", None) or node.chunks
        shape = tuple(int(s) for s in node.shape)
        if len(shape) in (2, 3):
            nat3 = (1, *natural) if len(shape) == 2 else natural
            c3 = group_chunks(nat3, (1, *shape) if len(shape) == 2 else shape, node.dtype.itemsize)
            chunks: Any = c3[1:] if len(shape) == 2 else c3
        else:
            chunks = natural
        spacing, unit = spacing_from_attrs(dict(node.attrs), len(shape))
        data = da.from_zarr(node, chunks=chunks)
        return dict(data=data, spacing=spacing, unit=unit, levels=1, key=key, format="zarr")
    ms = read_multiscales(node)
    if ms is not None:
        out = _read_multiscale(node, ms, path, level)
        out["key"] = key
        return out
    attrs = dict(node.attrs)
    if "bioformats2raw.layout" in attrs and "0" in node:
        return _read_node(node["0"], path, _join(key, "0"), level)
    names = _candidates(node)
    if len(names) == 1:
        return _read_node(node[names[0]], path, _join(key, names[0]), level)
    if not names:
        raise InvalidVolumeError(f"The zarr group {path} holds no array with 2 or more dimensions")
    raise KeyRequiredError(
        f"The zarr group {path} holds {len(names)} images ({', '.join(names)}); choose one with "
        f"key=, e.g. key={names[0]!r}",
        names,
    )


def _join(key: str | None, name: str) -> str:
    return f"{key.strip('/')}/{name}" if key else name


def read_zarr(path: Path, *, key: str | None = None, level: int = 0) -> dict[str, Any]:
    """Open a zarr array, group member or OME-Zarr level lazily.

    Returns ``data``, ``spacing``, ``unit``, ``levels``, ``key`` and ``format`` ("zarr" or
    "ome-zarr").
    """
    node = _open(path)
    if key is not None:
        key = key.strip("/")
        if not isinstance(node, zarr.Group) or key not in node:
            names = _candidates(node) if isinstance(node, zarr.Group) else []
            raise KeyRequiredError(
                f"{path} has no array or image {key!r}; it holds: {', '.join(names) or 'no keys'}",
                names,
            )
        node = node[key]
    return _read_node(node, path, key, level)


def write_zarr(
    image: da.Array,
    path: Path,
    *,
    chunks: Any,
    key: str | None,
    spacing: tuple[float, float, float] | None,
    unit: str | None,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> None:
    """Write a plain zarr v3 array (at ``key`` inside a new group when given)."""
    chunk_shape = parse_chunks(chunks, image.shape)
    attrs: dict[str, Any] = {}
    if spacing is not None:
        attrs["spacing"] = [float(s) for s in spacing]
        if unit:
            attrs["unit"] = unit
    kwargs: dict[str, Any] = dict(
        shape=image.shape,
        chunks=chunk_shape,
        dtype=image.dtype,
        dimension_names=AXES,
        fill_value=np.zeros((), image.dtype).item(),
        attributes=attrs,
        zarr_format=3,
    )
    if key:
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        kwargs.pop("zarr_format")
        target = group.create_array(key.strip("/"), **kwargs)
    else:
        target = zarr.create_array(store=str(path), **kwargs)
    store_chunks(image, target, scheduler=scheduler, progress=progress)


def write_ome_zarr(
    image: da.Array,
    path: Path,
    *,
    chunks: Any,
    key: str | None,
    spacing: tuple[float, float, float] | None,
    unit: str | None,
    levels: int | None,
    name: str,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> None:
    """Write an NGFF 0.5 multiscale image (the root group, or group ``key`` inside it)."""
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    group = root.create_group(key.strip("/")) if key else root
    write_multiscale(
        group,
        image,
        spacing=spacing or (1.0, 1.0, 1.0),
        unit=unit if spacing is not None else None,
        chunks=chunks,
        name=name,
        levels=levels,
        scheduler=scheduler,
        progress=progress,
    )
