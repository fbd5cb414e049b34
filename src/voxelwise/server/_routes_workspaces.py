"""Workspaces: list, create (a job), info, delete; members and roles; runs, tables (models:
:mod:`voxelwise.server._routes_registry`)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Response, status

from voxelwise.server._auth import CurrentUser, Owner, StateDep, Viewer
from voxelwise.server._errors import ApiError
from voxelwise.server._ops_common import TABLES, table_path
from voxelwise.server._paths import confine, relative_to_root, workspace_path
from voxelwise.server._schemas import (
    JobOut,
    MemberOut,
    MemberSet,
    Name,
    WorkspaceCreate,
    WorkspaceInfo,
    WorkspaceSummary,
)
from voxelwise.server._submit import ERRORS, submit_job
from voxelwise.server._users import (
    drop_workspace_roles,
    members,
    remove_role,
    roles_of,
    set_role,
)

__all__ = ["router"]

router = APIRouter(prefix="/workspaces", tags=["workspaces"], responses=ERRORS)


@router.get("", response_model=list[WorkspaceSummary], summary="Workspaces the user can see")
def list_workspaces(user: CurrentUser, state: StateDep) -> list[dict[str, Any]]:
    roles = roles_of(state.db, user.name)
    out = []
    folder = state.settings.workspaces_dir
    for path in sorted(folder.glob("*.vw")) if folder.is_dir() else []:
        name = path.name[: -len(".vw")]
        role = "owner" if user.admin else roles.get(name)
        if role is None or not state.exists(name):
            continue
        try:
            ws = state.workspace(name)
        except Exception:  # e.g. a folder being replaced right now
            continue
        out.append({"name": name, "shape": list(ws.shape), "dtype": str(ws.dtype), "role": role})
    return out


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Create a workspace from a volume under the data root (a job)",
)
def create_workspace(body: WorkspaceCreate, user: CurrentUser, state: StateDep) -> dict[str, Any]:
    """The image is streamed chunk by chunk into the new workspace by a job; the caller becomes
    its owner. Wait for the job (GET /jobs/{id} or its events) before using the workspace."""
    confine(
        state.settings.data_root, body.image, what="image path", user=user.name, must_exist=True
    )
    exists = state.exists(body.name)
    if exists:
        role = "owner" if user.admin else roles_of(state.db, user.name).get(body.name)
        if not body.overwrite:
            raise ApiError(
                409,
                f"A workspace named {body.name!r} exists already; choose another name or pass "
                "overwrite=true (owners only)",
                type="WorkspaceExistsError",
            )
        if role != "owner":
            raise ApiError(
                403, f"Only owners may replace workspace {body.name!r}", type="Forbidden"
            )
    if _busy(state, body.name):
        raise ApiError(
            409, f"Workspace {body.name!r} has jobs running; wait or cancel them", type="Busy"
        )
    if not exists:
        drop_workspace_roles(state.db, body.name)  # left from a deleted workspace of that name
    set_role(state.db, body.name, user.name, "owner")
    state.settings.workspaces_dir.mkdir(parents=True, exist_ok=True)
    return submit_job(state, user, "create_workspace", body.name, body)


def _busy(state: Any, name: str) -> bool:
    return any(j["workspace"] == name for j in state.jobs.active())


@router.get("/{ws}", response_model=WorkspaceInfo, summary="Workspace summary")
def workspace_info(access: Viewer) -> dict[str, Any]:
    ws = access.ws
    info = ws.info()
    root = access.state.settings.data_root
    source = dict(info.get("source") or {})
    if source.get("path"):
        source["path"] = relative_to_root(root, source["path"])
    layers = {
        n: {k: v for k, v in d.items() if k != "directory"} for n, d in info["layers"].items()
    }
    return {
        "name": access.name,
        "title": info["name"],
        "shape": info["shape"],
        "dtype": info["dtype"],
        "spacing": info["spacing"],
        "unit": info["unit"],
        "chunks": info["chunks"],
        "created": info["created"],
        "software_version": info["software_version"],
        "source": source,
        "layers": layers,
        "label_sets": info["label_sets"],
        "runs": info["runs"],
        "role": access.role,
    }


@router.delete(
    "/{ws}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a workspace (owner)"
)
def delete_workspace(access: Owner) -> None:
    state = access.state
    if _busy(state, access.name):
        raise ApiError(
            409, f"Workspace {access.name!r} has jobs running; cancel them first", type="Busy"
        )
    path = workspace_path(state.settings.data_root, access.name)
    trash = path.parent / f".{access.name}.vw-deleted-{uuid.uuid4().hex[:8]}"
    path.rename(trash)  # disappears at once; the slow removal follows
    state.forget(access.name)
    drop_workspace_roles(state.db, access.name)
    shutil.rmtree(trash, ignore_errors=True)


@router.get("/{ws}/members", response_model=list[MemberOut], summary="Users and their roles")
def list_members(access: Viewer) -> list[dict[str, str]]:
    return [{"user": u, "role": r} for u, r in members(access.state.db, access.name).items()]


@router.put("/{ws}/members/{user}", response_model=MemberOut, summary="Grant a role (owner)")
def put_member(user: Name, body: MemberSet, access: Owner) -> dict[str, str]:
    if user == access.user.name and body.role != "owner" and not access.user.admin:
        owners = [u for u, r in members(access.state.db, access.name).items() if r == "owner"]
        if owners == [user]:
            raise ApiError(409, "A workspace keeps at least one owner", type="Conflict")
    set_role(access.state.db, access.name, user, body.role)
    return {"user": user, "role": body.role}


@router.delete(
    "/{ws}/members/{user}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (owner)",
)
def delete_member(user: Name, access: Owner) -> None:
    owners = [u for u, r in members(access.state.db, access.name).items() if r == "owner"]
    if owners == [user]:
        raise ApiError(409, "A workspace keeps at least one owner", type="Conflict")
    remove_role(access.state.db, access.name, user)


@router.get("/{ws}/runs", summary="Recorded workflow steps (provenance)")
def runs(access: Viewer) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "step": r.step,
            "params": r.params,
            "inputs": list(r.inputs),
            "outputs": list(r.outputs),
            "versions": r.versions,
            "started": r.started.isoformat(),
            "duration": r.duration,
        }
        for r in access.ws.runs()
    ]


@router.get("/{ws}/tables", summary="Measurement tables kept in the workspace")
def tables(access: Viewer) -> list[dict[str, Any]]:
    folder = Path(access.ws.path) / TABLES
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    return [{"name": f.stem, "size": f.stat().st_size} for f in files]


@router.get("/{ws}/tables/{table}", summary="One table as columns (JSON)")
def table(
    table: Name,
    access: Viewer,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100000)] = 10000,
) -> dict[str, Any]:
    from voxelwise.analysis import Table
    from voxelwise.server._tasks import jsonable

    path = table_path(access.ws, table)
    if not path.is_file():
        raise ApiError(
            404, f"No table named {table!r} in workspace {access.name!r}", type="NotFound"
        )
    data = Table.read(path)
    rows = len(data)
    part = data.select(np.arange(min(offset, rows), min(offset + limit, rows)))
    return {"name": table, "rows": rows, "offset": offset, "columns": jsonable(part.to_dict())}


@router.get(
    "/{ws}/tables/{table}/csv",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="One table as CSV",
)
def table_csv(table: Name, access: Viewer) -> Response:
    path = table_path(access.ws, table)
    if not path.is_file():
        raise ApiError(
            404, f"No table named {table!r} in workspace {access.name!r}", type="NotFound"
        )
    return Response(path.read_text(encoding="utf-8"), media_type="text/csv")
