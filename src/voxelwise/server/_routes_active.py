"""Active-learning campaigns of a workspace: create, list, status, propose patches, submit the
expert's labels, fine-tune (a job), and the rounds history.

The loop over HTTP: ``POST .../active/campaigns`` starts a campaign; ``POST .../propose`` ranks
unlabelled patches (a quick request; ``.../propose/job`` runs it as a job for large pools) and
records them; the expert paints the proposed regions into the campaign's labels layer with
the annotation routes (or sends a patch's labels, or names a label layer) and ``POST .../labels``
records what is answered, proposed or not; ``POST .../update`` fine-tunes the model from its
last weights on every label so far (a job); ``GET .../rounds`` is the audit trail. Viewers
read, annotators propose, label and update; replacing a campaign (``overwrite``) needs owner.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, status
from fastapi import Path as PathParam

from voxelwise.server._auth import Annotator, Viewer, WsAccess
from voxelwise.server._errors import ApiError
from voxelwise.server._ops_active import propose_answer
from voxelwise.server._ops_common import model_path
from voxelwise.server._schemas import JobOut
from voxelwise.server._schemas_active import (
    CAMPAIGN_PATTERN,
    CampaignCreate,
    LabelsSubmit,
    ProposeJobRequest,
    ProposeOut,
    ProposeRequest,
    UpdateJobRequest,
    UpdateRequest,
)
from voxelwise.server._schemas_jobs import register_job_models
from voxelwise.server._submit import ERRORS, submit_job
from voxelwise.server._tasks import jsonable

__all__ = ["router"]

router = APIRouter(prefix="/workspaces/{ws}/active/campaigns", tags=["active"], responses=ERRORS)

CampaignName = Annotated[
    str,
    PathParam(description="Campaign name", pattern=CAMPAIGN_PATTERN, examples=["mito"]),
]
_JOB: dict[str, Any] = {"response_model": JobOut, "status_code": status.HTTP_202_ACCEPTED}


def _campaign(access: WsAccess, name: str) -> Any:
    from voxelwise.active import Campaign

    return Campaign(access.ws, name)  # 404 naming the existing campaigns


def _config(config: dict[str, Any] | None) -> None:
    """Malformed training settings: 422 now, not a failed update later."""
    if config is None:
        return
    from voxelwise.deep import TrainConfig

    try:
        TrainConfig.from_dict(config)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
        raise ApiError(422, f"Invalid training settings (config): {e}", type="ValueError") from e


@router.get("", response_model=list[str], summary="Names of the workspace's campaigns")
def list_campaigns(access: Viewer) -> list[str]:
    from voxelwise.active import list_campaigns as names

    return names(access.ws)


@router.post(
    "",
    response_model=dict[str, Any],
    status_code=status.HTTP_201_CREATED,
    summary="Start an active-learning campaign",
)
def create_campaign(body: CampaignCreate, access: Annotator) -> dict[str, Any]:
    from voxelwise.active import Campaign

    if body.overwrite and access.role != "owner":
        raise ApiError(
            403,
            f"Replacing a campaign deletes its records; user {access.user.name!r} is "
            f"{access.role} in workspace {access.name!r} and this needs owner rights",
            type="Forbidden",
        )
    _config(body.config)
    model = None
    if body.model is not None:
        model = model_path(access.ws, body.model, deep=True) / "model.pt"
        if not model.is_file():
            raise ApiError(
                404,
                f"No deep model named {body.model!r} in workspace {access.name!r}; train one "
                "with POST .../deep/train, or start without a model",
                type="NotFound",
            )
    settings = body.model_dump(exclude={"name", "model", "axis", "overwrite"})
    campaign = Campaign.create(
        access.ws,
        body.name,
        model=model,
        axis=None if body.axis == "3d" else body.axis,
        overwrite=body.overwrite,
        **settings,
    )
    return jsonable(campaign.status())


@router.get("/{name}", response_model=dict[str, Any], summary="A campaign's status")
def campaign_status(name: CampaignName, access: Viewer) -> dict[str, Any]:
    return jsonable(_campaign(access, name).status())


@router.get(
    "/{name}/rounds",
    response_model=list[dict[str, Any]],
    summary="Every round: proposals, submissions, training, metrics",
)
def rounds(name: CampaignName, access: Viewer) -> list[dict[str, Any]]:
    return jsonable(_campaign(access, name).rounds())


@router.post(
    "/{name}/propose", response_model=ProposeOut, summary="Propose the next patches to annotate"
)
def propose(name: CampaignName, body: ProposeRequest, access: Annotator) -> dict[str, Any]:
    """Rank the unlabelled patches with the campaign's model and record the best ``k``.
    Scoring a large pool takes a while: bound it with the campaign's ``candidates``, or use
    ``.../propose/job``."""
    campaign = _campaign(access, name)
    return propose_answer(campaign, body.k, body.strategy, body.preview, None, body.strategy_params)


@router.post("/{name}/propose/job", summary="Propose patches as a job", **_JOB)
def propose_job(name: CampaignName, body: ProposeRequest, access: Annotator) -> dict[str, Any]:
    from voxelwise.active import parse_strategy
    from voxelwise.active._plugins import check_strategy_params

    campaign = _campaign(access, name)
    strategy = parse_strategy(body.strategy or campaign.params["strategy"])
    check_strategy_params(strategy, body.strategy_params)  # a clear 422 now, not a failed job
    params = ProposeJobRequest(campaign=name, **body.model_dump())
    return submit_job(access.state, access.user, "active_propose", access.name, params)


@router.post(
    "/{name}/labels",
    response_model=dict[str, Any],
    summary="Submit the expert's labels (a patch's values, a label layer, or painted edits)",
)
def submit_labels(name: CampaignName, body: LabelsSubmit, access: Annotator) -> dict[str, Any]:
    """Without ``labels`` or ``layer``: the answers were painted into the campaign's labels layer
    with the annotation routes; this records which patches are now answered. Labels of a patch
    that was never proposed are accepted as extra labels and recorded as such."""
    campaign = _campaign(access, name)
    pool = campaign.pool()
    if body.patch is not None and body.patch >= len(pool):
        raise ApiError(
            422,
            f"Expected a patch index from 0 to {len(pool) - 1} (the campaign's pool), got "
            f"{body.patch} instead",
            type="ValueError",
        )
    if body.labels is not None and body.layer is not None:
        raise ApiError(422, "Give the answers as labels or as a layer, not both", type="ValueError")
    values: Any = None
    if body.labels is not None:
        if body.patch is None:
            raise ApiError(
                422,
                "labels need the patch they answer (patch=INDEX); for a whole volume, import it "
                "as a layer and pass layer=NAME",
                type="ValueError",
            )
        values = _array(body.labels)
    elif body.layer is not None:
        source = access.ws.open_array(body.layer, mode="r")  # 404 naming the missing layer
        if tuple(source.shape) != tuple(access.ws.shape):
            raise ApiError(
                422, f"Layer {body.layer!r} is not a (Z, Y, X) label volume", type="ValueError"
            )
        if body.patch is not None:
            values = np.asarray(source[pool.slices(body.patch)])  # the patch's (z, y, x) box
        else:
            values = source
    return jsonable(campaign.submit(values, patch=body.patch, author=access.user.name))


def _array(labels: list[Any]) -> np.ndarray:
    try:
        arr = np.asarray(labels)
    except (ValueError, TypeError, OverflowError) as e:
        raise ApiError(
            422, f"Expected labels as nested lists of whole numbers: {e}", type="ValueError"
        ) from e
    if arr.dtype.kind not in "biu" or arr.ndim not in (2, 3):
        raise ApiError(
            422,
            f"Expected labels as a 2D or 3D array of whole numbers, got {arr.ndim}D values of "
            f"type {arr.dtype} instead",
            type="TypeError",
        )
    return arr


@router.post(
    "/{name}/update", summary="Fine-tune the campaign's model on all labels (a job)", **_JOB
)
def update(
    name: CampaignName, access: Annotator, body: UpdateRequest | None = None
) -> dict[str, Any]:
    _campaign(access, name)
    options = body.model_dump() if body is not None else {}
    params = UpdateJobRequest(campaign=name, **options)
    return submit_job(access.state, access.user, "active_update", access.name, params)


register_job_models({"active_propose": ProposeJobRequest, "active_update": UpdateJobRequest})
