"""Recorded workflows of a workspace: export them, check one, and replay one as a job.

``GET .../workflow`` exports the steps recorded in a workspace (inputs by role, model files
relative to the data root); ``POST .../workflow/validate`` checks a workflow; ``POST
.../workflow/run`` replays a workflow on the workspace (created beforehand from the new volume
with ``POST /workspaces``), with files for its other input roles under the data root, as a job
(SuRVoS2's "apply parameters to a naive dataset").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from voxelwise.server._auth import Annotator, Viewer, WsAccess
from voxelwise.server._errors import ApiError
from voxelwise.server._ops_workflows import confine_workflow, server_relative_workflow
from voxelwise.server._paths import confine
from voxelwise.server._schemas import JobOut
from voxelwise.server._schemas_workflows import WorkflowCheck, WorkflowRunRequest
from voxelwise.server._submit import ERRORS, submit_job

__all__ = ["router"]

router = APIRouter(prefix="/workspaces/{ws}/workflow", tags=["workflows"], responses=ERRORS)


class WorkflowStepOut(BaseModel):
    id: str
    step: str


class WorkflowCheckOut(BaseModel):
    name: str | None
    inputs: dict[str, dict[str, Any]]
    steps: list[WorkflowStepOut]


def _parse(value: dict[str, Any] | str) -> dict[str, Any]:
    """The workflow validated (YAML text parsed first); malformed ones give 422 naming why."""
    from voxelwise.workflows import WorkflowError, validate_workflow

    data: Any = value
    if isinstance(value, str):
        import yaml

        try:
            data = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ApiError(422, f"The workflow is not valid YAML: {e}", type="WorkflowError") from e
    try:
        return validate_workflow(data)
    except WorkflowError:
        raise
    except (KeyError, AttributeError, IndexError, TypeError, ValueError) as e:
        raise ApiError(
            422,
            f"The workflow is malformed ({type(e).__name__}: {e}); export one with GET "
            ".../workflow or `voxelwise workflow export`",
            type="WorkflowError",
        ) from e


@router.get("", summary="The workspace's recorded steps as a replayable workflow")
def export(
    access: Viewer, name: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    """Inputs are roles (``image``, ``scribbles``, ...), not files; model files the steps
    trained are named relative to the data root. Records that cannot be replayed are listed
    under ``skipped``."""
    from voxelwise.workflows import WorkflowError, export_workflow

    try:
        workflow = export_workflow(access.ws, name=name or access.name)
    except WorkflowError as e:
        raise ApiError(
            409, f"Workspace {access.name!r} has no replayable steps: {e}", type="WorkflowError"
        ) from e
    return server_relative_workflow(access.state.settings.data_root, workflow)


@router.post("/validate", response_model=WorkflowCheckOut, summary="Check a workflow")
def validate(body: WorkflowCheck, access: Viewer) -> dict[str, Any]:
    workflow = _parse(body.workflow)
    return {
        "name": workflow.get("name"),
        "inputs": workflow["inputs"],
        "steps": [{"id": s["id"], "step": s["step"]} for s in workflow["steps"]],
    }


def _check_run(access: WsAccess, workflow: dict[str, Any], body: WorkflowRunRequest) -> None:
    root = access.state.settings.data_root
    roles = workflow["inputs"]
    unknown = sorted(set(body.inputs) - set(roles))
    if unknown:
        raise ApiError(
            422,
            f"The workflow has no input role {', '.join(map(repr, unknown))}; its roles are "
            f"{', '.join(roles)}",
            type="WorkflowInputError",
        )
    if "image" in body.inputs:
        raise ApiError(
            422,
            "The image role is the workspace's raw layer; create a workspace from the new "
            "volume (POST /workspaces) and run the workflow on it",
            type="WorkflowInputError",
        )
    missing = [
        r for r, s in roles.items() if s["required"] and r != "image" and r not in body.inputs
    ]
    if missing:
        raise ApiError(
            422,
            f"The workflow needs the input role(s) {', '.join(map(repr, missing))}; give them "
            f"as inputs {{{missing[0]!r}: 'path/under/data/root.tif'}}",
            type="WorkflowInputError",
        )
    for role, path in body.inputs.items():
        confine(root, path, what=f"file of input {role!r}", user=access.user.name, must_exist=True)
    confine_workflow(root, workflow, user=access.user.name)


@router.post(
    "/run",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replay a workflow on this workspace (a job)",
)
def run(body: WorkflowRunRequest, access: Annotator) -> dict[str, Any]:
    """The workspace's raw layer is the workflow's ``image``; files for the other roles come
    from the data root. Training steps train again when their inputs are given (``train``
    ``auto``), otherwise apply the model files the workflow names (under the data root).
    Follow the job for each step's progress; its result lists every step's outcome."""
    workflow = _parse(body.workflow)
    _check_run(access, workflow, body)
    params = body.model_dump(mode="json")
    params["workflow"] = workflow
    return submit_job(access.state, access.user, "run_workflow", access.name, params)
