"""Each library operation as a job: imports, exports, supervoxels, instances, measurements,
the splitter, volume fractions, object edits, metrics, and deep train/predict."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from voxelwise.workspace import Workspace


def run(api, path: str, body: dict, user: str = "ana") -> dict:
    r = api.http.post(f"/workspaces/cells/{path}", json=body, headers=api.h(user))
    assert r.status_code == 202, (path, r.text)
    job = api.wait(r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    return job["result"]


@pytest.fixture(scope="module")
def truth(api):
    """The ground truth imported as an annotation layer 'truth' (values 1..3, label set)."""
    body = {"path": "labels.tif", "name": "truth", "label_set": "classes", "add_missing": True}
    result = run(api, "annotations/import", body)
    assert result == {"layer": "truth"}
    return tifffile.imread(api.root / "labels.tif")


def ws(api) -> Workspace:
    return Workspace.open(api.root / "workspaces" / "cells.vw")


def test_import_and_export(api, truth):
    np.testing.assert_array_equal(ws(api).get("truth").compute(), truth)
    names = [
        lab["name"]
        for lab in api.http.get("/workspaces/cells/label-sets/classes", headers=api.h()).json()
    ]
    assert len(names) == 3
    r = api.http.post(
        "/workspaces/cells/layers/truth/export",
        json={"path": "out/truth.tif"},
        headers=api.h("ana"),
    )
    job = api.wait(r.json()["id"])
    assert job["state"] == "succeeded" and job["result"]["path"] == "exports/out/truth.tif"
    np.testing.assert_array_equal(
        tifffile.imread(api.root / "exports" / "out" / "truth.tif"), truth
    )
    r = api.http.post(
        "/workspaces/cells/layers/truth/export",
        json={"path": "out/truth.tif"},
        headers=api.h("ana"),
    )
    assert api.wait(r.json()["id"])["state"] == "failed"  # exists; overwrite not given


def test_instances_measure_split_fractions_edit_metrics(api, truth):
    result = run(api, "analysis/instances", {"source": "truth", "value": 3, "name": "mito"})
    assert result["layer"] == "mito"
    mito = ws(api).get("mito").compute()
    assert mito.max() >= 1 and set(np.unique(mito[truth != 3])) == {0}

    result = run(
        api, "analysis/measure", {"labels": "mito", "intensity": ["raw"], "table": "mito_table"}
    )
    assert result["table"] == "mito_table" and result["rows"] == int(mito.max())
    tables = api.http.get("/workspaces/cells/tables", headers=api.h("victor")).json()
    assert "mito_table" in [t["name"] for t in tables]
    table = api.http.get("/workspaces/cells/tables/mito_table", headers=api.h("victor")).json()
    assert table["rows"] == result["rows"] and "volume_voxels" in table["columns"]
    csv = api.http.get("/workspaces/cells/tables/mito_table/csv", headers=api.h("victor"))
    assert csv.headers["content-type"].startswith("text/csv") and "volume_voxels" in csv.text

    sizes = sorted(table["columns"]["volume_voxels"])
    cut = sizes[len(sizes) // 2]
    rules = {
        "rules": [{"class": "big", "measurement": "volume_voxels", "op": ">=", "value": cut}],
        "default": "small",
    }
    result = run(
        api, "analysis/split", {"table": "mito_table", "rules": rules, "name": "mito_classes"}
    )
    assert result["layer"] == "mito_classes"
    classes = ws(api).get("mito_classes").compute()
    assert set(np.unique(classes)) <= {0, 1, 2} and classes.max() >= 1
    bad = api.http.post(
        "/workspaces/cells/analysis/split",
        json={"table": "mito_table", "rules": {"rules": [{"klass": 1}]}},
        headers=api.h("ana"),
    )
    assert bad.status_code == 422 and "Unknown keys" in bad.json()["detail"]

    result = run(api, "analysis/fractions", {"classes": "truth", "table": "fractions"})
    assert result["rows"] >= 1

    first = int(np.unique(mito[mito > 0])[0])
    result = run(
        api, "analysis/edit-instances", {"layer": "mito", "delete": [first], "name": "mito_edited"}
    )
    assert not (ws(api).get("mito_edited").compute() == first).any()

    report = run(api, "analysis/metrics", {"pred": "truth", "truth": "truth"})["report"]
    assert report["mean_iou"] == pytest.approx(1.0)


def test_supervoxels_and_the_supervoxel_brush(api, truth):
    result = run(api, "supervoxels", {"size": 8, "name": "sv"})
    assert result["layer"] == "sv" and result["n_supervoxels"] > 1
    r = api.http.post(
        "/workspaces/cells/annotations",
        json={"name": "svmarks", "label_set": "classes"},
        headers=api.h("ana"),
    )
    assert r.status_code == 201
    stroke = {
        "tool": "supervoxels",
        "label": 1,
        "supervoxels": "sv",
        "points": [[8, 32, 32]],
        "radius": 0,
    }
    r = api.http.post(
        "/workspaces/cells/annotations/svmarks/strokes", json=stroke, headers=api.h("ana")
    )
    assert r.status_code == 200, r.text
    w = ws(api)
    sv = w.get("sv").compute()
    painted = w.get("svmarks").compute() == 1
    np.testing.assert_array_equal(painted, sv == sv[8, 32, 32])


@pytest.mark.slow
def test_deep_train_and_predict_jobs(api, truth):
    pytest.importorskip("torch")
    config = {
        "arch": "unet2d",
        "network": {"depth": 2, "width": 4, "blocks": 1},
        "patch_size": [32, 32],
        "epochs": 2,
        "steps_per_epoch": 2,
        "batch_size": 2,
        "val_patches": 2,
    }
    body = {"annotations": "truth", "model": "tiny", "config": config, "device": "cpu"}
    result = run(api, "deep/train", body)
    assert result["model"] == "tiny" and result["epochs"] == 2
    models = api.http.get("/workspaces/cells/models", headers=api.h()).json()
    assert any(m["name"] == "tiny" and m["kind"] == "deep" for m in models)
    r = api.http.post("/workspaces/cells/deep/train", json=body, headers=api.h("ana"))
    assert api.wait(r.json()["id"])["state"] == "failed"  # the model exists: overwrite not given
    result = run(api, "deep/predict", {"model": "tiny", "name": "dl", "device": "cpu"})
    assert result["layers"][0] == "dl"
    w = ws(api)
    assert w.layer("dl").kind == "prediction" and w.layer("dl").label_set == "classes"
    assert set(np.unique(w.get("dl").compute())) <= {1, 2, 3}
    assert "dl_confidence" in w and len([n for n in w.layers if n.startswith("dl_p_")]) == 3
