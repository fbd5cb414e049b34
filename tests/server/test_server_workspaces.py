"""Workspaces, layers (slices, chunks, regions), label sets and annotation edits over the API."""

from __future__ import annotations

import zlib

import imagecodecs
import numpy as np
import pytest

from voxelwise.workspace import Workspace


def decode(r) -> np.ndarray:
    body = r.content
    if r.headers["x-compression"] == "zlib":
        body = zlib.decompress(body)
    elif r.headers["x-compression"] == "zstd":
        body = imagecodecs.zstd_decode(body)
    shape = tuple(int(s) for s in r.headers["x-shape"].split(","))
    return np.frombuffer(body, dtype=r.headers["x-dtype"]).reshape(shape)


@pytest.fixture(scope="module")
def ws(api):
    return Workspace.open(api.root / "workspaces" / "cells.vw")


def test_list_and_info(api):
    listing = api.http.get("/workspaces", headers=api.h()).json()
    assert {"name": "cells", "shape": [16, 64, 64], "dtype": "uint8", "role": "owner"} in listing
    info = api.http.get("/workspaces/cells", headers=api.h("victor")).json()
    assert info["shape"] == [16, 64, 64] and info["chunks"] == [8, 32, 32]
    assert info["role"] == "viewer"
    assert "raw" in info["layers"]
    assert info["source"]["path"] == "em.tif"  # relative: server paths are never shown
    assert str(api.root) not in str(info)


@pytest.mark.parametrize("compression", ["none", "zlib", "zstd"])
@pytest.mark.parametrize(("axis", "index"), [("z", 3), ("y", 40), ("x", 63)])
def test_slice_bytes_equal_the_library(api, ws, axis, index, compression):
    r = api.http.get(
        "/workspaces/cells/layers/raw/slice",
        params={"axis": axis, "index": index, "compression": compression},
        headers=api.h("victor"),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    key = [slice(None)] * 3
    key["zyx".index(axis)] = index
    np.testing.assert_array_equal(decode(r), ws.get("raw")[tuple(key)].compute())


def test_chunks_and_regions(api, ws):
    meta = api.http.get("/workspaces/cells/layers/raw", headers=api.h()).json()
    assert meta["levels"][0] == {
        "shape": [16, 64, 64],
        "chunks": [8, 32, 32],
        "spacing": [1.0, 1.0, 1.0],
    }
    raw = ws.get("raw").compute()
    r = api.http.get(
        "/workspaces/cells/layers/raw/chunks/0/1/0/1",
        params={"version": meta["version"]},
        headers=api.h(),
    )
    np.testing.assert_array_equal(decode(r), raw[8:16, 0:32, 32:64])
    r = api.http.get(
        "/workspaces/cells/layers/raw/region", params={"roi": "2:5,10:20,30:64"}, headers=api.h()
    )
    np.testing.assert_array_equal(decode(r), raw[2:5, 10:20, 30:64])
    bad = [
        ("/workspaces/cells/layers/raw/chunks/0/2/0/0", 422),  # outside the grid
        ("/workspaces/cells/layers/raw/chunks/3/0/0/0", 422),  # no such level
        ("/workspaces/cells/layers/raw/chunks/0/0/0/0?version=stale", 409),
        ("/workspaces/cells/layers/raw/slice?index=16", 422),
        ("/workspaces/cells/layers/raw/slice?index=-1", 422),
        ("/workspaces/cells/layers/raw/slice?index=2&axis=w", 422),
        ("/workspaces/cells/layers/raw/region?roi=0:99,0:1,0:1", 422),
        ("/workspaces/cells/layers/raw/region?roi=nonsense", 422),
        ("/workspaces/cells/layers/nope/slice?index=0", 404),
    ]
    for url, status in bad:
        r = api.http.get(url, headers=api.h())
        assert r.status_code == status, (url, r.text)
        assert r.json()["detail"]


def test_layer_listing_and_404_names_the_layer(api):
    layers = api.http.get("/workspaces/cells/layers", headers=api.h()).json()
    assert layers[0]["name"] == "raw" and layers[0]["kind"] == "image"
    assert layers[0]["stats"]["max"] == 255
    r = api.http.get("/workspaces/cells/layers/membranes", headers=api.h())
    assert r.status_code == 404 and "'membranes'" in r.json()["detail"]
    assert api.http.delete("/workspaces/cells/layers/raw", headers=api.h()).status_code == 422


def test_label_sets(api):
    http, h = api.http, api.h("ana")
    assert (
        http.post(
            "/workspaces/cells/label-sets/tissue/labels",
            json={"name": "membrane", "color": "#ff0000"},
            headers=h,
        ).status_code
        == 201
    )
    assert (
        http.post(
            "/workspaces/cells/label-sets/tissue/labels",
            json={"name": "cell", "color": [0, 255, 0]},
            headers=h,
        ).status_code
        == 201
    )
    r = http.post(
        "/workspaces/cells/label-sets/tissue/labels",
        json={"name": "nucleus", "parent": "cell"},
        headers=h,
    )
    assert r.status_code == 201 and r.json()["value"] == 3 and r.json()["parent"] == "cell"
    r = http.post("/workspaces/cells/label-sets/tissue/labels", json={"name": "cell"}, headers=h)
    assert r.status_code == 422 and "exists already" in r.json()["detail"]
    r = http.patch(
        "/workspaces/cells/label-sets/tissue/labels/nucleus",
        json={"parent": None, "color": "#0000ff"},
        headers=h,
    )
    assert (
        r.status_code == 200
        and r.json()["parent"] is None
        and r.json()["color"] == [0, 0, 255, 255]
    )
    sets = http.get("/workspaces/cells/label-sets", headers=api.h("victor")).json()
    assert [lab["name"] for lab in sets["tissue"]] == ["membrane", "cell", "nucleus"]
    assert (
        http.delete("/workspaces/cells/label-sets/tissue/labels/nucleus", headers=h).status_code
        == 204
    )
    assert http.get("/workspaces/cells/label-sets/ghost", headers=h).status_code == 404


def test_strokes_undo_redo_and_history(api, ws):
    http, h = api.http, api.h("ana")
    if "tissue" not in ws.label_sets():
        test_label_sets(api)
    r = http.post(
        "/workspaces/cells/annotations",
        json={"name": "scribbles", "label_set": "tissue"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "annotation"
    stroke = {"label": "membrane", "points": [[4, 10, 10], [4, 10, 40]], "radius": 2, "plane": "z"}
    r = http.post("/workspaces/cells/annotations/scribbles/strokes", json=stroke, headers=h)
    assert r.status_code == 200, r.text
    edit = r.json()
    assert edit["kind"] == "paint" and edit["author"] == "ana" and edit["voxels"] > 50
    data = ws.get("scribbles").compute()
    assert int((data == 1).sum()) == edit["voxels"]
    assert data[4, 10, 25] == 1 and data[5].max() == 0
    assert (
        http.post("/workspaces/cells/annotations/scribbles/undo", headers=h).json()["kind"]
        == "undo"
    )
    assert ws.get("scribbles").compute().max() == 0
    assert (
        http.post("/workspaces/cells/annotations/scribbles/redo", headers=h).json()["kind"]
        == "redo"
    )
    np.testing.assert_array_equal(ws.get("scribbles").compute(), data)
    assert http.post("/workspaces/cells/annotations/scribbles/redo", headers=h).json() is None
    erase = {"tool": "erase", "points": [[4, 10, 10]], "radius": 3, "plane": "z"}
    assert (
        http.post("/workspaces/cells/annotations/scribbles/strokes", json=erase, headers=h).json()[
            "kind"
        ]
        == "erase"
    )
    fill = {"label": "cell", "seed": [8, 50, 50], "plane": "z"}
    r = http.post("/workspaces/cells/annotations/scribbles/fill", json=fill, headers=h)
    assert r.status_code == 200 and r.json()["kind"] == "fill"
    history = http.get(
        "/workspaces/cells/annotations/scribbles/history", headers=api.h("victor")
    ).json()
    assert [e["kind"] for e in history][-5:] == ["paint", "undo", "redo", "erase", "fill"]
    # the viewer cannot paint; bad strokes are 404/422, never 500
    assert (
        http.post(
            "/workspaces/cells/annotations/scribbles/strokes", json=stroke, headers=api.h("victor")
        ).status_code
        == 403
    )
    bad = [
        ({**stroke, "label": "ghost"}, 404),
        ({**stroke, "points": [[400, 400, 400]]}, 422),
        ({**stroke, "points": []}, 422),
        ({**stroke, "radius": -1}, 422),
        ({**stroke, "radius": 1e9}, 422),
        ({**stroke, "plane": "q"}, 422),
        ({**stroke, "points": [[1, 2]]}, 422),
        ({**stroke, "extra": 1}, 422),
        ({"tool": "paint", "points": [[1, 2, 3]]}, 422),
        ({**stroke, "tool": "supervoxels"}, 422),
    ]
    for body, status in bad:
        r = http.post("/workspaces/cells/annotations/scribbles/strokes", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
    r = http.post("/workspaces/cells/annotations/raw/strokes", json=stroke, headers=h)
    assert r.status_code == 422


def test_malformed_and_oversized_payloads(api):
    http, h = api.http, api.h("ana")
    r = http.post(
        "/workspaces/cells/annotations/scribbles/strokes",
        content=b"{not json",
        headers={**h, "content-type": "application/json"},
    )
    assert r.status_code == 422
    big = {
        "label": "membrane",
        "points": [[1.0, 1.0, 1.0]] * 4096,
        "radius": 1,
        "pad": "x" * (9 * 2**20),
    }
    r = http.post("/workspaces/cells/annotations/scribbles/strokes", json=big, headers=h)
    assert r.status_code == 413
    assert "larger than" in r.json()["detail"]
    too_many = {"label": "membrane", "points": [[1.0, 1.0, 1.0]] * 5000, "radius": 1}
    assert (
        http.post(
            "/workspaces/cells/annotations/scribbles/strokes", json=too_many, headers=h
        ).status_code
        == 422
    )


def test_delete_workspace(api):
    api.create("scratch")
    h = api.h()
    assert api.http.get("/workspaces/scratch", headers=h).status_code == 200
    r = api.http.post("/workspaces", json={"name": "scratch", "image": "em.tif"}, headers=h)
    assert r.status_code == 409
    assert api.http.delete("/workspaces/scratch", headers=h).status_code == 204
    assert api.http.get("/workspaces/scratch", headers=h).status_code == 404
    assert not (api.root / "workspaces" / "scratch.vw").exists()
    assert api.http.delete("/workspaces/scratch", headers=h).status_code == 404


def test_chunk_cache_assembles_any_box_like_the_array(tmp_path):
    import zarr

    from voxelwise.server._cache import ChunkCache

    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, (13, 37, 29)).astype(np.uint16)
    arr = zarr.create_array(
        tmp_path / "a.zarr", shape=data.shape, chunks=(4, 8, 16), dtype=data.dtype
    )
    arr[:] = data
    cache = ChunkCache(1 << 20)
    for _ in range(50):
        lo = [int(rng.integers(0, s)) for s in data.shape]
        hi = [int(rng.integers(a + 1, s + 1)) for a, s in zip(lo, data.shape)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        np.testing.assert_array_equal(cache.read(arr, box, scope=("ws", "layers/a", 0)), data[box])
    assert 0 < cache.bytes <= 1 << 20
    small = ChunkCache(8 * 4 * 8 * 16 * 2)  # room for a few chunks: old ones are evicted
    np.testing.assert_array_equal(
        small.read(arr, (slice(0, 13), slice(0, 37), slice(0, 29)), scope=("w", "d", 0)), data
    )
    assert small.bytes <= small.max_bytes
