"""Health, the current user, user administration, files under the data root, the cluster."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from voxelwise import __version__
from voxelwise.server._auth import Admin, CurrentUser, StateDep
from voxelwise.server._errors import ApiError
from voxelwise.server._paths import confine
from voxelwise.server._schemas import (
    FileEntry,
    FilesOut,
    HealthOut,
    JobOut,
    TokenOut,
    UserCreate,
    UserOut,
)
from voxelwise.server._schemas_jobs import ProbeRequest
from voxelwise.server._settings import STATE_DIR
from voxelwise.server._submit import ERRORS, submit_job
from voxelwise.server._users import add_user, issue_token, list_users, revoke_user, roles_of

__all__ = ["router"]

router = APIRouter(responses=ERRORS)


@router.get("/health", tags=["system"], response_model=HealthOut, responses={}, summary="Liveness")
def health() -> dict[str, Any]:
    """Needs no token: tells a load balancer or a client that the server answers."""
    return {"status": "ok", "version": __version__}


@router.get("/me", tags=["users"], response_model=UserOut, summary="The calling user")
def me(user: CurrentUser, state: StateDep) -> dict[str, Any]:
    return {"name": user.name, "admin": user.admin, "roles": roles_of(state.db, user.name)}


@router.get("/users", tags=["users"], response_model=list[UserOut], summary="List users (admin)")
def users(user: Admin, state: StateDep) -> list[dict[str, Any]]:
    return list_users(state.db)


@router.post(
    "/users",
    tags=["users"],
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a user (admin); returns its first token",
)
def create_user(body: UserCreate, user: Admin, state: StateDep) -> dict[str, Any]:
    token = add_user(state.db, body.name, admin=body.admin, label=f"added by {user.name}")
    return {"user": body.name, "token": token}


@router.post(
    "/users/{name}/tokens",
    tags=["users"],
    response_model=TokenOut,
    status_code=status.HTTP_201_CREATED,
    summary="Issue another token (admins for anyone, users for themselves)",
)
def create_token(name: str, user: CurrentUser, state: StateDep) -> dict[str, Any]:
    if not user.admin and name != user.name:
        raise ApiError(403, "Only admins issue tokens for other users", type="Forbidden")
    return {"user": name, "token": issue_token(state.db, name, label=f"issued by {user.name}")}


@router.delete(
    "/users/{name}",
    tags=["users"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke every token of a user and disable it (admin)",
)
def revoke(name: str, user: Admin, state: StateDep) -> None:
    if name == user.name:
        raise ApiError(409, "Admins cannot revoke themselves; ask another admin", type="Conflict")
    revoke_user(state.db, name)


@router.get("/files", tags=["files"], response_model=FilesOut, summary="Browse the data root")
def files(
    user: CurrentUser,
    state: StateDep,
    path: Annotated[
        str, Query(max_length=4096, description="Folder relative to the data root")
    ] = "",
) -> dict[str, Any]:
    """Folders and files under the data root (volumes to create workspaces from)."""
    root = state.settings.data_root
    folder = confine(root, path, what="folder", user=user.name, must_exist=True, allow_root=True)
    if not folder.is_dir():
        raise ApiError(422, f"{path!r} is a file, not a folder", type="NotAFolder")
    entries = []
    for child in sorted(folder.iterdir(), key=lambda p: p.name)[:10000]:
        rel = child.relative_to(root).as_posix()
        if rel == STATE_DIR or child.name.startswith("."):
            continue
        try:
            child.resolve().relative_to(root)
        except ValueError:  # a symlink leading out is not shown
            continue
        is_dir = child.is_dir()
        size = None if is_dir else child.stat().st_size
        entries.append(
            FileEntry(name=child.name, path=rel, type="dir" if is_dir else "file", size=size)
        )
    return {
        "path": folder.relative_to(root).as_posix() if folder != root else "",
        "entries": entries,
    }


@router.get("/cluster", tags=["system"], summary="Workers of the job cluster")
def cluster(user: CurrentUser, state: StateDep) -> dict[str, Any]:
    workers = state.runner.workers() if state.runner is not None else []
    return {
        "external": state.settings.scheduler is not None,
        "workers": len(workers),
        "gpu_workers": sum(1 for w in workers if w["resources"].get("GPU", 0) >= 1),
        "threads": sum(w["nthreads"] for w in workers),
        "job_scheduler": state.settings.job_scheduler,
    }


@router.post(
    "/probe",
    tags=["system"],
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a diagnostic job on a worker (admin)",
)
def probe(body: ProbeRequest, user: Admin, state: StateDep) -> dict[str, Any]:
    """Checks that workers run jobs and see the data root; ``gpu`` asks for a GPU worker."""
    return submit_job(state, user, "probe", None, body)


@router.get("/filters", tags=["features"], summary="Filters and feature presets")
def filters(user: CurrentUser) -> dict[str, Any]:
    from voxelwise.filters import get_filter, list_filters, list_presets, preset_description

    return {
        "filters": [
            {"name": n, "outputs": list(get_filter(n).outputs), "summary": get_filter(n).summary}
            for n in list_filters()
        ],
        "presets": [{"name": n, "description": preset_description(n)} for n in list_presets()],
    }
