"""Multimodal workspaces over the server: image layers added from files under the data root,
and shallow and deep models on several image layers as channels (``images=[...]``)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from voxelwise.workspace import Workspace

SHAPE = (16, 64, 64)  # the volumes of conftest.make_root


def post(api, path: str, body: dict, user: str = "ana"):
    return api.http.post(f"/workspaces/cells/{path}", json=body, headers=api.h(user))


def run(api, path: str, body: dict, user: str = "ana") -> dict:
    r = post(api, path, body, user)
    assert r.status_code == 202, (path, r.text)
    job = api.wait(r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    return job["result"]


def ws(api) -> Workspace:
    return Workspace.open(api.root / "workspaces" / "cells.vw")


@pytest.fixture(scope="module")
def fluo(api) -> np.ndarray:
    """A second modality marking class 3 of the ground truth (bright where it is), added as
    image layer 'fluo'; the ground truth imported as annotation layer 'truth' (values 1..3)."""
    truth = tifffile.imread(api.root / "labels.tif")
    rng = np.random.default_rng(3)
    image = ((truth == 3) * 150 + rng.normal(40, 8, truth.shape)).clip(0, 255).astype(np.uint8)
    tifffile.imwrite(api.root / "fluo.tif", image)
    tifffile.imwrite(api.root / "small.tif", image[:, :40, :])
    body = {"path": "labels.tif", "name": "truth", "label_set": "classes", "add_missing": True}
    run(api, "annotations/import", body)
    result = run(api, "images", {"name": "fluo", "path": "fluo.tif"})
    assert result["layer"] == "fluo" and result["shape"] == list(SHAPE)
    assert result["path"] == "fluo.tif" and result["resampled"] is False
    return image


def test_add_image_makes_an_image_layer(api, fluo):
    w = ws(api)
    info = w.layer("fluo")
    assert info.kind == "image" and info.levels >= 1
    np.testing.assert_array_equal(w.get("fluo").compute(), fluo)
    listed = api.http.get("/workspaces/cells/images", headers=api.h("victor")).json()
    assert [d["name"] for d in listed] == ["raw", "fluo"]
    assert listed[1]["source"]["path"] == "fluo.tif" and listed[1]["shape"] == list(SHAPE)
    assert not any(str(api.root) in str(d) for d in listed)  # server paths stay hidden
    for path in ("/workspaces/cells/layers/fluo", "/workspaces/cells/layers"):
        r = api.http.get(path, headers=api.h("victor"))
        assert r.status_code == 200 and str(api.root) not in r.text, r.text
    layer = api.http.get("/workspaces/cells/layers/fluo", headers=api.h("victor")).json()
    assert layer["params"]["file"] == "fluo.tif" and layer["params"]["resampled"] is False


def test_add_image_checks_at_once(api, fluo):
    r = post(api, "images", {"name": "fluo_small", "path": "small.tif"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "(16, 40, 64)" in detail and "(16, 64, 64)" in detail and "small.tif" in detail
    r = post(api, "images", {"name": "fluo", "path": "fluo.tif"})
    assert r.status_code == 409 and "overwrite" in r.json()["detail"]
    r = post(api, "images", {"name": "truth", "path": "fluo.tif", "overwrite": True})
    assert r.status_code == 409 and "annotation" in r.json()["detail"]
    r = post(api, "images", {"name": "raw", "path": "fluo.tif", "overwrite": True})
    assert r.status_code == 409
    r = post(api, "images", {"name": "x", "path": "missing.tif"})
    assert r.status_code == 404
    r = post(api, "images", {"name": "x", "path": "fluo.tif"}, user="victor")
    assert r.status_code == 403  # viewers may not add layers
    r = post(api, "images", {"name": "x", "path": "fluo.tif", "spacing": [2, 1, 1]})
    assert r.status_code == 422 and "resample" in r.json()["detail"]
    assert "x" not in ws(api) and "fluo_small" not in ws(api)


@pytest.mark.parametrize("path", ["../em.tif", "/etc/passwd", "~/x.tif", ".voxelwise/db"])
def test_add_image_refuses_paths_outside_the_root(api, fluo, path):
    r = post(api, "images", {"name": "escape", "path": path})
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "PathRefusedError" and "data root" in r.json()["detail"]


def test_add_image_resamples_on_request(api, fluo):
    coarse = fluo[:, ::2, ::2]
    tifffile.imwrite(api.root / "coarse.tif", coarse)
    body = {"name": "coarse", "path": "coarse.tif", "spacing": [1, 2, 2]}
    r = post(api, "images", body)
    assert r.status_code == 422 and "(1, 2, 2)" in r.json()["detail"]
    result = run(api, "images", {**body, "resample": True, "order": 0})
    assert result["resampled"] is True and result["shape"] == list(SHAPE)
    out = ws(api).get("coarse").compute()
    np.testing.assert_array_equal(out[:, ::2, ::2], coarse)  # nearest: source voxels kept
    r = api.http.delete("/workspaces/cells/layers/coarse", headers=api.h())
    assert r.status_code == 204
    tifffile.imwrite(api.root / "part.tif", coarse[:, :20])  # covers 40 of 64 voxels in y
    r = post(api, "images", {**body, "name": "part", "path": "part.tif", "resample": True})
    job = api.wait(r.json()["id"])
    assert job["state"] == "failed" and "same field of view" in job["error"], job
    assert str(api.root) not in job["error"] and "part.tif" in job["error"]
    assert "part" not in ws(api)


def test_images_must_name_image_layers(api, fluo):
    r = post(api, "deep/train", {"annotations": "truth", "images": ["raw", "nope"]})
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = post(api, "deep/train", {"annotations": "truth", "images": ["raw", "truth"]})
    assert r.status_code == 422 and "label" in r.json()["detail"]
    r = post(api, "deep/train", {"annotations": "truth", "images": ["raw", "raw"]})
    assert r.status_code == 422 and "twice" in r.json()["detail"]
    r = post(api, "deep/train", {"annotations": "truth", "images": []})
    assert r.status_code == 422
    r = post(api, "deep/predict", {"images": ["fluo", "nope"]})
    assert r.status_code == 404
    body = {"annotations": "truth", "features": "gaussian:sigma=1.0", "images": ["nope"]}
    r = post(api, "shallow/train", body)
    assert r.status_code == 404 and "nope" in r.json()["detail"]


@pytest.mark.slow
def test_shallow_training_on_two_channels(api, fluo):
    truth = tifffile.imread(api.root / "labels.tif")
    scores = {}
    for images in (["raw"], ["raw", "fluo"]):
        model = "sh_" + "_".join(images)
        body = {
            "annotations": "truth",
            "features": ["gaussian:sigma=1.0"],
            "images": images,
            "model": model,
            "max_per_class": 500,
        }
        result = run(api, "shallow/train", body)
        assert result["images"] == images
        run(api, "shallow/predict", {"model": model, "name": model, "overwrite": True})
        pred = ws(api).get(model).compute()
        inter = np.sum((pred == 3) & (truth == 3))
        scores[model] = inter / np.sum((pred == 3) | (truth == 3))
    features = ws(api).layers
    assert any(n.startswith("fluo.") for n in features)  # features of the second channel
    # class 3 shows in fluo only: IoU about 0.9 with both channels, about 0.16 with raw alone
    assert scores["sh_raw_fluo"] > 0.8, scores
    assert scores["sh_raw_fluo"] > scores["sh_raw"] + 0.3, scores


@pytest.mark.slow
def test_deep_training_on_two_channels(api, fluo):
    pytest.importorskip("torch")
    from voxelwise.deep import load_model

    config = {
        "arch": "unet2d",
        "network": {"depth": 2, "width": 4, "blocks": 1},
        "patch_size": [32, 32],
        "epochs": 1,
        "steps_per_epoch": 2,
        "batch_size": 2,
        "val_patches": 2,
    }
    body = {
        "annotations": "truth",
        "images": ["raw", "fluo"],
        "model": "two",
        "config": config,
        "device": "cpu",
    }
    result = run(api, "deep/train", body)
    assert result["model"] == "two" and result["images"] == ["raw", "fluo"]
    model = load_model(api.root / "workspaces" / "cells.vw" / "models" / "two" / "model.pt")
    assert model.channels == 2 and model.channel_names == ["raw", "fluo"]

    r = post(api, "deep/predict", {"model": "two", "images": ["raw"], "device": "cpu"})
    assert r.status_code == 422 and "2 input channel" in r.json()["detail"]

    result = run(api, "deep/predict", {"model": "two", "name": "dl2", "device": "cpu"})
    assert result["images"] == ["raw", "fluo"] and result["layers"][0] == "dl2"
    w = ws(api)
    info = w.layer("dl2")
    assert info.kind == "prediction" and info.label_set == "classes"
    assert list(info.sources) == ["raw", "fluo"] and info.shape == SHAPE
    assert set(np.unique(w.get("dl2").compute())) <= {1, 2, 3}

    body = {"model": "two", "name": "dl3", "images": ["fluo", "raw"], "device": "cpu"}
    result = run(api, "deep/predict", {**body, "outputs": ["labels"]})
    assert result["images"] == ["fluo", "raw"] and result["layers"] == ["dl3"]
