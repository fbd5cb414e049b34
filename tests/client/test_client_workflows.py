"""Workflows and the registries through the Python client against a real server: export the
steps recorded in one workspace, replay them on another as a job, list models with their
metrics, filters and classifiers with their schemas."""

from __future__ import annotations

import pytest
import yaml

from voxelwise.client import ServerError

pytestmark = pytest.mark.slow  # a real server; each job runs on its worker process


@pytest.fixture(scope="module")
def source(server):
    """Workspace 'wf_a': truth imported, a shallow model trained and applied through jobs."""
    from voxelwise.client import Client

    with Client(server.url, server.token) as c:
        c.create_workspace("wf_a", "em.tif", chunks=[8, 32, 32]).wait(timeout=120)
        c.import_labels("wf_a", "truth.tif", "truth", add_missing=True).wait(timeout=120)
        features = ["gaussian:sigma=1"]
        job = c.train(
            "wf_a", annotations="truth", features=features, model="m", params={"n_estimators": 10}
        )
        job.wait(timeout=180)
        c.predict("wf_a", model="m", name="seg").wait(timeout=180)
    return "wf_a"


def test_export_and_replay_as_a_server_job(client, source, tmp_path):
    wf = client.export_workflow(source)
    assert [s["step"] for s in wf["steps"]][-2:] == ["shallow_train", "shallow_predict"]
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(wf))
    checked = client.validate_workflow(source, path)
    assert [s["id"] for s in checked["steps"]] == [s["id"] for s in wf["steps"]]
    client.create_workspace("wf_b", "em.tif", chunks=[8, 32, 32]).wait(timeout=120)
    seen: list[float] = []
    job = client.run_workflow("wf_b", path, train="never")
    result = job.wait(timeout=240, progress=lambda f, m: seen.append(f))
    statuses = {s["step"]: s["status"] for s in result["steps"]}
    assert statuses == {"features": "ran", "shallow_train": "reused", "shallow_predict": "ran"}
    assert "seg" in result["layers"] and seen and seen[-1] == 1.0
    a = client.get(source, "seg").compute()
    b = client.get("wf_b", "seg").compute()
    assert (a == b).all()
    # the training input given: trained again on the new workspace
    job = client.run_workflow("wf_b", wf, inputs={"truth": "truth.tif"}, overwrite=True)
    result = job.wait(timeout=240)
    assert {s["step"]: s["status"] for s in result["steps"]}["shallow_train"] == "ran"


def test_bad_replays_are_refused(client, source):
    wf = client.export_workflow(source)
    with pytest.raises(ServerError, match="truth") as e:
        client.run_workflow(source, wf, inputs={"nope": "truth.tif"})
    assert e.value.status == 422
    with pytest.raises(ServerError) as e:
        client.run_workflow(source, wf, inputs={"truth": "/etc/passwd"})
    assert e.value.status == 400
    ghost = {"id": "x", "step": "metrics", "params": {"pred": "ghost", "truth": "truth"}}
    broken = {**wf, "steps": [*wf["steps"], ghost]}
    with pytest.raises(ServerError, match="ghost"):
        client.validate_workflow(source, broken)


def test_registries(client, source):
    models = client.models(source)
    (m,) = [m for m in models if m["name"] == "m"]
    assert m["kind"] == "shallow" and m["classes"] and "metrics" in m and m["size"] > 0
    assert client.model_info(source, "m")["sha256"] == m["sha256"]
    path = client.export_model(source, "m", "client/m")
    assert path == "exports/client/m.npz"
    record = client.import_model("cells", path, name="from_wf_a")
    assert record["name"] == "from_wf_a" and record["architecture"] == m["architecture"]
    applied = client.apply_model("cells", "m", registry=source, name="by_m").wait(timeout=180)
    assert applied["layers"][0] == "by_m" and "by_m" in client.layers("cells")
    client.delete_model("cells", "from_wf_a")
    assert "from_wf_a" not in [x["name"] for x in client.models("cells")]
    names = {f["name"] for f in client.list_filters()}
    assert {"gaussian", "tv_denoise"} <= names
    assert "rf" in {c["name"] for c in client.list_classifiers()}
    assert isinstance(client.list_plugins(), list)


def test_cli_run_on_a_server(server, client, source, tmp_path, capsys, monkeypatch):
    from voxelwise.cli import main

    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(client.export_workflow(source)))
    argv = ["-q", "run", str(path), "--server", server.url, "--workspace", "wf_cli"]
    assert main([*argv, "--image", "em.tif"]) == 2  # no token
    assert "VOXELWISE_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("VOXELWISE_TOKEN", server.token)
    assert main([*argv, "--image", "em.tif", "--input", "truth=truth.tif"]) == 0
    printed = capsys.readouterr().out
    assert "wf_cli" in printed and "shallow_train" in printed and "ran" in printed
    assert "seg" in client.layers("wf_cli")
    assert main([*argv, "--no-train", "--overwrite"]) == 0
    assert "reused" in capsys.readouterr().out
    assert main([*argv, "--input", "truth=../x.tif"]) == 2
    assert "truth" in capsys.readouterr().err
