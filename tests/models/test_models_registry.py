"""The model registry with shallow models: listing, provenance, export/import, apply, pooling."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest

from voxelwise import learn, models
from voxelwise.errors import FormatNotSupportedError, OutputExistsError
from voxelwise.io import open_volume, write_volume
from voxelwise.workspace import LabelError, ModelNotFoundError, Workspace

FAST = {"n_estimators": 10}


def _workspace(path, seed, *, names=("cell", "background")):
    gen = np.random.default_rng(seed)
    image = (gen.random((8, 40, 40)) * 40).astype(np.float32)
    image[:, 8:24, 8:24] += 120  # a bright cell
    ws = Workspace.create(path, image, chunks=(4, 20, 20), spacing=(2, 1, 1))
    ws.add_label("tissue", names[0], color="#ff0000")
    ws.add_label("tissue", names[1])
    ann = np.zeros(image.shape, np.uint8)
    ann[2:5, 12:20, 12:20] = 1
    ann[2:5, 30:38, 30:38] = 2
    ws.add_layer("ann", ann, kind="annotation", label_set="tissue")
    return ws


@pytest.fixture
def two(tmp_path):
    return _workspace(tmp_path / "a.vw", 0), _workspace(tmp_path / "b.vw", 1)


def test_models_saved_by_training_runs_are_listed_once(two, tmp_path):
    ws, _ = two
    assert models.list_models(ws) == []
    learn.train(ws, annotations="ann", features=["raw"], save=tmp_path / "m.npz", params=FAST)
    (record,) = models.list_models(ws)
    assert record["kind"] == "shallow" and record["architecture"] == "rf/voxel"
    assert record["name"] == "m" and record["label_set"] == "tissue"
    assert [(c["value"], c["name"]) for c in record["classes"]] == [(1, "cell"), (2, "background")]
    assert record["provenance"]["workspaces"] == [str(ws.path)]
    assert record["provenance"]["run"]["step"] == "learn.train"
    assert record["provenance"]["annotations"] == "ann"
    assert record["provenance"]["samples_per_class"] == [192, 192]
    assert record["owned"] and record["available"]
    assert record["size"] == (ws.path / record["file"]).stat().st_size > 0
    json.dumps(record)  # JSON-able
    # a second listing adds nothing; a new run saving to the same path adds a new model
    assert len(models.list_models(ws)) == 1
    learn.train(ws, annotations="ann", features=["raw"], save=tmp_path / "m.npz", params=FAST)
    assert [r["name"] for r in models.list_models(ws)] == ["m", "m-2"]
    ws.delete_model("m-2")
    assert [r["name"] for r in models.list_models(ws)] == ["m"]  # deleting is permanent


def test_export_import_round_trip_and_apply_to_another_workspace(two, tmp_path):
    ws, other = two
    learn.train(ws, annotations="ann", features=["raw"], save=tmp_path / "m.npz", params=FAST)
    models.sync_models(ws)
    exported = models.export_model(ws, "m", tmp_path / "shared" / "cells")
    assert exported.name == "cells.npz"
    with pytest.raises(OutputExistsError):
        models.export_model(ws, "m", exported)
    record = models.import_model(other, exported)
    assert record["name"] == "cells" and record["sha256"] == ws.model("m").sha256
    assert record["provenance"]["workspace"] == str(ws.path)  # provenance travels in the file
    result = models.apply_model(other, "cells", name="seg")
    assert result["kind"] == "shallow" and result["layers"][0] == "seg"
    seg = np.asarray(other.get("seg"))
    assert seg[3, 16, 16] == 1 and seg[3, 34, 34] == 2
    assert other.layer("seg").label_set == "tissue"
    # a model registered in one workspace applied to another
    models.apply_model(other, "m", registry=ws, name="seg2")
    np.testing.assert_array_equal(other.get("seg2"), seg)


def test_apply_to_a_volume_file(two, tmp_path):
    ws, _ = two
    learn.train(ws, annotations="ann", features=["raw"], save=tmp_path / "m.npz", params=FAST)
    source = write_volume(ws.get("raw"), tmp_path / "vol.tif")
    result = models.apply_model(source, tmp_path / "m.npz", out=tmp_path / "seg.tif")
    labels = open_volume(result["out"]).data.compute()
    assert labels.shape == ws.shape and set(np.unique(labels)) == {1, 2}
    assert labels[3, 16, 16] == 1
    with pytest.raises(ValueError, match="out="):
        models.apply_model(source, tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match="list_models"):
        models.apply_model(ws, "nope")


def test_files_made_by_other_programs_are_refused(two, tmp_path):
    ws, _ = two
    foreign_npz = tmp_path / "weights.npz"
    np.savez(foreign_npz, w=np.zeros(3))
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    other_zip = tmp_path / "model.onnx"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("graph.bin", b"\x00\x01")
    for path, match in (
        (foreign_npz, "not a voxelwise"),
        (pickled, "not a zip archive"),
        (other_zip, "zip archive but not a voxelwise model"),
    ):
        with pytest.raises(FormatNotSupportedError, match=match):
            models.import_model(ws, path)
    assert ws.models == {}
    with pytest.raises(FileNotFoundError):
        models.import_model(ws, tmp_path / "missing.npz")


def test_pooled_shallow_model_from_two_workspaces(two, tmp_path):
    ws, other = two
    record = models.train_pooled(
        [(ws, "raw", "ann"), (other.path, "raw", "ann")],
        kind="shallow",
        features=["raw"],
        params=FAST,
    )
    assert record["name"] == "pooled-shallow" and record["kind"] == "shallow"
    assert record["provenance"]["workspaces"] == [str(ws.path), str(other.path)]
    assert [d["labels"] for d in record["provenance"]["training_data"]] == ["ann", "ann"]
    assert [c["name"] for c in record["classes"]] == ["cell", "background"]
    assert record["classes"][0]["color"] == [255, 0, 0, 255]
    counts = record["provenance"]["samples_per_class"]  # both workspaces' voxels, 80 % of them
    assert 0.7 * 384 < counts[0] < 0.9 * 384 and 0.7 * 384 < counts[1] < 0.9 * 384
    metrics = record["metrics"]  # scored on the held-out 20 %
    assert metrics["val_voxels"] == 768 - sum(counts)
    assert metrics["val_accuracy"] > 0.9 and metrics["val_miou"] > 0.8
    assert set(metrics["val_iou"]) == {"cell", "background"}
    assert [r["name"] for r in models.list_models(ws)] == ["pooled-shallow"]
    models.apply_model(other, "pooled-shallow", registry=ws, name="seg")
    assert other.get("seg")[3, 16, 16].compute() == 1
    assert ws.runs(step="models.train_pooled")[-1].params["model"] == "pooled-shallow"


def test_pooled_training_refuses_disagreeing_label_sets(tmp_path):
    ws = _workspace(tmp_path / "a.vw", 0)
    odd = _workspace(tmp_path / "b.vw", 1, names=("background", "cell"))
    with pytest.raises(LabelError, match="means"):
        models.train_pooled(
            [(ws, "raw", "ann"), (odd, "raw", "ann")], kind="shallow", features=["raw"]
        )
    with pytest.raises(TypeError, match="image layer, labels layer"):
        models.train_pooled([(ws, "raw")], kind="shallow", features=["raw"])
    with pytest.raises(ValueError, match="kind"):
        models.train_pooled([(ws, "raw", "ann")], kind="forest")
    with pytest.raises(ModelNotFoundError):
        models.export_model(ws, "nothing", tmp_path / "x")
