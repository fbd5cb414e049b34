"""Long operations as jobs: features, supervoxels, shallow and deep learning, analysis.

Each route checks what it can at once (the layers it names exist, outputs do not clash) so
mistakes come back as a 404/409 immediately, then submits a job (202 with the job; follow it at
``/jobs/{id}``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel

from voxelwise.server._auth import Annotator, WsAccess
from voxelwise.server._errors import ApiError
from voxelwise.server._ops_common import model_path, table_path
from voxelwise.server._ops_images import check_channels
from voxelwise.server._schemas import JobOut
from voxelwise.server._schemas_jobs import (
    DeepPredictRequest,
    DeepTrainRequest,
    EditInstancesRequest,
    FeaturesRequest,
    FractionsRequest,
    InstancesRequest,
    MeasureRequest,
    MetricsRequest,
    ShallowPredictRequest,
    ShallowTrainRequest,
    SplitRequest,
    SupervoxelsRequest,
)
from voxelwise.server._submit import ERRORS, submit_job

__all__ = ["router"]

router = APIRouter(prefix="/workspaces/{ws}", responses=ERRORS)

_JOB: dict[str, Any] = {
    "response_model": JobOut,
    "status_code": status.HTTP_202_ACCEPTED,
}


def _layers(access: WsAccess, *names: str | None) -> None:
    ws = access.ws
    for name in names:
        if name is not None:
            ws.layer(name)  # 404 naming the missing layer and listing the others


def _new(access: WsAccess, name: str | None, overwrite: bool) -> None:
    if name is not None and not overwrite and name in access.ws:
        raise ApiError(
            409,
            f"Layer {name!r} exists already in workspace {access.name!r}; pass overwrite=true or "
            "choose another name",
            type="LayerExistsError",
        )


def _check_features(specs: str | list[str]) -> None:
    """Unknown filters, presets or parameters: 404/422 now rather than in the job."""
    from voxelwise.filters import list_presets, parse_filter_arg

    presets = set(list_presets())
    for spec in [specs] if isinstance(specs, str) else specs:
        if spec not in presets:
            parse_filter_arg(spec)


def _submit(access: WsAccess, kind: str, body: BaseModel) -> dict[str, Any]:
    return submit_job(access.state, access.user, kind, access.name, body)


@router.post("/features", tags=["features"], summary="Compute feature layers", **_JOB)
def features(body: FeaturesRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.source)
    _check_features(body.features)
    return _submit(access, "features", body)


@router.post("/supervoxels", tags=["supervoxels"], summary="Compute a supervoxel layer", **_JOB)
def supervoxels(body: SupervoxelsRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.source, body.mask)
    _new(access, body.name, body.overwrite)
    return _submit(access, "supervoxels", body)


@router.post("/shallow/train", tags=["shallow"], summary="Train a classifier on scribbles", **_JOB)
def shallow_train(body: ShallowTrainRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.annotations)
    if body.images:
        check_channels(access.ws, body.images)
    if body.mode == "supervoxel":
        _layers(access, body.supervoxels)
    return _submit(access, "shallow_train", body)


@router.post(
    "/shallow/predict",
    tags=["shallow"],
    summary="Predict every voxel with a trained classifier",
    **_JOB,
)
def shallow_predict(body: ShallowPredictRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.parent_layer, body.supervoxels)
    _new(access, body.name, body.overwrite)
    return _submit(access, "shallow_predict", body)


@router.post(
    "/deep/train",
    tags=["deep"],
    summary="Train a deep network (GPU worker with device 'cuda')",
    **_JOB,
)
def deep_train(body: DeepTrainRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.annotations, body.image)
    if body.images:
        check_channels(access.ws, body.images)
    return _submit(access, "deep_train", body)


@router.post("/deep/predict", tags=["deep"], summary="Segment with a deep network (tiled)", **_JOB)
def deep_predict(body: DeepPredictRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.image)
    _deep_channels(access, body)
    _new(access, body.name, body.overwrite)
    return _submit(access, "deep_predict", body)


def _deep_channels(access: WsAccess, body: DeepPredictRequest) -> None:
    """The image layers named (or those the model was trained on) exist, and as many as the
    model has input channels, where the training job recorded them."""
    import json

    from voxelwise.server._ops_learn import SERVER_META

    meta_file = model_path(access.ws, body.model, deep=True) / SERVER_META
    trained = json.loads(meta_file.read_text()).get("images") if meta_file.is_file() else None
    if body.images is None:
        if trained and len(trained) > 1:
            check_channels(access.ws, trained)
        return
    check_channels(access.ws, body.images)
    if trained and len(trained) != len(body.images):
        raise ApiError(
            422,
            f"Model {body.model!r} takes {len(trained)} input channel(s) (trained on "
            f"{trained}), got {len(body.images)} image layer(s) {body.images}; name one image "
            "layer per channel, in that order",
            type="InvalidLayerError",
        )


@router.post(
    "/analysis/instances",
    tags=["analysis"],
    summary="Number the objects of a mask or class layer",
    **_JOB,
)
def instances(body: InstancesRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.source)
    _new(access, body.name, body.overwrite)
    return _submit(access, "instances", body)


@router.post(
    "/analysis/edit-instances",
    tags=["analysis"],
    summary="Merge, delete or split objects by id",
    **_JOB,
)
def edit_instances(body: EditInstancesRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.layer)
    return _submit(access, "edit_instances", body)


@router.post(
    "/analysis/measure", tags=["analysis"], summary="Measure every object into a table", **_JOB
)
def measure(body: MeasureRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.labels, *body.intensity)
    return _submit(access, "measure", body)


@router.post(
    "/analysis/split", tags=["analysis"], summary="Assign objects to classes with rules", **_JOB
)
def split(body: SplitRequest, access: Annotator) -> dict[str, Any]:
    from voxelwise.analysis import SplitRules

    if not table_path(access.ws, body.table).is_file():
        raise ApiError(
            404, f"No table named {body.table!r}; measure a layer first", type="NotFound"
        )
    SplitRules.from_dict(body.rules)  # malformed rules: 422 now
    _layers(access, body.labels)
    _new(access, body.name, body.overwrite)
    return _submit(access, "split", body)


@router.post(
    "/analysis/metrics",
    tags=["analysis"],
    summary="Compare a segmentation with ground truth",
    **_JOB,
)
def metrics(body: MetricsRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.pred, body.truth)
    return _submit(access, "metrics", body)


@router.post(
    "/analysis/fractions", tags=["analysis"], summary="Volume fractions of classes", **_JOB
)
def fractions(body: FractionsRequest, access: Annotator) -> dict[str, Any]:
    _layers(access, body.classes, body.within)
    return _submit(access, "fractions", body)
