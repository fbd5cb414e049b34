"""Layers: list, metadata, delete, export (a job), and their values as slices, chunks, regions."""

from __future__ import annotations

import hashlib
from pathlib import PurePath
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Path, Query, Response, status

from voxelwise._validate import parse_roi
from voxelwise.server._auth import Annotator, Owner, Viewer
from voxelwise.server._codec import Compression, array_response, binary_responses
from voxelwise.server._errors import ApiError
from voxelwise.server._paths import confine, relative_to_root
from voxelwise.server._schemas import ExportRequest, JobOut, LayerOut, Name
from voxelwise.server._state import AppState
from voxelwise.server._submit import ERRORS, submit_job

__all__ = ["layer_out", "router"]

router = APIRouter(prefix="/workspaces/{ws}/layers", tags=["layers"], responses=ERRORS)

Level = Annotated[int, Query(ge=0, le=32, description="Pyramid level (0 = full resolution)")]
Comp = Annotated[Compression, Query(description="Compression of the body")]
ChunkIndex = Annotated[int, Path(ge=0, le=2**31)]


def version_of(info: Any) -> str:
    return hashlib.sha1(info.directory.encode()).hexdigest()[:12]


def _hide_paths(value: Any, root: Any) -> Any:
    """``value`` with every absolute path in it shown relative to the data root (server paths
    are never shown: a layer's parameters record the file it came from)."""
    if isinstance(value, dict):
        return {k: _hide_paths(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hide_paths(v, root) for v in value]
    if isinstance(value, str) and PurePath(value).is_absolute():
        return relative_to_root(root, value)
    return value


def layer_out(state: AppState, ws: Any, info: Any) -> dict[str, Any]:
    levels = []
    for level in range(info.levels):
        arr, _ = state.array(ws, info.name, level)
        levels.append(
            {
                "shape": [int(s) for s in arr.shape],
                "chunks": [int(c) for c in arr.chunks],
                "spacing": list(ws.level_spacing(info.name, level)),
            }
        )
    return {
        "name": info.name,
        "kind": info.kind,
        "dtype": info.dtype,
        "shape": list(info.shape),
        "chunks": list(info.chunks),
        "levels": levels,
        "version": version_of(info),
        "sources": list(info.sources),
        "params": _hide_paths(info.params, state.settings.data_root),
        "label_set": info.label_set,
        "created": info.created.isoformat(),
        "stats": info.stats,
    }


@router.get("", response_model=list[LayerOut], summary="Every layer, raw image first")
def list_layers(access: Viewer) -> list[dict[str, Any]]:
    ws = access.ws
    return [layer_out(access.state, ws, info) for info in ws.layers.values()]


@router.get("/{layer}", response_model=LayerOut, summary="One layer's metadata and statistics")
def get_layer(layer: Name, access: Viewer) -> dict[str, Any]:
    ws = access.ws
    return layer_out(access.state, ws, ws.layer(layer))


@router.delete("/{layer}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a layer (owner)")
def delete_layer(layer: Name, access: Owner) -> None:
    access.ws.delete_layer(layer)


def _array(access: Any, layer: str, level: int, version: str | None = None) -> tuple[Any, str, Any]:
    arr, info = access.state.array(access.ws, layer, level)
    current = version_of(info)
    if version is not None and version != current:
        raise ApiError(
            409,
            f"Layer {layer!r} was replaced since version {version}; fetch its metadata again",
            type="LayerChanged",
        )
    return arr, current, info


def _read(access: Any, info: Any, level: int, arr: Any, box: tuple[slice, ...]) -> np.ndarray:
    return np.asarray(access.state.read(access.ws, info, level, arr, box))


@router.get(
    "/{layer}/slice",
    response_class=Response,
    responses=binary_responses(),
    summary="One 2D slice of a layer (raw bytes)",
)
def get_slice(
    layer: Name,
    access: Viewer,
    index: Annotated[int, Query(ge=0, le=2**31, description="Slice number along the axis")],
    axis: Annotated[Literal["z", "y", "x"], Query()] = "z",
    level: Level = 0,
    compression: Comp = "none",
) -> Response:
    arr, version, info = _array(access, layer, level)
    a = "zyx".index(axis)
    if index >= arr.shape[a]:
        raise ApiError(
            422,
            f"Slice {index} is outside layer {layer!r} at level {level}: {axis} runs from 0 to "
            f"{arr.shape[a] - 1}",
            type="RoiError",
        )
    box = [slice(0, int(s)) for s in arr.shape]
    box[a] = slice(int(index), int(index) + 1)
    values = _read(access, info, level, arr, tuple(box))
    return array_response(values.squeeze(axis=a), compression=compression, version=version)


@router.get(
    "/{layer}/chunks/{level}/{cz}/{cy}/{cx}",
    response_class=Response,
    responses=binary_responses(),
    summary="One stored chunk of a layer (raw bytes)",
)
def get_chunk(
    layer: Name,
    level: Annotated[int, Path(ge=0, le=32)],
    cz: ChunkIndex,
    cy: ChunkIndex,
    cx: ChunkIndex,
    access: Viewer,
    compression: Comp = "none",
    version: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The chunk at grid position (cz, cy, cx) of the level's chunk grid (see the layer's
    ``levels``); edge chunks are cut to the array. With ``version``, 409 if the layer changed."""
    arr, current, info = _array(access, layer, level, version)
    index = (cz, cy, cx)
    grid = [-(-int(s) // int(c)) for s, c in zip(arr.shape, arr.chunks)]
    if any(i >= g for i, g in zip(index, grid)):
        raise ApiError(
            422,
            f"Chunk {index} is outside the chunk grid {tuple(grid)} of layer {layer!r} at level {level}",
            type="RoiError",
        )
    box = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, arr.chunks, arr.shape))
    return array_response(
        _read(access, info, level, arr, box), compression=compression, version=current
    )


@router.get(
    "/{layer}/region",
    response_class=Response,
    responses=binary_responses(),
    summary="A box of a layer (raw bytes)",
)
def get_region(
    layer: Name,
    access: Viewer,
    roi: Annotated[str, Query(max_length=200, description="'z0:z1,y0:y1,x0:x1' at the level")],
    level: Level = 0,
    compression: Comp = "none",
) -> Response:
    arr, version, info = _array(access, layer, level)
    box = parse_roi(roi, tuple(int(s) for s in arr.shape))
    size = int(np.prod([s.stop - s.start for s in box])) * np.dtype(arr.dtype).itemsize
    limit = access.state.settings.max_response_bytes
    if size > limit:
        raise ApiError(
            422,
            f"The region holds {size} bytes, more than the {limit} one request may read; read "
            "it in parts or chunk by chunk",
            type="RegionTooLarge",
        )
    return array_response(
        _read(access, info, level, arr, box), compression=compression, version=version
    )


@router.post(
    "/{layer}/export",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Write a layer to a file under exports/ (a job)",
)
def export_layer(layer: Name, body: ExportRequest, access: Annotator) -> dict[str, Any]:
    state = access.state
    state.settings.exports_dir.mkdir(exist_ok=True)
    confine(state.settings.exports_dir, body.path, what="export path", user=access.user.name)
    info = access.ws.layer(layer)
    if body.level >= info.levels:
        raise ApiError(
            422,
            f"Layer {layer!r} has {info.levels} level(s); got level={body.level}",
            type="ValueError",
        )
    params = {"layer": layer, **body.model_dump(mode="json")}
    return submit_job(state, access.user, "export", access.name, params)
