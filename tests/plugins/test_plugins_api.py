"""The example plugin's filter and classifier through the REST API (listed with their parameter
schemas, used by the feature and training jobs, the trained model in the registry) and through
the command line (``features --list``, ``shallow train --classifier --param --images``)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile

from voxelwise.cli._main import main
from voxelwise.workspace import Workspace

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

SHARPEN = "voxelwise_example_plugin.sharpen"
CENTROID = "voxelwise_example_plugin.centroid"


def _volume() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (12, 40, 40)).astype(np.float32)
    image[:, 10:30, 10:30] += 40
    scribbles = np.zeros(image.shape, np.uint16)
    scribbles[:, 2:6, 2:38] = 1
    scribbles[:, 15:25, 15:25] = 2
    return image, scribbles


@pytest.fixture
def server(example_plugin, tmp_path):
    """The app in-process (worker threads see the plugin), workspace 'p' with scribbles."""
    from fastapi.testclient import TestClient

    from voxelwise.server import add_user, create_app, open_db

    image, scribbles = _volume()
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "scribbles.tif", scribbles)
    token = add_user(open_db(tmp_path), "admin", admin=True)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(tmp_path, processes=False, n_workers=1)) as http:

        def run(path: str, body: dict) -> dict:
            r = http.post(path, json=body, headers=headers)
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                job = http.get(f"/jobs/{r.json()['id']}", headers=headers).json()
                if job["state"] not in ("queued", "running"):
                    assert job["state"] == "succeeded", job
                    return job
                time.sleep(0.05)
            raise TimeoutError(path)

        run("/workspaces", {"name": "p", "image": "img.tif", "chunks": [6, 20, 20]})
        body = {"path": "scribbles.tif", "name": "scribbles", "add_missing": True}
        run("/workspaces/p/annotations/import", body)
        yield http, headers, run, tmp_path


def test_plugin_filter_and_classifier_listed_with_schemas(server):
    http, headers, _, _ = server
    filters = {f["name"]: f for f in http.get("/registry/filters", headers=headers).json()}
    assert filters[SHARPEN]["plugin"] is True
    props = filters[SHARPEN]["schema"]["properties"]
    assert props["amount"] == {"type": "number", "default": 1.0}
    assert "sigma" in props and filters[SHARPEN]["summary"]
    found = http.get("/registry/classifiers", headers=headers).json()
    classifiers = {c["name"]: c for c in found}
    assert classifiers[CENTROID]["plugin"] is True
    assert classifiers[CENTROID]["schema"]["properties"]["temperature"]["default"] == 1.0
    listed = {p["name"]: p for p in http.get("/registry/plugins", headers=headers).json()}
    assert listed[SHARPEN]["status"] == "ok" and listed[CENTROID]["kind"] == "classifier"
    broken = [p for p in listed.values() if p["status"] == "broken"]
    assert broken and all(p["error"] for p in broken) and broken[0]["schema"] is None


def test_plugin_filter_and_classifier_used_by_jobs(server):
    http, headers, run, root = server
    job = run("/workspaces/p/features", {"features": [f"{SHARPEN}:amount=2", "gaussian:sigma=1"]})
    assert "sharpen_a2.0" in job["result"]["layers"]
    body = {
        "annotations": "scribbles",
        "features": ["sharpen_a2.0", "gaussian_s1.0"],
        "classifier": CENTROID,
        "params": {"temperature": 0.5},
        "model": "centroid",
    }
    run("/workspaces/p/shallow/train", body)
    run("/workspaces/p/shallow/predict", {"model": "centroid", "name": "seg"})
    seg = Workspace.open(root / "workspaces" / "p.vw").get("seg").compute()
    assert (seg[:, 15:25, 15:25] == 2).mean() > 0.9 and (seg[:, 2:6, 2:38] == 1).mean() > 0.9
    (model,) = [
        m
        for m in http.get("/workspaces/p/models", headers=headers).json()
        if m["name"] == "centroid"
    ]
    assert CENTROID in str(model["architecture"])
    assert model["provenance"]["classifier_params"]["temperature"] == 0.5
    # bad plugin parameters are refused before a job starts
    r = http.post(
        "/workspaces/p/features", json={"features": [f"{SHARPEN}:amount=x"]}, headers=headers
    )
    assert r.status_code == 422 and SHARPEN in r.json()["detail"]
    body["classifier"] = "voxelwise_example_plugin.nope"
    r = http.post("/workspaces/p/shallow/train", json=body, headers=headers)
    assert r.status_code == 422 and "voxelwise_example_plugin.nope" in r.json()["detail"]


def test_cli_features_list_and_plugin_classifier(example_plugin, tmp_path, capsys):
    assert main(["-q", "features", "unused", "--list"]) == 0
    listed = capsys.readouterr().out
    assert SHARPEN in listed and "gaussian" in listed
    image, scribbles = _volume()
    ws = Workspace.create(tmp_path / "ws.vw", image, chunks=(6, 20, 20))
    ws.add_layer("fluo", image[::-1].copy(), kind="image")
    ws.add_layer("scribbles", scribbles, kind="annotation")
    save = tmp_path / "m.npz"
    argv = ["-q", "shallow", "train", str(ws.path), "--annotations", "scribbles"]
    argv += ["--features", "gaussian:sigma=1", "--classifier", CENTROID]
    argv += ["--param", "temperature=0.5", "--images", "raw", "--images", "fluo"]
    argv += ["--save", str(save)]
    assert main(argv) == 0, capsys.readouterr().err
    assert CENTROID in capsys.readouterr().out
    from voxelwise import learn

    model = learn.load_model(save)
    assert model.classifier == CENTROID and model.params["temperature"] == 0.5
    assert {"gaussian_s1.0", "fluo.gaussian_s1.0"} <= set(model.features)
    bad = [*argv[:-2], "--save", str(tmp_path / "b.npz")]
    bad[bad.index("temperature=0.5")] = "temperature=hot"
    assert main(bad) == 2
    assert "temperature" in capsys.readouterr().err
    bad[bad.index(CENTROID)] = "voxelwise_example_plugin.nope"
    assert main(bad) == 2
    assert "voxelwise_example_plugin.nope" in capsys.readouterr().err
