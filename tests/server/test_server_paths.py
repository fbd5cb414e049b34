"""Path traversal: client paths stay inside the data root, and refusals are logged."""

from __future__ import annotations

import logging
import os

import pytest

from voxelwise.server._paths import PathRefusedError, confine

ESCAPES = [
    "../outside.tif",
    "a/../../outside.tif",
    "/etc/passwd",
    "~/outside.tif",
    "..",
    "./../outside.tif",
    "C:/Windows/win.ini",
    "a\\..\\..\\outside.tif",
    "em.tif\x00.png",
    ".voxelwise/server.sqlite",
    "./.voxelwise/server.sqlite",
]


@pytest.fixture(scope="module")
def outside(api, tmp_path_factory):
    """A volume outside the data root and a symlink inside pointing at it."""
    folder = tmp_path_factory.mktemp("outside")
    target = folder / "secret.tif"
    target.write_bytes((api.root / "em.tif").read_bytes())
    link = api.root / "escape.tif"
    if not link.exists():
        os.symlink(target, link)
    dirlink = api.root / "escape_dir"
    if not dirlink.exists():
        os.symlink(folder, dirlink)
    return folder


@pytest.mark.parametrize("path", [*ESCAPES, "escape.tif", "escape_dir/secret.tif"])
def test_create_workspace_refuses_paths_outside_the_root(api, outside, path, caplog):
    with caplog.at_level(logging.WARNING, logger="voxelwise.server.security"):
        r = api.http.post("/workspaces", json={"name": "bad", "image": path}, headers=api.h())
    assert r.status_code in (400, 422), r.text
    if r.status_code == 400:
        assert r.json()["type"] == "PathRefusedError"
        assert any("refused" in rec.getMessage() for rec in caplog.records)
    assert not (api.root / "workspaces" / "bad.vw").exists()


@pytest.mark.parametrize("path", ["../", "/", "/etc", "escape_dir", ".voxelwise", "a/../.."])
def test_files_listing_stays_inside(api, outside, path):
    r = api.http.get("/files", params={"path": path}, headers=api.h("ana"))
    assert r.status_code == 400, r.text


def test_files_listing_hides_state_and_links_leading_out(api, outside):
    r = api.http.get("/files", headers=api.h("ana"))
    assert r.status_code == 200
    names = {e["name"] for e in r.json()["entries"]}
    assert {"em.tif", "labels.tif", "workspaces"} <= names
    assert ".voxelwise" not in names and "escape.tif" not in names and "escape_dir" not in names


def test_url_encoded_traversal_in_query_is_decoded_then_refused(api):
    r = api.http.get("/files?path=%2e%2e%2f%2e%2e%2fetc", headers=api.h())
    assert r.status_code == 400
    r = api.http.get("/files?path=..%2F..%2Fetc", headers=api.h())
    assert r.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/workspaces/..%2F..%2Fetc/layers",
        "/workspaces/%2e%2e/layers",
        "/workspaces/cells/layers/../../../../etc/passwd",
        "/workspaces/cells/layers/..%2F..%2Fcatalog.sqlite",
        "/workspaces/cells/tables/..%2F..%2Fcatalog",
        "/workspaces/.hidden",
    ],
)
def test_names_in_urls_cannot_walk_out(api, url):
    r = api.http.get(url, headers=api.h())
    assert r.status_code in (404, 422), (url, r.status_code, r.text)


@pytest.mark.parametrize("path", ESCAPES)
def test_export_and_import_refuse_escapes(api, path):
    r = api.http.post(
        "/workspaces/cells/layers/raw/export", json={"path": path}, headers=api.h("ana")
    )
    assert r.status_code in (400, 422), r.text
    r = api.http.post(
        "/workspaces/cells/annotations/import",
        json={"path": path, "name": "imported"},
        headers=api.h("ana"),
    )
    assert r.status_code in (400, 422), r.text


@pytest.mark.parametrize(
    "features",
    ["/etc/passwd", "../preset.yaml", "evil.yaml", ["small", "x.yml"], "~/.bashrc"],
)
def test_feature_presets_are_never_read_from_files(api, features):
    r = api.http.post("/workspaces/cells/features", json={"features": features}, headers=api.h())
    assert r.status_code == 422, r.text


def test_confine_accepts_inner_paths_and_refuses_the_rest(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.tif").write_bytes(b"")
    assert confine(tmp_path, "a/x.tif") == (tmp_path / "a" / "x.tif").resolve()
    assert confine(tmp_path, "a/./x.tif", must_exist=True).name == "x.tif"
    assert confine(tmp_path, "", allow_root=True) == tmp_path.resolve()
    for bad in ESCAPES:
        with pytest.raises(PathRefusedError):
            confine(tmp_path, bad)
    with pytest.raises(PathRefusedError):
        confine(tmp_path, 42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        confine(tmp_path, "a/missing.tif", must_exist=True)
