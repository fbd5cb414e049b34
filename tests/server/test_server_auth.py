"""Authentication, roles, users and tokens."""

from __future__ import annotations

import sqlite3

import pytest

from voxelwise.cli import main
from voxelwise.server import open_db
from voxelwise.server._users import authenticate


def test_health_needs_no_token(api):
    r = api.http.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer vw_00000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
    ],
)
def test_every_route_but_health_needs_a_valid_token(api, headers):
    for path in (
        "/me",
        "/workspaces",
        "/workspaces/cells",
        "/workspaces/cells/layers/raw",
        "/jobs",
    ):
        r = api.http.get(path, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "token" in r.json()["detail"]


def test_a_tampered_token_is_refused(api):
    token = api.tokens["ana"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api.http.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_roles_viewer_annotator_owner(api):
    http = api.http
    # viewer reads but may not paint or run jobs
    assert http.get("/workspaces/cells/layers/raw", headers=api.h("victor")).status_code == 200
    r = http.post(
        "/workspaces/cells/annotations",
        json={"name": "victor_scribbles"},
        headers=api.h("victor"),
    )
    assert r.status_code == 403
    assert "victor" in r.json()["detail"] and "annotator" in r.json()["detail"]
    r = http.post("/workspaces/cells/features", json={"features": "small"}, headers=api.h("victor"))
    assert r.status_code == 403
    # annotator edits labels but may not delete layers or the workspace
    r = http.post(
        "/workspaces/cells/label-sets/roles_test/labels", json={"name": "a"}, headers=api.h("ana")
    )
    assert r.status_code == 201, r.text
    assert http.delete("/workspaces/cells/layers/raw", headers=api.h("ana")).status_code == 403
    assert http.delete("/workspaces/cells", headers=api.h("ana")).status_code == 403
    # a user without a role sees nothing of the workspace
    assert http.get("/workspaces/cells", headers=api.h("nobody")).status_code == 403
    names = [w["name"] for w in http.get("/workspaces", headers=api.h("nobody")).json()]
    assert "cells" not in names
    names = [w["name"] for w in http.get("/workspaces", headers=api.h("victor")).json()]
    assert names == ["cells"]


def test_unknown_workspace_is_404_with_its_name(api):
    r = api.http.get("/workspaces/ghost/layers", headers=api.h("ana"))
    assert r.status_code == 404
    assert "ghost" in r.json()["detail"]


def test_admin_routes_refuse_other_users(api):
    assert api.http.get("/users", headers=api.h("ana")).status_code == 403
    r = api.http.post("/users", json={"name": "mallory", "admin": True}, headers=api.h("ana"))
    assert r.status_code == 403
    assert api.http.post("/probe", json={}, headers=api.h("ana")).status_code == 403


def test_users_tokens_and_revocation_over_the_api(api):
    http = api.http
    r = http.post("/users", json={"name": "temp"}, headers=api.h())
    assert r.status_code == 201
    token = r.json()["token"]
    hdr = {"Authorization": f"Bearer {token}"}
    assert http.get("/me", headers=hdr).json()["name"] == "temp"
    # a second token, then revoke the user: both stop working
    token2 = http.post("/users/temp/tokens", headers=hdr).json()["token"]
    assert http.get("/me", headers={"Authorization": f"Bearer {token2}"}).status_code == 200
    assert http.post("/users/admin/tokens", headers=hdr).status_code == 403
    assert http.delete("/users/temp", headers=api.h()).status_code == 204
    assert http.get("/me", headers=hdr).status_code == 401
    assert http.get("/me", headers={"Authorization": f"Bearer {token2}"}).status_code == 401
    assert http.post("/users", json={"name": "temp"}, headers=api.h()).status_code == 409
    assert http.post("/users", json={"name": "../x"}, headers=api.h()).status_code == 422


def test_only_token_hashes_are_stored(api):
    db = open_db(api.root)
    with sqlite3.connect(db.path) as conn:
        dump = "\n".join(conn.iterdump())
    for token in api.tokens.values():
        assert token not in dump
        assert token[12:] not in dump  # the secret part after "vw_<id>_"


def test_cli_users_add_list_revoke(tmp_path, capsys):
    root = tmp_path / "root"
    root.mkdir()
    assert (
        main(["users", "add", "ana", "--data-root", str(root), "--grant", "cells:annotator"]) == 0
    )
    token = capsys.readouterr().out.strip().split("token: ")[1]
    db = open_db(root)
    assert authenticate(db, token).name == "ana"
    assert main(["users", "list", "--data-root", str(root)]) == 0
    listing = capsys.readouterr().out
    assert "ana" in listing and "cells:annotator" in listing
    assert main(["users", "add", "ana", "--data-root", str(root)]) == 2  # exists
    assert "exists already" in capsys.readouterr().err
    assert main(["users", "revoke", "ana", "--data-root", str(root)]) == 0
    assert authenticate(db, token) is None
    assert main(["users", "add", "ana", "--token", "--data-root", str(root)]) == 0
    fresh = capsys.readouterr().out.strip().split("token: ")[1]
    assert authenticate(db, fresh).name == "ana"
    assert main(["users", "revoke", "ghost", "--data-root", str(root)]) == 2
