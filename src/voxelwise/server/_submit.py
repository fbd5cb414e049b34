"""Submitting jobs: validate, record in the job table, hand to the runner."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from voxelwise.server._errors import ApiError
from voxelwise.server._schemas_jobs import JOB_MODELS
from voxelwise.server._state import AppState
from voxelwise.server._users import User

__all__ = ["ERRORS", "needs_gpu", "submit_job", "validate_params"]


def _err(description: str) -> dict[str, Any]:
    from voxelwise.server._schemas import ErrorOut

    return {"model": ErrorOut, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("Bad request (e.g. a path outside the data root)"),
    401: _err("Missing or invalid API token"),
    403: _err("The user's role does not allow this"),
    404: _err("No such workspace, layer, label, job or file (the message names it)"),
    409: _err("Conflict: exists already, busy, or not in a state that allows this"),
    413: _err("Request body too large"),
    422: _err("Invalid parameters (the message says which and how to fix them)"),
}


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    model: type[BaseModel] | None = JOB_MODELS.get(kind)
    if model is None:
        raise ApiError(
            409,
            f"A {kind!r} job cannot be submitted again: this server has no parameter schema "
            f"for that kind (known kinds: {', '.join(sorted(JOB_MODELS))}). Submit it through "
            "its own route instead.",
            type="UnknownJobKind",
        )
    try:
        return model.model_validate(params).model_dump(mode="json")
    except ValidationError as e:
        first: dict[str, Any] = dict(e.errors()[0]) if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ApiError(
            422,
            f"Invalid parameters for a {kind} job: {where}: {first.get('msg')}",
            type="ValidationError",
        ) from e


def needs_gpu(state: AppState, kind: str, params: dict[str, Any]) -> bool:
    """Jobs with ``device`` 'cuda' need a GPU worker; 'auto' takes one when the cluster has one.

    Any job kind whose parameters have a ``device`` field (deep training and prediction,
    active-learning updates, object CNNs, ...) is routed this way.
    """
    if kind == "probe":
        return bool(params.get("gpu"))
    device = params.get("device")
    if device is None:
        return False
    if device == "cuda":
        return True
    if device == "auto" and state.runner is not None:
        return state.runner.gpu_workers() > 0
    return False


def submit_job(
    state: AppState,
    user: User,
    kind: str,
    workspace: str | None,
    params: BaseModel | dict[str, Any],
    *,
    resubmitted_from: str | None = None,
) -> dict[str, Any]:
    """Record a job and start it; returns its row."""
    plain = params.model_dump(mode="json") if isinstance(params, BaseModel) else dict(params)
    if state.runner is None:
        raise ApiError(409, "This server runs no job cluster", type="NoCluster")
    gpu = needs_gpu(state, kind, plain)
    if gpu:
        state.runner.check_gpu()
    job = state.jobs.create(
        kind,
        workspace=workspace,
        params=plain,
        owner=user.name,
        gpu=gpu,
        resubmitted_from=resubmitted_from,
    )
    try:
        state.runner.submit(job)
    except Exception as e:
        state.jobs.finish(job["id"], "failed", error=f"Could not submit the job: {e}")
        raise
    return state.jobs.get(job["id"])
