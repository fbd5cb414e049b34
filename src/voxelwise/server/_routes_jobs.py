"""Jobs: list, state, logs, cancel, resubmit, and a server-sent event stream of changes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from voxelwise.server._auth import CurrentUser, StateDep
from voxelwise.server._errors import ApiError
from voxelwise.server._jobs import FINAL, JOB_STATES
from voxelwise.server._schemas import JobLogOut, JobOut, ResubmitRequest
from voxelwise.server._state import AppState
from voxelwise.server._submit import ERRORS, submit_job, validate_params
from voxelwise.server._users import User, role_allows, role_of, roles_of

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=ERRORS)

HEARTBEAT_S = 15.0


def _visible(state: AppState, user: User, job: dict[str, Any], needed: str = "viewer") -> None:
    if user.admin or job["owner"] == user.name:
        return
    ws = job.get("workspace")
    if ws is not None and role_allows(role_of(state.db, ws, user.name), needed):
        return
    raise ApiError(
        403,
        f"User {user.name!r} may not {'see' if needed == 'viewer' else 'change'} job {job['id']}",
        type="Forbidden",
    )


def _job(state: AppState, user: User, job_id: str, needed: str = "viewer") -> dict[str, Any]:
    job = state.jobs.get(job_id)
    _visible(state, user, job, needed)
    return job


@router.get("", response_model=list[JobOut], summary="Jobs the user can see, newest first")
def list_jobs(
    user: CurrentUser,
    state: StateDep,
    workspace: Annotated[str | None, Query(max_length=128)] = None,
    state_: Annotated[
        str | None, Query(alias="state", pattern="^(" + "|".join(JOB_STATES) + ")$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    visible = None if user.admin else set(roles_of(state.db, user.name))
    return state.jobs.find(
        workspace=workspace,
        state=state_,
        owner=None if user.admin else user.name,
        visible_workspaces=visible,
        limit=limit,
    )


@router.get("/{job_id}", response_model=JobOut, summary="One job")
def get_job(job_id: str, user: CurrentUser, state: StateDep) -> dict[str, Any]:
    return _job(state, user, job_id)


@router.get("/{job_id}/logs", response_model=list[JobLogOut], summary="A job's log lines")
def job_logs(
    job_id: str,
    user: CurrentUser,
    state: StateDep,
    after: Annotated[int, Query(ge=0, description="Only lines with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    _job(state, user, job_id)
    return state.jobs.logs(job_id, after=after, limit=limit)


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a queued or running job")
def cancel_job(job_id: str, user: CurrentUser, state: StateDep) -> dict[str, Any]:
    """A queued job is dropped; a running one stops at its next progress report, leaving nothing
    half-written. The job's state becomes ``cancelled`` once it has stopped."""
    _job(state, user, job_id, "annotator")
    if state.runner is None:
        raise ApiError(409, "This server runs no job cluster", type="NoCluster")
    return state.runner.cancel(job_id)


@router.post(
    "/{job_id}/resubmit",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a finished job again as a new job (e.g. after it was interrupted)",
)
def resubmit_job(
    job_id: str, user: CurrentUser, state: StateDep, body: ResubmitRequest | None = None
) -> dict[str, Any]:
    old = _job(state, user, job_id, "annotator")
    if old["state"] not in FINAL:
        raise ApiError(
            409,
            f"Job {job_id} is {old['state']}; resubmit it once it has ended",
            type="JobStateError",
        )
    params = validate_params(old["kind"], {**old["params"], **(body.params if body else {})})
    if old["workspace"] is not None and old["kind"] != "create_workspace":
        state.workspace(old["workspace"])  # 404 when it is gone
    return submit_job(state, user, old["kind"], old["workspace"], params, resubmitted_from=job_id)


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: 'job' (the job, on every change) and "
            "'log' (new log lines); the stream ends when the job has ended",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    summary="Stream a job's changes (server-sent events)",
)
async def job_events(
    job_id: str, request: Request, user: CurrentUser, state: StateDep
) -> StreamingResponse:
    await run_in_threadpool(_job, state, user, job_id)
    interval = state.settings.sse_interval

    async def stream() -> AsyncIterator[str]:
        last: dict[str, Any] | None = None
        after = 0
        beat = time.monotonic()
        while True:
            job = await run_in_threadpool(state.jobs.get, job_id)
            logs = await run_in_threadpool(state.jobs.logs, job_id, after=after)
            for line in logs:
                after = int(line["id"])
                yield _sse("log", line, after)
            if job != last:
                last = job
                yield _sse("job", job)
                beat = time.monotonic()
            if job["state"] in FINAL:
                return
            if time.monotonic() - beat > HEARTBEAT_S:
                beat = time.monotonic()
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(interval)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
