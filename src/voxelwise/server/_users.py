"""Users, API tokens and per-workspace roles, stored in the server database.

Tokens are ``vw_<id>_<secret>`` with 256 random bits; only their SHA-256 hash is stored (a
token is a random key, not a password, so a slow hash adds nothing), and they are compared in
constant time. Roles: ``viewer`` reads, ``annotator`` also edits annotations and runs jobs,
``owner`` also deletes and manages members; admins may do everything everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxelwise.errors import VoxelwiseError
from voxelwise.server._db import ServerDB, utc_now

__all__ = [
    "ROLES",
    "User",
    "UserError",
    "UserExistsError",
    "UserNotFoundError",
    "add_user",
    "authenticate",
    "drop_workspace_roles",
    "ensure_admin",
    "hash_token",
    "issue_token",
    "list_users",
    "members",
    "open_db",
    "parse_role",
    "parse_user_name",
    "remove_role",
    "revoke_user",
    "role_allows",
    "role_of",
    "roles_of",
    "set_role",
]

ROLES = ("viewer", "annotator", "owner")
_RANK = {role: i for i, role in enumerate(ROLES, start=1)}
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
_TOKEN = re.compile(r"^vw_([0-9a-f]{8})_[A-Za-z0-9_\-]{20,100}$")


class UserError(VoxelwiseError, ValueError):
    """A user name or role is invalid."""


class UserNotFoundError(VoxelwiseError, KeyError):
    """No user of that name."""

    def __str__(self) -> str:
        return str(self.args[0])


class UserExistsError(VoxelwiseError, FileExistsError):
    """A user of that name exists already."""


@dataclass(frozen=True)
class User:
    """An authenticated user."""

    name: str
    admin: bool
    token_id: str | None = None


def open_db(data_root: str | os.PathLike[str]) -> ServerDB:
    """The server database of ``data_root`` (created with the server's folders if missing)."""
    from voxelwise.server._settings import ServerSettings

    settings = ServerSettings(data_root=Path(data_root))
    settings.prepare()
    return ServerDB.open(settings.db_path)[0]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_user_name(name: Any) -> str:
    if not isinstance(name, str) or not _USER.match(name):
        raise UserError(
            f"Invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_role(role: Any) -> str:
    if role not in _RANK:
        raise UserError(f"Expected a role among {', '.join(ROLES)}, got {role!r} instead")
    return str(role)


def role_allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` includes the rights of ``needed``."""
    return role is not None and _RANK.get(role, 0) >= _RANK[needed]


def _new_token(conn: Any, user: str, label: str) -> str:
    token_id = secrets.token_hex(4)
    token = f"vw_{token_id}_{secrets.token_urlsafe(32)}"
    conn.execute(
        "INSERT INTO tokens (id, user, hash, label, created) VALUES (?, ?, ?, ?, ?)",
        (token_id, user, hash_token(token), label, utc_now()),
    )
    return token


def add_user(db: ServerDB, name: str, *, admin: bool = False, label: str = "") -> str:
    """Create a user and return its first API token (shown once; only its hash is kept)."""
    name = parse_user_name(name)
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise UserExistsError(
                f"A user named {name!r} exists already; issue another token with "
                f"`voxelwise users add {name} --token` or choose another name"
            )
        conn.execute(
            "INSERT INTO users (name, admin, created) VALUES (?, ?, ?)",
            (name, int(bool(admin)), utc_now()),
        )
        return _new_token(conn, name, label)


def issue_token(db: ServerDB, name: str, *, label: str = "") -> str:
    """A new API token for an existing user (re-enables a revoked user)."""
    with db.write() as conn:
        if not conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise UserNotFoundError(f"No user named {name!r}; add one with `voxelwise users add`")
        conn.execute("UPDATE users SET disabled = 0 WHERE name = ?", (name,))
        return _new_token(conn, name, label)


def revoke_user(db: ServerDB, name: str, *, token_id: str | None = None) -> int:
    """Revoke one token of a user, or all of them (and disable the user); returns the count."""
    with db.write() as conn:
        if not conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise UserNotFoundError(f"No user named {name!r}")
        if token_id is not None:
            cur = conn.execute(
                "UPDATE tokens SET revoked = 1 WHERE user = ? AND id = ? AND revoked = 0",
                (name, token_id),
            )
            if cur.rowcount == 0:
                raise UserNotFoundError(f"User {name!r} has no active token with id {token_id!r}")
            return 1
        cur = conn.execute("UPDATE tokens SET revoked = 1 WHERE user = ? AND revoked = 0", (name,))
        conn.execute("UPDATE users SET disabled = 1 WHERE name = ?", (name,))
        return int(cur.rowcount)


def list_users(db: ServerDB) -> list[dict[str, Any]]:
    """Every user with admin flag, state, roles and active tokens (ids only)."""
    with db.read() as conn:
        users = conn.execute("SELECT * FROM users ORDER BY name").fetchall()
        roles = conn.execute("SELECT * FROM roles ORDER BY workspace").fetchall()
        tokens = conn.execute(
            "SELECT id, user, label, created FROM tokens WHERE revoked = 0 ORDER BY created"
        ).fetchall()
    out = []
    for u in users:
        out.append(
            {
                "name": u["name"],
                "admin": bool(u["admin"]),
                "disabled": bool(u["disabled"]),
                "created": u["created"],
                "roles": {r["workspace"]: r["role"] for r in roles if r["user"] == u["name"]},
                "tokens": [
                    {"id": t["id"], "label": t["label"], "created": t["created"]}
                    for t in tokens
                    if t["user"] == u["name"]
                ],
            }
        )
    return out


def authenticate(db: ServerDB, token: str | None) -> User | None:
    """The user owning an active ``token``, or None."""
    if not token:
        return None
    m = _TOKEN.match(token)
    if m is None:
        return None
    with db.read() as conn:
        row = conn.execute(
            "SELECT t.hash, t.revoked, u.name, u.admin, u.disabled FROM tokens t "
            "JOIN users u ON u.name = t.user WHERE t.id = ?",
            (m.group(1),),
        ).fetchone()
    if row is None or row["revoked"] or row["disabled"]:
        return None
    if not hmac.compare_digest(row["hash"], hash_token(token)):
        return None
    return User(name=row["name"], admin=bool(row["admin"]), token_id=m.group(1))


def ensure_admin(db: ServerDB) -> str | None:
    """Create the user ``admin`` with a token when the database has no user; return the token."""
    with db.read() as conn:
        if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
            return None
    try:
        return add_user(db, "admin", admin=True, label="first start")
    except UserExistsError:  # another process created it meanwhile
        return None


def set_role(db: ServerDB, workspace: str, user: str, role: str) -> None:
    role = parse_role(role)
    with db.write() as conn:
        if not conn.execute("SELECT 1 FROM users WHERE name = ?", (user,)).fetchone():
            raise UserNotFoundError(f"No user named {user!r}; an admin adds users first")
        conn.execute(
            "INSERT INTO roles (workspace, user, role) VALUES (?, ?, ?) "
            "ON CONFLICT (workspace, user) DO UPDATE SET role = excluded.role",
            (workspace, user, role),
        )


def remove_role(db: ServerDB, workspace: str, user: str) -> None:
    with db.write() as conn:
        cur = conn.execute("DELETE FROM roles WHERE workspace = ? AND user = ?", (workspace, user))
    if cur.rowcount == 0:
        raise UserNotFoundError(f"User {user!r} has no role in workspace {workspace!r}")


def role_of(db: ServerDB, workspace: str, user: str) -> str | None:
    with db.read() as conn:
        row = conn.execute(
            "SELECT role FROM roles WHERE workspace = ? AND user = ?", (workspace, user)
        ).fetchone()
    return None if row is None else str(row[0])


def roles_of(db: ServerDB, user: str) -> dict[str, str]:
    with db.read() as conn:
        rows = conn.execute("SELECT workspace, role FROM roles WHERE user = ?", (user,)).fetchall()
    return {r[0]: r[1] for r in rows}


def members(db: ServerDB, workspace: str) -> dict[str, str]:
    with db.read() as conn:
        rows = conn.execute(
            "SELECT user, role FROM roles WHERE workspace = ? ORDER BY user", (workspace,)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def drop_workspace_roles(db: ServerDB, workspace: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM roles WHERE workspace = ?", (workspace,))
