"""Label sets and annotation edits: brush strokes, fills, interpolation, undo/redo, history.

Edits go through :mod:`voxelwise.annotate`, which serialises edits of one layer across threads
and processes (a per-layer lock plus the edit log's write transaction around the chunk
read-modify-write), so concurrent clients never lose each other's voxels. Each edit reads and
rewrites only the chunks it touches, so a stroke costs the same on any size of volume.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, status

from voxelwise.server._auth import Annotator, Viewer, WsAccess
from voxelwise.server._errors import ApiError
from voxelwise.server._paths import confine
from voxelwise.server._routes_layers import layer_out
from voxelwise.server._schemas import (
    AnnotationLayerCreate,
    EditOut,
    FillRequest,
    InterpolateRequest,
    JobOut,
    LabelCreate,
    LabelOut,
    LabelUpdate,
    LayerOut,
    Name,
    StrokeRequest,
)
from voxelwise.server._schemas_jobs import ImportLabelsRequest
from voxelwise.server._submit import ERRORS, submit_job

__all__ = ["router"]

router = APIRouter(prefix="/workspaces/{ws}", responses=ERRORS)


async def _in_edit_thread(access: WsAccess, fn: Any, *args: Any) -> Any:
    """Run an edit in a thread of its own pool: edits of one layer wait for each other, and
    waiting edits must not take the threads that slice and chunk requests need."""
    return await anyio.to_thread.run_sync(
        functools.partial(fn, *args), limiter=access.state.edit_limiter
    )


def _label(info: Any) -> dict[str, Any]:
    return {
        "label_set": info.label_set,
        "name": info.name,
        "value": info.value,
        "color": list(info.color),
        "parent": info.parent,
    }


def _edit(edit: Any) -> dict[str, Any] | None:
    if edit is None:
        return None
    return {
        "id": edit.id,
        "layer": edit.layer,
        "kind": edit.kind,
        "label": edit.label,
        "value": edit.value,
        "bbox": None if edit.bbox is None else [list(b) for b in edit.bbox],
        "voxels": int(edit.voxels),
        "time": edit.time.isoformat(),
        "author": edit.author,
        "target": edit.target,
        "applied": bool(edit.applied),
        "params": edit.params,
    }


# -- label sets ---------------------------------------------------------------------------------


@router.get(
    "/label-sets",
    tags=["labels"],
    response_model=dict[str, list[LabelOut]],
    summary="All label sets",
)
def label_sets(access: Viewer) -> dict[str, list[dict[str, Any]]]:
    return {k: [_label(x) for x in v] for k, v in access.ws.label_sets().items()}


@router.get(
    "/label-sets/{label_set}",
    tags=["labels"],
    response_model=list[LabelOut],
    summary="One label set",
)
def label_set(label_set: Name, access: Viewer) -> list[dict[str, Any]]:
    return [_label(x) for x in access.ws.label_set(label_set)]


@router.post(
    "/label-sets/{label_set}/labels",
    tags=["labels"],
    response_model=LabelOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a label (the set is created with its first label)",
)
def add_label(label_set: Name, body: LabelCreate, access: Annotator) -> dict[str, Any]:
    info = access.ws.add_label(
        label_set, body.name, value=body.value, color=_color(body.color), parent=body.parent
    )
    return _label(info)


def _color(color: Any) -> Any:
    if isinstance(color, list) and all(float(c).is_integer() for c in color):
        return [int(c) for c in color]
    return color


@router.patch(
    "/label-sets/{label_set}/labels/{label}",
    tags=["labels"],
    response_model=LabelOut,
    summary="Rename, recolour or re-parent a label",
)
def update_label(
    label_set: Name, label: Name, body: LabelUpdate, access: Annotator
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"name": body.name, "color": _color(body.color)}
    if "parent" in body.model_fields_set:
        kwargs["parent"] = body.parent
    return _label(access.ws.update_label(label_set, label, **kwargs))


@router.delete(
    "/label-sets/{label_set}/labels/{label}",
    tags=["labels"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a label",
)
def delete_label(label_set: Name, label: Name, access: Annotator) -> None:
    access.ws.delete_label(label_set, label)


# -- annotation layers and edits ----------------------------------------------------------------


@router.post(
    "/annotations",
    tags=["annotations"],
    response_model=LayerOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add an empty annotation layer",
)
def create_annotation_layer(body: AnnotationLayerCreate, access: Annotator) -> dict[str, Any]:
    from voxelwise.annotate import create_layer

    ws = access.ws
    info = create_layer(
        ws,
        body.name,
        label_set=body.label_set,
        dtype=body.dtype,
        chunks=body.chunks,
        overwrite=body.overwrite,
    )
    return layer_out(access.state, ws, info)


@router.post(
    "/annotations/import",
    tags=["annotations"],
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import a label volume under the data root as an annotation layer (a job)",
)
def import_labels(body: ImportLabelsRequest, access: Annotator) -> dict[str, Any]:
    root = access.state.settings.data_root
    confine(root, body.path, what="label path", user=access.user.name, must_exist=True)
    if body.name in access.ws and not body.overwrite:
        raise ApiError(
            409, f"Layer {body.name!r} exists; pass overwrite=true", type="LayerExistsError"
        )
    return submit_job(access.state, access.user, "import_labels", access.name, body)


def _stroke_sync(layer: Name, body: StrokeRequest, access: WsAccess) -> dict[str, Any] | None:
    from voxelwise import annotate

    ws, author = access.ws, access.user.name
    if body.tool == "erase":
        edit = annotate.erase(
            ws, layer, body.points, body.radius, plane=body.plane, label=body.label, author=author
        )
    elif body.label is None:
        raise ApiError(422, "A paint stroke needs a label (name or value)", type="ValueError")
    elif body.tool == "supervoxels":
        if body.supervoxels is None:
            raise ApiError(
                422, "tool 'supervoxels' needs the supervoxel layer's name", type="ValueError"
            )
        edit = annotate.paint_supervoxels(
            ws,
            layer,
            body.label,
            body.supervoxels,
            body.points,
            radius=body.radius,
            plane=body.plane,
            overwrite=body.overwrite,
            parent_layer=body.parent_layer,
            author=author,
        )
    else:
        edit = annotate.paint_stroke(
            ws,
            layer,
            body.label,
            body.points,
            body.radius,
            plane=body.plane,
            overwrite=body.overwrite,
            parent_layer=body.parent_layer,
            author=author,
        )
    return _edit(edit)


@router.post(
    "/annotations/{layer}/strokes",
    tags=["annotations"],
    response_model=EditOut,
    summary="Paint or erase one brush stroke (one undoable edit)",
)
async def stroke(layer: Name, body: StrokeRequest, access: Annotator) -> dict[str, Any] | None:
    return await _in_edit_thread(access, _stroke_sync, layer, body, access)


def _fill_sync(layer: Name, body: FillRequest, access: WsAccess) -> dict[str, Any] | None:
    from voxelwise.annotate import fill_2d

    edit = fill_2d(
        access.ws,
        layer,
        body.label,
        body.seed,
        plane=body.plane,
        source=body.source,
        connectivity=body.connectivity,
        overwrite=body.overwrite,
        parent_layer=body.parent_layer,
        author=access.user.name,
    )
    return _edit(edit)


@router.post(
    "/annotations/{layer}/fill",
    tags=["annotations"],
    response_model=EditOut,
    summary="Flood-fill within a slice",
)
async def fill(layer: Name, body: FillRequest, access: Annotator) -> dict[str, Any] | None:
    return await _in_edit_thread(access, _fill_sync, layer, body, access)


def _interpolate_sync(
    layer: Name, body: InterpolateRequest, access: WsAccess
) -> dict[str, Any] | None:
    from voxelwise.annotate import interpolate as _interpolate

    edit = _interpolate(
        access.ws,
        layer,
        body.label,
        body.start,
        body.stop,
        plane=body.plane,
        overwrite=body.overwrite,
        parent_layer=body.parent_layer,
        author=access.user.name,
    )
    return _edit(edit)


@router.post(
    "/annotations/{layer}/interpolate",
    tags=["annotations"],
    response_model=EditOut,
    summary="Interpolate a label between two annotated slices",
)
async def interpolate(
    layer: Name, body: InterpolateRequest, access: Annotator
) -> dict[str, Any] | None:
    return await _in_edit_thread(access, _interpolate_sync, layer, body, access)


def _undo_sync(layer: Name, access: WsAccess) -> dict[str, Any] | None:
    from voxelwise.annotate import undo as _undo

    return _edit(_undo(access.ws, layer, author=access.user.name))


@router.post(
    "/annotations/{layer}/undo",
    tags=["annotations"],
    response_model=EditOut | None,
    summary="Undo the layer's last edit in effect (null when there is none)",
)
async def undo(layer: Name, access: Annotator) -> dict[str, Any] | None:
    return await _in_edit_thread(access, _undo_sync, layer, access)


def _redo_sync(layer: Name, access: WsAccess) -> dict[str, Any] | None:
    from voxelwise.annotate import redo as _redo

    return _edit(_redo(access.ws, layer, author=access.user.name))


@router.post(
    "/annotations/{layer}/redo",
    tags=["annotations"],
    response_model=EditOut | None,
    summary="Redo the last undone edit (null when there is none)",
)
async def redo(layer: Name, access: Annotator) -> dict[str, Any] | None:
    return await _in_edit_thread(access, _redo_sync, layer, access)


@router.get(
    "/annotations/{layer}/history",
    tags=["annotations"],
    response_model=list[EditOut],
    summary="The layer's edit log, oldest first",
)
def history(
    layer: Name, access: Viewer, limit: Annotated[int | None, Query(ge=0, le=100000)] = None
) -> list[dict[str, Any]]:
    from voxelwise.annotate import history as _history

    return [e for e in (_edit(x) for x in _history(access.ws, layer, limit=limit)) if e is not None]
