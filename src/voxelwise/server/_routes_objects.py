"""Object classification and point data of a workspace.

Objects (as SVETLANA): ``POST .../objects/find`` splits a mask or class layer into objects (a
job); ``GET .../objects/{layer}/table`` measures them; ``GET .../objects/{layer}/next`` lists
the next unlabelled objects in a seeded random order (or the ids given), with an optional PNG
preview; ``POST .../objects/{layer}/labels`` stores classes (and skips); ``POST
.../objects/{layer}/train`` trains a CNN or a random forest (a job) kept in the workspace
(``GET .../object-models``); ``POST .../objects/{layer}/predict`` writes a class layer and a
table of classes and confidences (a job) read with ``GET .../objects/{layer}/predictions``.

Points (as SuRVoS2): point sets with a class (and optional size) imported from CSV (a file under
the data root, or the CSV text), listed, read, edited by id, exported as CSV, rasterised into
ellipsoids and refined by an active contour (a job), and clustered from patches at the points
with a 2D embedding and scatter plot (a job; ``GET .../points/{name}/clusters``).
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from voxelwise.server._auth import Annotator, Viewer, WsAccess
from voxelwise.server._errors import ApiError
from voxelwise.server._ops_objects import find_object_model, object_model_target, object_models
from voxelwise.server._paths import confine
from voxelwise.server._schemas import JobOut, Name
from voxelwise.server._schemas_jobs import register_job_models
from voxelwise.server._submit import ERRORS, submit_job
from voxelwise.server._tasks import jsonable

__all__ = ["router"]

router = APIRouter(prefix="/workspaces/{ws}", responses=ERRORS)

_JOB: dict[str, Any] = {"response_model": JobOut, "status_code": status.HTTP_202_ACCEPTED}
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}

ObjectId = Annotated[int, Field(ge=1, le=2**62)]
IdKey = Annotated[str, Field(pattern=r"^[0-9]{1,18}$")]
ClassName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$", examples=["mitochondria"])]
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$", examples=["organelles"])]
SetName = Annotated[
    str, PathParam(pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$", examples=["mito"])
]
SetField = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$")]
Coord = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
ClassValue = Annotated[int, Field(ge=0, le=2**31 - 1)]
Voxels = Annotated[int, Field(ge=1, le=4096)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- objects ------------------------------------------------------------------------------------


class FindRequest(_Body):
    source: Name = Field(description="Mask or class layer to split into objects")
    value: Annotated[list[ClassValue], Field(min_length=1, max_length=256)] | None = Field(
        None, description="Class values to take (default: every non-zero value)"
    )
    min_size: Annotated[int, Field(ge=0, le=2**40)] = 0
    connectivity: Literal[1, 2, 3] = 1
    name: Name | None = Field(None, description="Instance layer (default '<source>_objects')")
    overwrite: bool = False


class LabelsRequest(_Body):
    set: dict[IdKey, ClassName] = Field(
        default_factory=dict, description="Object id -> class name", examples=[{"12": "mito"}]
    )
    skip: Annotated[list[ObjectId], Field(max_length=100_000)] = Field(
        default_factory=list, description="Objects seen but left unlabelled (ambiguous)"
    )
    unlabel: Annotated[list[ObjectId], Field(max_length=100_000)] = Field(
        default_factory=list, description="Objects whose labels or skips are removed"
    )


class ObjectTrainRequest(_Body):
    model: ModelName = Field("objects", description="Name the model is kept under")
    method: Literal["cnn", "forest"] = "cnn"
    image: Name = "raw"
    arch: Literal["minimal", "deep"] = Field(
        "minimal", description="CNN: SVETLANA's minimalist network or a deeper residual one"
    )
    ndim: Literal[2, 3] = Field(2, description="CNN: the object's largest plane (2) or a box (3)")
    size: Literal["auto"] | Voxels | Annotated[list[Voxels], Field(min_length=2, max_length=3)] = (
        Field("auto", description="CNN patch size: 'auto' (1.4 x the bounding boxes) or voxels")
    )
    dilate: Annotated[int, Field(ge=0, le=64)] = Field(0, description="CNN: mask dilation")
    epochs: Annotated[int, Field(ge=1, le=10_000)] = 60
    min_size: Annotated[int, Field(ge=1, le=2**40)] = 1
    rng: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    overwrite: bool = False


class ObjectTrainJob(ObjectTrainRequest):
    layer: Name


class ObjectPredictRequest(_Body):
    model: ModelName = "objects"
    image: Name = "raw"
    name: Name | None = Field(None, description="Class layer (default '<layer>_classes')")
    label_set: Name | None = None
    min_size: Annotated[int, Field(ge=1, le=2**40)] = 1
    tta: bool = Field(True, description="CNN: average the 8 flips/rotations")
    overwrite: bool = False


class ObjectPredictJob(ObjectPredictRequest):
    layer: Name


def _instances(access: WsAccess, layer: str) -> Any:
    from voxelwise.objects._labels import check_instances

    ws = access.ws
    check_instances(ws, layer)  # 404 naming the missing layer, 422 for a non-label layer
    return ws


def _table_answer(table: Any, offset: int, limit: int) -> dict[str, Any]:
    rows = len(table)
    part = table.select(np.arange(min(offset, rows), min(offset + limit, rows)))
    return {"rows": rows, "offset": offset, "columns": jsonable(part.to_dict())}


def _new_layer(access: WsAccess, name: str | None, overwrite: bool) -> None:
    if name is not None and not overwrite and name in access.ws:
        raise ApiError(
            409,
            f"Layer {name!r} exists already in workspace {access.name!r}; pass overwrite=true or "
            "choose another name",
            type="LayerExistsError",
        )


@router.post(
    "/objects/find", tags=["objects"], summary="Split a mask or class layer into objects", **_JOB
)
def find(body: FindRequest, access: Annotator) -> dict[str, Any]:
    access.ws.layer(body.source)
    _new_layer(access, body.name or f"{body.source}_objects", body.overwrite)
    return submit_job(access.state, access.user, "objects_find", access.name, body)


@router.get(
    "/objects/{layer}/table",
    tags=["objects"],
    response_model=dict[str, Any],
    summary="Measurements of every object (computed once, then cached)",
)
def object_table(
    layer: Name,
    access: Viewer,
    image: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")] = "raw",
    offset: Annotated[int, Query(ge=0, le=2**40)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    from voxelwise.objects import objects_table

    ws = _instances(access, layer)
    ws.layer(image)
    return {"layer": layer, **_table_answer(objects_table(ws, layer, image=image), offset, limit)}


@router.get(
    "/objects/{layer}/labels",
    tags=["objects"],
    response_model=dict[str, Any],
    summary="The object labels: id -> class, skipped ids, counts",
)
def get_labels(layer: Name, access: Viewer) -> dict[str, Any]:
    from voxelwise.objects import object_labels

    ws = _instances(access, layer)
    everything = object_labels(ws, layer, skipped=True)
    labels = {str(k): v for k, v in everything.items() if v}
    names = list(labels.values())
    return {
        "layer": layer,
        "labels": labels,
        "skipped": sorted(k for k, v in everything.items() if not v),
        "classes": {c: names.count(c) for c in sorted(set(names))},
    }


@router.post(
    "/objects/{layer}/labels",
    tags=["objects"],
    response_model=dict[str, Any],
    summary="Label objects by class, skip them, or remove their labels",
)
def post_labels(layer: Name, body: LabelsRequest, access: Annotator) -> dict[str, Any]:
    from voxelwise.objects import label_objects, object_labels, skip_objects, unlabel_objects

    ws = _instances(access, layer)
    if body.set:
        label_objects(ws, layer, {int(k): v for k, v in body.set.items()})
    if body.skip:
        skip_objects(ws, layer, body.skip)
    if body.unlabel:
        unlabel_objects(ws, layer, body.unlabel)
    everything = object_labels(ws, layer, skipped=True)
    names = [v for v in everything.values() if v]
    return {
        "layer": layer,
        "labelled": len(names),
        "skipped": len(everything) - len(names),
        "classes": {c: names.count(c) for c in sorted(set(names))},
    }


@router.get(
    "/objects/{layer}/next",
    tags=["objects"],
    response_model=dict[str, Any],
    summary="The next objects to label: unlabelled ones in a seeded random order, or the ids given",
)
def next_objects(
    layer: Name,
    access: Viewer,
    n: Annotated[int, Query(ge=1, le=1000)] = 5,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ids: Annotated[list[Annotated[int, Field(ge=1, le=2**62)]] | None, Query()] = None,
    min_size: Annotated[int, Query(ge=1, le=2**40)] = 1,
    preview: Annotated[bool, Query(description="A PNG montage (base64) of the objects")] = False,
) -> dict[str, Any]:
    """Without ``ids`` every object is shown once in a random order fixed by ``seed`` (no
    selection bias; the same seed resumes where labelling stopped)."""
    from voxelwise.objects import next_objects as queue
    from voxelwise.objects import objects_table, preview_objects

    ws = _instances(access, layer)
    chosen = queue(ws, layer, n=n, rng=seed, ids=ids, min_size=min_size)
    table = objects_table(ws, layer)
    rows = {int(i): r for r, i in enumerate(table["id"])}
    objects = [
        {
            "id": i,
            "voxels": int(table["volume_voxels"][rows[i]]),
            "centroid": [float(table[f"centroid_{a}"][rows[i]]) for a in "zyx"],
            "bbox": [
                [int(table[f"bbox_{a}0"][rows[i]]) for a in "zyx"],
                [int(table[f"bbox_{a}1"][rows[i]]) for a in "zyx"],
            ],
        }
        for i in chosen
    ]
    picture = None
    if preview and chosen:
        with tempfile.TemporaryDirectory() as tmp:
            path = preview_objects(ws, layer, chosen, Path(tmp) / "preview.png")
            picture = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"layer": layer, "objects": objects, "preview": picture}


@router.get(
    "/object-models",
    tags=["objects"],
    response_model=dict[str, str],
    summary="Object classifiers kept in the workspace: name -> method",
)
def models(access: Viewer) -> dict[str, str]:
    return object_models(access.ws)


@router.post(
    "/objects/{layer}/train",
    tags=["objects"],
    summary="Train a CNN or a random forest on the labelled objects",
    **_JOB,
)
def train(layer: Name, body: ObjectTrainRequest, access: Annotator) -> dict[str, Any]:
    from voxelwise.objects import ObjectLabelsError, object_labels

    ws = _instances(access, layer)
    ws.layer(body.image)
    if not object_labels(ws, layer):
        raise ObjectLabelsError(
            f"No labelled objects in {layer!r}; label some first (POST .../objects/{layer}/labels)"
        )
    object_model_target(ws, body.model, body.method, body.overwrite)  # 409 before the job
    params = ObjectTrainJob(layer=layer, **body.model_dump())
    return submit_job(access.state, access.user, "objects_train", access.name, params)


@router.post(
    "/objects/{layer}/predict",
    tags=["objects"],
    summary="Classify every object: a class layer and a table with class and confidence",
    **_JOB,
)
def predict(layer: Name, body: ObjectPredictRequest, access: Annotator) -> dict[str, Any]:
    ws = _instances(access, layer)
    ws.layer(body.image)
    find_object_model(ws, body.model)
    _new_layer(access, body.name or f"{layer}_classes", body.overwrite)
    params = ObjectPredictJob(layer=layer, **body.model_dump())
    return submit_job(access.state, access.user, "objects_predict", access.name, params)


@router.get(
    "/objects/{layer}/predictions",
    tags=["objects"],
    response_model=dict[str, Any],
    summary="The table of a prediction: id, class, class_name, confidence, probabilities",
)
def predictions(
    layer: Name,
    access: Viewer,
    name: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")] = None,
    offset: Annotated[int, Query(ge=0, le=2**40)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    from voxelwise.analysis import Table
    from voxelwise.objects._store import FOLDER

    ws = _instances(access, layer)
    classes = name or f"{layer}_classes"
    path = Path(ws.path) / FOLDER / f"{classes}.csv"
    if not path.is_file():
        raise ApiError(
            404,
            f"No prediction {classes!r} of objects {layer!r}; run POST .../objects/{layer}/predict",
            type="NotFound",
        )
    return {"layer": layer, "name": classes, **_table_answer(Table.read(path), offset, limit)}


# -- points -------------------------------------------------------------------------------------


class PointIn(_Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    z: Coord
    y: Coord
    x: Coord
    class_: ClassValue = Field(1, alias="class")
    size: PosFloat | None = Field(None, description="Diameter in physical units")


class PointChange(_Body):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    z: Coord | None = None
    y: Coord | None = None
    x: Coord | None = None
    class_: ClassValue | None = Field(None, alias="class")
    size: PosFloat | None = None


class PointsImport(_Body):
    path: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        None, description="CSV file relative to the data root"
    )
    csv: Annotated[str, Field(min_length=1, max_length=50_000_000)] | None = Field(
        None, description="Or the CSV text itself (columns z, y, x, class[, size, id])"
    )
    name: SetField | None = Field(None, description="Point set (default: the file's stem)")
    overwrite: bool = False


class PointsAdd(_Body):
    points: Annotated[list[PointIn], Field(min_length=1, max_length=1_000_000)]


class PointsEdit(_Body):
    changes: Annotated[dict[IdKey, PointChange], Field(min_length=1)] = Field(
        description="Point id -> the fields to change", examples=[{"3": {"class": 2}}]
    )


class RasterizeRequest(_Body):
    name: Name | None = Field(None, description="Label layer (default '<points>_objects')")
    size: PosFloat | Annotated[list[PosFloat], Field(min_length=3, max_length=3)] | None = Field(
        None, description="Diameter(s) in physical units (default: each point's size)"
    )
    aspect: Annotated[list[PosFloat], Field(min_length=3, max_length=3)] | None = None
    orientation: Annotated[list[Coord], Field(min_length=3, max_length=3)] | None = Field(
        None, description="Direction (z, y, x) of the ellipsoid's first axis"
    )
    values: Literal["class", "id"] = "class"
    refine: Literal["chan_vese", "geodesic"] | None = Field(None, description="Active contour")
    feature: Name = Field("raw", description="Layer the active contour follows")
    iterations: Annotated[int, Field(ge=1, le=1000)] = 30
    smoothing: Annotated[int, Field(ge=0, le=16)] = 1
    balloon: Annotated[float, Field(ge=-10, le=10, allow_inf_nan=False)] = 0.0
    margin: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.5
    per_slice: bool | None = None
    overwrite: bool = False


class RasterizeJob(RasterizeRequest):
    points: SetField


class ClusterRequest(_Body):
    image: Name = "raw"
    size: Voxels | Annotated[list[Voxels], Field(min_length=3, max_length=3)] = 32
    bin: Voxels | Annotated[list[Voxels], Field(min_length=3, max_length=3)] = 1
    model: ModelName | None = Field(
        None, description="An object CNN of the workspace whose embedding describes the patches"
    )
    min_cluster_size: Annotated[int, Field(ge=2, le=100_000)] = 5
    embedding: Literal["tsne", "umap", "pca"] = "tsne"
    on: Literal["embedding", "features"] = "embedding"
    rng: Seed = 0


class ClusterJob(ClusterRequest):
    points: SetField


def _point_set(access: WsAccess, name: str) -> Any:
    from voxelwise.points import load_points

    return load_points(access.ws, name)  # 404 listing the sets


@router.get(
    "/points", tags=["points"], response_model=dict[str, int], summary="Point sets: name -> count"
)
def list_sets(access: Viewer) -> dict[str, int]:
    from voxelwise.points import list_points

    return list_points(access.ws)


@router.post(
    "/points/import",
    tags=["points"],
    response_model=dict[str, Any],
    summary="Import a points CSV (points outside the volume are reported and skipped)",
)
def import_set(body: PointsImport, access: Annotator) -> dict[str, Any]:
    from voxelwise.points import import_points

    if (body.path is None) == (body.csv is None):
        raise ApiError(422, "Give the CSV as path or as csv text (one of them)", type="ValueError")
    root = access.state.settings.data_root
    if body.path is not None:
        source = confine(
            root, body.path, what="points file", user=access.user.name, must_exist=True
        )
        answer = import_points(access.ws, source, name=body.name, overwrite=body.overwrite)
        answer["message"] = answer["message"].replace(str(source), body.path)
        return jsonable(answer)
    if body.name is None:
        raise ApiError(
            422, "Name the point set (name=...) when sending CSV text", type="ValueError"
        )
    from voxelwise.points import PointsFileError

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{body.name}.csv"
        source.write_text(body.csv or "", encoding="utf-8")
        try:
            answer = import_points(access.ws, source, name=body.name, overwrite=body.overwrite)
        except PointsFileError as e:
            raise PointsFileError(str(e).replace(str(source), "the CSV text")) from None
    answer["message"] = answer["message"].replace(str(source), "the CSV text")
    return jsonable(answer)


@router.get("/points/{name}", tags=["points"], response_model=dict[str, Any], summary="A point set")
def get_set(name: SetName, access: Viewer) -> dict[str, Any]:
    points = _point_set(access, name)
    return {"name": name, "count": len(points), "points": points.to_records()}


@router.get("/points/{name}/csv", tags=["points"], responses=_CSV, summary="A point set as CSV")
def export_set(name: SetName, access: Viewer) -> Response:
    from voxelwise.points import write_points_csv

    points = _point_set(access, name)
    with tempfile.TemporaryDirectory() as tmp:
        text = write_points_csv(points, Path(tmp) / "points.csv").read_text(encoding="utf-8")
    return Response(text, media_type="text/csv")


@router.delete(
    "/points/{name}", tags=["points"], response_model=dict[str, Any], summary="Delete a point set"
)
def delete_set(name: SetName, access: Annotator) -> dict[str, Any]:
    from voxelwise.points import delete_points

    delete_points(access.ws, name)
    return {"name": name, "deleted": True}


@router.post(
    "/points/{name}/points",
    tags=["points"],
    response_model=dict[str, Any],
    summary="Add points (the set is created when needed); returns their ids",
)
def add(name: SetName, body: PointsAdd, access: Annotator) -> dict[str, Any]:
    from voxelwise.points import add_points

    records = [p.model_dump(by_alias=True, exclude_none=True) for p in body.points]
    return jsonable(add_points(access.ws, name, records))


@router.patch(
    "/points/{name}/points",
    tags=["points"],
    response_model=dict[str, Any],
    summary="Move points or change their class or size, by id",
)
def edit(name: SetName, body: PointsEdit, access: Annotator) -> dict[str, Any]:
    from voxelwise.points import update_points

    changes = {
        int(k): v.model_dump(by_alias=True, exclude_none=True) for k, v in body.changes.items()
    }
    return jsonable(update_points(access.ws, name, changes))


@router.delete(
    "/points/{name}/points/{point_id}",
    tags=["points"],
    response_model=dict[str, Any],
    summary="Remove one point by id",
)
def remove(
    name: SetName, point_id: Annotated[int, PathParam(ge=1, le=2**62)], access: Annotator
) -> dict[str, Any]:
    from voxelwise.points import remove_points

    return jsonable(remove_points(access.ws, name, [point_id]))


@router.post(
    "/points/{name}/rasterize",
    tags=["points"],
    summary="Ellipsoids at the points into a label layer, optionally refined by an active contour",
    **_JOB,
)
def rasterize(name: SetName, body: RasterizeRequest, access: Annotator) -> dict[str, Any]:
    points = _point_set(access, name)
    if len(points) == 0:
        raise ApiError(422, f"The point set {name!r} is empty; add points first", type="ValueError")
    if body.size is None and points.sizes is None:
        raise ApiError(
            422,
            f"The points of {name!r} have no size: give size (a diameter, or three, in physical "
            "units)",
            type="ValueError",
        )
    if body.refine is not None:
        access.ws.layer(body.feature)
    _new_layer(access, body.name or f"{name}_objects", body.overwrite)
    params = RasterizeJob(points=name, **body.model_dump())
    return submit_job(access.state, access.user, "points_rasterize", access.name, params)


@router.post(
    "/points/{name}/cluster",
    tags=["points"],
    summary="Cluster patches at the points (HDBSCAN) with a 2D embedding and a scatter plot",
    **_JOB,
)
def cluster(name: SetName, body: ClusterRequest, access: Annotator) -> dict[str, Any]:
    points = _point_set(access, name)
    if len(points) < body.min_cluster_size:
        raise ApiError(
            422,
            f"The point set {name!r} has {len(points)} points, fewer than min_cluster_size="
            f"{body.min_cluster_size}; add points or lower min_cluster_size",
            type="ValueError",
        )
    access.ws.layer(body.image)
    if body.model is not None and find_object_model(access.ws, body.model).suffix != ".pt":
        raise ApiError(
            422,
            f"Object model {body.model!r} is a random forest; patch embeddings need a CNN model",
            type="ValueError",
        )
    else:
        size = np.broadcast_to(np.asarray(body.size), 3)
        if (size % np.broadcast_to(np.asarray(body.bin), 3)).any():
            raise ApiError(
                422, f"Expected bin factors that divide the size {size.tolist()}", type="ValueError"
            )
    params = ClusterJob(points=name, **body.model_dump())
    return submit_job(access.state, access.user, "points_cluster", access.name, params)


@router.get(
    "/points/{name}/clusters",
    tags=["points"],
    response_model=dict[str, Any],
    summary="The last clustering of a point set: table and scatter plot (PNG, base64)",
)
def clusters(name: SetName, access: Viewer) -> dict[str, Any]:
    from voxelwise.analysis import Table
    from voxelwise.points._store import FOLDER

    _point_set(access, name)
    folder = Path(access.ws.path) / FOLDER
    path = folder / f"{name}.clusters.csv"
    if not path.is_file():
        raise ApiError(
            404,
            f"The point set {name!r} has not been clustered; run POST .../points/{name}/cluster",
            type="NotFound",
        )
    png = folder / f"{name}.clusters.png"
    picture = base64.b64encode(png.read_bytes()).decode("ascii") if png.is_file() else None
    return {"name": name, **_table_answer(Table.read(path), 0, 10**9), "png": picture}


register_job_models(
    {
        "objects_find": FindRequest,
        "objects_train": ObjectTrainJob,
        "objects_predict": ObjectPredictJob,
        "points_rasterize": RasterizeJob,
        "points_cluster": ClusterJob,
    }
)
