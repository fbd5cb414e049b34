"""The model registry through the API (architecture, classes, provenance, metrics; export,
import, delete), the filter and classifier listings with their parameter schemas, and recorded
workflows exported from one workspace and replayed on another as a job."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.workspace import Workspace


def _run(api, ws: str, path: str, body: dict, user: str = "ana") -> dict:
    r = api.http.post(f"/workspaces/{ws}/{path}", json=body, headers=api.h(user))
    assert r.status_code == 202, (path, r.text)
    job = api.wait(r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    return job


@pytest.fixture(scope="module")
def trained(api):
    """Workspace 'reg' with the truth imported, a gaussian feature, a shallow model 'm1' and
    its prediction; ana is annotator there, victor viewer."""
    api.create("reg", chunks=[8, 32, 32])
    for user, role in (("ana", "annotator"), ("victor", "viewer")):
        r = api.http.put(f"/workspaces/reg/members/{user}", json={"role": role}, headers=api.h())
        assert r.status_code == 200
    body = {"path": "labels.tif", "name": "truth", "label_set": "classes", "add_missing": True}
    _run(api, "reg", "annotations/import", body)
    body = {"annotations": "truth", "features": ["gaussian:sigma=1"], "model": "m1"}
    body["params"] = {"n_estimators": 20}
    _run(api, "reg", "shallow/train", body)
    _run(api, "reg", "shallow/predict", {"model": "m1", "name": "seg"})
    return "reg"


def test_models_listed_with_registry_fields(api, trained):
    models = api.http.get("/workspaces/reg/models", headers=api.h("victor")).json()
    assert api.http.get("/workspaces/reg/models", headers=api.h("nobody")).status_code == 403
    (m1,) = [m for m in models if m["name"] == "m1"]
    assert m1["kind"] == "shallow" and m1["architecture"].startswith("rf")
    assert [c["name"] for c in m1["classes"]] and m1["size"] > 0 and m1["available"]
    assert m1["created"] and m1["sha256"] and isinstance(m1["metrics"], dict)
    assert "truth" in m1["provenance"]["layers"]
    assert not m1["file"].startswith("/") and str(api.root) not in str(m1)  # no server paths
    one = api.http.get("/workspaces/reg/models/m1", headers=api.h("victor")).json()
    assert one["sha256"] == m1["sha256"]
    r = api.http.get("/workspaces/reg/models/nope", headers=api.h())
    assert r.status_code == 404 and "m1" in r.json()["detail"]


def test_model_export_import_delete(api, trained):
    r = api.http.post(
        "/workspaces/reg/models/m1/export", json={"path": "models/m1"}, headers=api.h("victor")
    )
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "exports/models/m1.npz"
    assert (api.root / "exports" / "models" / "m1.npz").is_file()
    r = api.http.post(
        "/workspaces/reg/models/m1/export", json={"path": "models/m1"}, headers=api.h("victor")
    )
    assert r.status_code == 409  # exists; overwrite not given
    r = api.http.post(
        "/workspaces/reg/models/m1/export", json={"path": "../m1"}, headers=api.h("victor")
    )
    assert r.status_code == 400
    body = {"path": "exports/models/m1.npz", "name": "copy"}
    r = api.http.post("/workspaces/cells/models/import", json=body, headers=api.h("ana"))
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "copy" and r.json()["kind"] == "shallow"
    r = api.http.post("/workspaces/cells/models/import", json=body, headers=api.h("victor"))
    assert r.status_code == 403
    r = api.http.post(
        "/workspaces/cells/models/import", json={"path": "em.tif"}, headers=api.h("ana")
    )
    assert r.status_code == 422  # not a voxelwise model file
    r = api.http.delete("/workspaces/cells/models/copy", headers=api.h("ana"))
    assert r.status_code == 403  # owners only
    assert api.http.delete("/workspaces/cells/models/copy", headers=api.h()).status_code == 204
    names = [m["name"] for m in api.http.get("/workspaces/cells/models", headers=api.h()).json()]
    assert "copy" not in names


def test_filters_and_classifiers_with_schemas(api):
    filters = {f["name"]: f for f in api.http.get("/registry/filters", headers=api.h()).json()}
    assert filters["gaussian"]["schema"]["properties"]["sigma"]["default"] == 1.0
    assert filters["hessian_eigenvalues"]["outputs"] == ["eig1", "eig2", "eig3"]
    assert not filters["gaussian"]["plugin"]
    found = api.http.get("/registry/classifiers", headers=api.h()).json()
    classifiers = {c["name"]: c for c in found}
    assert {"rf", "extra_trees", "hgb", "svm", "logistic"} <= set(classifiers)
    assert classifiers["rf"]["schema"]["properties"]["n_estimators"] == {
        "default": 100,
        "type": "integer",
    }
    assert api.http.get("/registry/plugins", headers=api.h()).status_code == 200
    assert api.http.get("/registry/filters").status_code == 401


def test_shallow_train_names_a_classifier(api, trained):
    body = {"annotations": "truth", "features": ["gaussian_s1.0"], "classifier": "random_forest"}
    body["model"] = "alias"
    job = _run(api, "reg", "shallow/train", body)
    assert job["params"]["classifier"] == "rf"
    body["classifier"] = "nope"
    r = api.http.post("/workspaces/reg/shallow/train", json=body, headers=api.h("ana"))
    assert r.status_code == 422 and "extra_trees" in r.json()["detail"]
    body["classifier"] = "some_package.missing"
    r = api.http.post("/workspaces/reg/shallow/train", json=body, headers=api.h("ana"))
    assert r.status_code == 422 and "some_package.missing" in r.json()["detail"]


@pytest.mark.slow
def test_workflow_exported_and_replayed_as_a_job(api, trained):
    wf = api.http.get("/workspaces/reg/workflow", headers=api.h("victor")).json()
    kinds = [s["step"] for s in wf["steps"]]
    assert kinds.index("shallow_train") < kinds.index("shallow_predict")
    train = next(s for s in wf["steps"] if s["step"] == "shallow_train")
    predict = next(s for s in wf["steps"] if s["step"] == "shallow_predict")
    assert train["model_file"] == "workspaces/reg.vw/models/m1.npz"  # relative to the root
    r = api.http.post("/workspaces/reg/workflow/validate", json={"workflow": wf}, headers=api.h())
    assert r.status_code == 200 and [s["step"] for s in r.json()["steps"]] == kinds

    api.create("replay", chunks=[8, 32, 32])
    # without the training input the recorded model is applied
    job = _run(api, "replay", "workflow/run", {"workflow": wf}, user="admin")
    steps = {s["id"]: s for s in job["result"]["steps"]}
    assert steps[train["id"]]["status"] == "reused"
    assert steps[predict["id"]]["status"] == "ran" and "seg" in job["result"]["layers"]
    done = Workspace.open(api.root / "workspaces" / "replay.vw")
    source = Workspace.open(api.root / "workspaces" / "reg.vw")
    np.testing.assert_array_equal(done.get("seg").compute(), source.get("seg").compute())
    assert [r.params["id"] for r in done.runs(step="workflow.step")] == [
        s["id"] for s in wf["steps"]
    ]
    # the job can be resubmitted (its parameters are validated again)
    body = {"params": {"overwrite": True}}
    r = api.http.post(f"/jobs/{job['id']}/resubmit", json=body, headers=api.h())
    assert r.status_code == 202, r.text
    assert api.wait(r.json()["id"], timeout=180)["state"] == "succeeded"
    # with it, the classifier is trained again on the new workspace, from YAML text
    import yaml

    body = {"workflow": yaml.safe_dump(wf), "inputs": {"truth": "labels.tif"}, "overwrite": True}
    job = _run(api, "replay", "workflow/run", body, user="admin")
    steps = {s["id"]: s for s in job["result"]["steps"]}
    assert steps[train["id"]]["status"] == "ran"
    assert (api.root / "workspaces" / "replay.vw" / "tables").is_dir()


def _post(api, ws: str, body: dict, user: str = "admin"):
    return api.http.post(f"/workspaces/{ws}/workflow/run", json=body, headers=api.h(user))


def test_bad_workflows_and_inputs(api, trained):
    wf = api.http.get("/workspaces/reg/workflow", headers=api.h()).json()
    r = _post(api, "cells", {"workflow": wf, "inputs": {"nope": "labels.tif"}})
    assert r.status_code == 422 and "truth" in r.json()["detail"]
    r = _post(api, "cells", {"workflow": wf, "inputs": {"truth": "missing.tif"}})
    assert r.status_code == 404
    r = _post(api, "cells", {"workflow": wf, "inputs": {"truth": "../labels.tif"}})
    assert r.status_code == 400
    r = _post(api, "cells", {"workflow": wf, "inputs": {"image": "em.tif"}})
    assert r.status_code == 422 and "POST /workspaces" in r.json()["detail"]
    outside = {**wf, "steps": [dict(s) for s in wf["steps"]]}
    next(s for s in outside["steps"] if s["step"] == "shallow_train")["model_file"] = "/etc/x.npz"
    assert _post(api, "cells", {"workflow": outside}).status_code == 400
    unknown = {**wf, "steps": [*wf["steps"], {"id": "x", "step": "nope", "params": {}}]}
    r = _post(api, "cells", {"workflow": unknown})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    layer = {**wf, "steps": [*wf["steps"]]}
    layer["steps"].append({"id": "m", "step": "metrics", "params": {"pred": "ghost", "truth": "x"}})
    r = _post(api, "cells", {"workflow": layer})
    assert r.status_code == 422 and "ghost" in r.json()["detail"]
    assert _post(api, "cells", {"workflow": "steps: [unclosed"}).status_code == 422
    assert _post(api, "cells", {"workflow": {"voxelwise_workflow": 1}}).status_code == 422
    assert _post(api, "cells", {"workflow": wf}, user="victor").status_code == 403
    r = api.http.get("/workspaces/cells/workflow", headers=api.h())
    assert r.status_code in (200, 409)


def test_apply_a_registered_model_to_another_workspace(api, trained):
    body = {"registry": "reg", "name": "applied"}
    r = api.http.post("/workspaces/cells/models/m1/apply", json=body, headers=api.h("ana"))
    assert r.status_code == 202, r.text
    job = api.wait(r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    assert job["result"]["kind"] == "shallow" and "applied" in job["result"]["layers"]
    applied = Workspace.open(api.root / "workspaces" / "cells.vw").get("applied").compute()
    seg = Workspace.open(api.root / "workspaces" / "reg.vw").get("seg").compute()
    np.testing.assert_array_equal(applied, seg)  # same volume, same model
    url = "/workspaces/cells/models/m1/apply"
    assert api.http.post(url, json=body, headers=api.h("ana")).status_code == 409  # exists
    assert api.http.post(url, json=body, headers=api.h("victor")).status_code == 403
    r = api.http.post(url, json={**body, "registry": "ghost"}, headers=api.h("ana"))
    assert r.status_code == 404
    r = api.http.post(url, json={"name": "x"}, headers=api.h("ana"))
    assert r.status_code == 404 and "m1" in r.json()["detail"]  # not in cells' registry
    r = api.http.post(url, json={**body, "image": "ghost", "name": "y"}, headers=api.h("ana"))
    assert r.status_code == 404
