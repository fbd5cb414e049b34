"""GET /files/preview (a downsampled slice of a file under the data root), PATCH
/workspaces/{ws}/layers/{layer}/display (display settings kept in the layer's metadata), and the
ensemble parameters of deep prediction."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile


def test_preview_middle_slice_and_downsampling(api):
    image = tifffile.imread(api.root / "em.tif")
    r = api.http.get("/files/preview", params={"path": "em.tif"}, headers=api.h("nobody"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shape"] == list(image.shape) and body["index"] == image.shape[0] // 2
    assert body["step"] == 1 and body["dtype"] == str(image.dtype)
    np.testing.assert_array_equal(np.array(body["image"]), image[image.shape[0] // 2])
    r = api.http.get(
        "/files/preview",
        params={"path": "em.tif", "axis": "x", "index": 5, "size": 16},
        headers=api.h(),
    )
    body = r.json()
    assert body["step"] == 4  # 64 voxels shown in at most 16
    np.testing.assert_array_equal(np.array(body["image"]), image[::4, ::4, 5])


def test_preview_float_nan_becomes_null(api):
    vol = np.zeros((3, 8, 8), np.float32)
    vol[1, 2, 3] = np.nan
    np.save(api.root / "nan.npy", vol)
    r = api.http.get("/files/preview", params={"path": "nan.npy"}, headers=api.h())
    assert r.status_code == 200, r.text
    assert r.json()["image"][2][3] is None and r.json()["image"][0][0] == 0.0


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"path": "../em.tif"}, 400, "'..' is not allowed"),
        ({"path": ".voxelwise/server.sqlite"}, 400, "state folder"),
        ({"path": "missing.tif"}, 404, "Nothing at"),
        ({"path": "workspaces"}, 422, "folder"),
        ({"path": "em.tif", "index": 99}, 422, "from 0 to 15"),
        ({"path": "em.tif", "size": 4}, 422, "size"),
    ],
)
def test_preview_refusals(api, params, status, words):
    r = api.http.get("/files/preview", params=params, headers=api.h())
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_display_settings_roles_merge_and_reset(api):
    url = "/workspaces/cells/layers/raw/display"
    r = api.http.patch(url, json={"opacity": 0.5}, headers=api.h("victor"))
    assert r.status_code == 403  # viewers cannot change the workspace
    r = api.http.patch(
        url, json={"colormap": "magma", "contrast_limits": [10, 200]}, headers=api.h("ana")
    )
    assert r.status_code == 200, r.text
    r = api.http.patch(url, json={"opacity": 0.5, "colormap": None}, headers=api.h("ana"))
    assert r.json()["display"] == {"contrast_limits": [10.0, 200.0], "opacity": 0.5}
    info = api.http.get("/workspaces/cells/layers/raw", headers=api.h("victor")).json()
    assert info["params"]["display"] == {"contrast_limits": [10.0, 200.0], "opacity": 0.5}
    assert info["params"]["source_shape"] == [16, 64, 64]  # the rest of params is kept
    for body in ({"contrast_limits": [5, 1]}, {"opacity": 2}, {"colormap": "a/b"}, {"x": 1}):
        assert api.http.patch(url, json=body, headers=api.h()).status_code == 422, body
    r = api.http.patch("/workspaces/cells/layers/nope/display", json={}, headers=api.h())
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "a", "ensemble": ["b"], "top_k": 3}, "top_k of at most 2"),
        ({"model": "a", "ensemble": ["a"]}, "distinct ensemble models"),
    ],
)
def test_ensemble_parameters_are_checked(api, body, words):
    r = api.http.post("/workspaces/cells/deep/predict", json=body, headers=api.h())
    assert r.status_code == 422, r.text
    assert words in r.text


def test_ensemble_member_missing_fails_the_job(api):
    r = api.http.post(
        "/workspaces/cells/deep/predict",
        json={"model": "nomodel", "ensemble": ["other"], "name": "ens", "device": "cpu"},
        headers=api.h(),
    )
    assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"])
    assert job["state"] == "failed" and "No deep model named 'nomodel'" in job["error"]
