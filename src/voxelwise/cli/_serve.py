"""``voxelwise serve`` and ``voxelwise users add/list/revoke``: the server and its users."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_server_parsers", "cmd_serve", "cmd_users_add", "cmd_users_list", "cmd_users_revoke"]


def add_server_parsers(sub: Any) -> None:
    """Register ``serve`` and ``users`` on the main parser's subcommands."""
    p = sub.add_parser("serve", help="serve the workspaces under a data root over HTTP (REST API)")
    p.add_argument(
        "--data-root", required=True, help="folder served: volumes, workspaces/, exports/"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8130, help="port (default: 8130)")
    p.add_argument(
        "--scheduler",
        help="external dask scheduler (tcp://host:8786) running the jobs; default: an embedded "
        "local cluster",
    )
    p.add_argument("--workers", type=int, default=2, help="embedded cluster: worker processes")
    p.add_argument(
        "--gpus", type=int, help="embedded cluster: GPU workers (default: one per GPU found)"
    )
    p.add_argument(
        "--job-scheduler",
        choices=["threads", "cluster"],
        default="threads",
        help="where a job's chunk tasks run: threads of its worker, or the whole cluster",
    )
    p.add_argument(
        "--max-request-mb", type=float, default=8.0, help="largest request body accepted (MiB)"
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="users and API tokens of a server").add_subparsers(
        dest="users_command", required=True, metavar="ACTION"
    )
    p = users.add_parser("add", help="add a user and print its API token")
    p.add_argument("name")
    p.add_argument("--data-root", required=True, help="the server's data root")
    p.add_argument("--admin", action="store_true", help="may manage users and every workspace")
    p.add_argument(
        "--token", action="store_true", help="issue another token to an existing user instead"
    )
    p.add_argument(
        "--grant",
        action="append",
        default=[],
        metavar="WORKSPACE:ROLE",
        help="give a role (viewer, annotator, owner) in a workspace (repeatable)",
    )
    p.set_defaults(func=cmd_users_add)

    p = users.add_parser("list", help="list users, their roles and active tokens")
    p.add_argument("--data-root", required=True)
    p.set_defaults(func=cmd_users_list)

    p = users.add_parser("revoke", help="revoke a user's tokens (all, or one with --token-id)")
    p.add_argument("name")
    p.add_argument("--data-root", required=True)
    p.add_argument("--token-id", help="revoke only this token (ids from `voxelwise users list`)")
    p.set_defaults(func=cmd_users_revoke)


def cmd_serve(args: argparse.Namespace) -> None:
    from voxelwise.server import serve

    serve(
        args.data_root,
        host=args.host,
        port=args.port,
        scheduler=args.scheduler,
        log_level=args.log_level,
        n_workers=args.workers,
        gpus=args.gpus,
        job_scheduler=args.job_scheduler,
        max_request_bytes=int(args.max_request_mb * 2**20),
    )


def _grants(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        workspace, sep, role = value.rpartition(":")
        if not sep or not workspace:
            raise ValueError(
                f"Expected --grant WORKSPACE:ROLE, e.g. cells:annotator, got {value!r}"
            )
        out.append((workspace, role))
    return out


def cmd_users_add(args: argparse.Namespace) -> None:
    from voxelwise.server import add_user, issue_token, open_db, set_role

    grants = _grants(args.grant)
    db = open_db(args.data_root)
    if args.token:
        token = issue_token(db, args.name)
    else:
        token = add_user(db, args.name, admin=args.admin)
    for workspace, role in grants:
        set_role(db, workspace, args.name, role)
    print(f"token: {token}")


def cmd_users_list(args: argparse.Namespace) -> None:
    from voxelwise.server import list_users, open_db

    for user in list_users(open_db(args.data_root)):
        flags = ("admin " if user["admin"] else "") + ("disabled " if user["disabled"] else "")
        roles = ", ".join(f"{w}:{r}" for w, r in user["roles"].items()) or "-"
        tokens = ", ".join(t["id"] for t in user["tokens"]) or "-"
        print(f"{user['name']}\t{flags.strip() or 'user'}\troles: {roles}\ttokens: {tokens}")


def cmd_users_revoke(args: argparse.Namespace) -> None:
    from voxelwise.server import open_db, revoke_user

    n = revoke_user(open_db(args.data_root), args.name, token_id=args.token_id)
    what = "token" if args.token_id else "token(s); user disabled"
    print(f"revoked {n} {what}")
