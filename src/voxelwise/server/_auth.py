"""Authentication and authorisation as FastAPI dependencies.

Every route except ``GET /health`` depends on :func:`current_user` (401 without a valid bearer
token). Workspace routes depend on :data:`Viewer`, :data:`Annotator` or :data:`Owner`, which
check, in this order, that the workspace exists (404 naming it) and that the user's role there
is high enough (403); admins pass everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voxelwise.server._errors import ApiError
from voxelwise.server._state import AppState, get_state
from voxelwise.server._users import User, authenticate, role_allows, role_of

__all__ = [
    "Admin",
    "Annotator",
    "CurrentUser",
    "Owner",
    "StateDep",
    "Viewer",
    "WsAccess",
    "current_user",
]

bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`voxelwise users add NAME` prints one): 'Authorization: Bearer vw_...'",
)
StateDep = Annotated[AppState, Depends(get_state)]


def current_user(
    state: StateDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    user = authenticate(state.db, creds.credentials if creds is not None else None)
    if user is None:
        raise ApiError(
            401,
            "Missing or invalid API token: send 'Authorization: Bearer <token>' (an admin "
            "issues tokens with `voxelwise users add NAME`)",
            type="Unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def _admin(user: CurrentUser) -> User:
    if not user.admin:
        raise ApiError(403, f"User {user.name!r} is not an admin", type="Forbidden")
    return user


Admin = Annotated[User, Depends(_admin)]


@dataclass
class WsAccess:
    """A workspace the user may use, with the user's role in it."""

    name: str
    user: User
    role: str
    state: AppState

    @property
    def ws(self) -> Any:
        return self.state.workspace(self.name)


WsName = Annotated[
    str,
    Path(description="Workspace name", max_length=128, examples=["cells"]),
]


def _access(needed: str) -> Any:
    def dependency(ws: WsName, user: CurrentUser, state: StateDep) -> WsAccess:
        state.workspace(ws)  # 404 naming it when missing (also refuses malformed names)
        role = "owner" if user.admin else role_of(state.db, ws, user.name)
        if not role_allows(role, needed):
            have = f"is {role}" if role else "has no role"
            raise ApiError(
                403,
                f"User {user.name!r} {have} in workspace {ws!r}; this needs {needed} rights "
                "(a workspace owner grants them: PUT /workspaces/{ws}/members/{user})",
                type="Forbidden",
            )
        return WsAccess(ws, user, str(role), state)

    return dependency


Viewer = Annotated[WsAccess, Depends(_access("viewer"))]
Annotator = Annotated[WsAccess, Depends(_access("annotator"))]
Owner = Annotated[WsAccess, Depends(_access("owner"))]
