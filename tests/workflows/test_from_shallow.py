"""Weak annotation: a U-Net trained on a shallow prediction's confident voxels
(:func:`voxelwise.workflows.deep_from_shallow`), recorded, registered and replayable."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # trains tiny networks (the first test also imports torch)

from voxelwise import annotate, learn  # noqa: E402
from voxelwise.data import synthetic_em  # noqa: E402
from voxelwise.errors import LayerExistsError, LayerNotFoundError  # noqa: E402
from voxelwise.models import list_models  # noqa: E402
from voxelwise.workflows import (  # noqa: E402
    TrainingLabelsError,
    deep_from_shallow,
    export_workflow,
    load_workflow,
    run_workflow,
    save_workflow,
    validate_workflow,
)
from voxelwise.workflows._scribbles import scribbles_from_truth  # noqa: E402
from voxelwise.workspace import InvalidLayerError, Workspace  # noqa: E402

SHAPE = (8, 32, 32)
SPACING = (2.0, 1.0, 1.0)
#: Tiny settings so a test trains in seconds; the library's default is TrainConfig().
TINY = {
    "patch_size": [16, 16],
    "network": {"width": 4, "depth": 2, "blocks": 1},
    "epochs": 1,
    "steps_per_epoch": 2,
    "batch_size": 2,
    "val_patches": 2,
}


def shallow_workspace(folder, rng: int = 0) -> Workspace:
    """A synthetic volume with scribbles, a voxel random forest and its prediction."""
    vol = synthetic_em(SHAPE, spacing=SPACING, rng=rng)
    truth = vol.labels.astype(np.uint16) + 1
    ws = Workspace.create(folder / "a.vw", vol.image, spacing=SPACING, chunks=(4, 16, 16))
    for value, name in enumerate(("cytoplasm", "membrane", "mitochondria"), start=1):
        ws.add_label("classes", name, value=value)
    strokes = scribbles_from_truth(truth, every=2, strokes=4, length=10, rng=rng)
    annotate.import_labels(ws, strokes, name="scribbles", label_set="classes")
    learn.train(
        ws,
        annotations="scribbles",
        features=["gaussian:sigma=1.0", "gaussian:sigma=2.0"],
        params={"n_estimators": 10},
        save=folder / "rf.npz",
    )
    learn.predict(ws, folder / "rf.npz", name="shallow", probabilities=False)
    return ws


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    """The workspace after one deep_from_shallow run, and its result."""
    folder = tmp_path_factory.mktemp("weak")
    ws = shallow_workspace(folder)
    out = deep_from_shallow(
        ws,
        "shallow",
        roi="0:6,:,:",
        min_confidence=0.5,
        config=TINY,
        max_minutes=1,
        out_layer="unet",
        rng=0,
    )
    return ws, out


def test_labels_layers_with_the_workspace_shape(weak):
    ws, out = weak
    assert (out.labels, out.confidence, out.training_labels) == (
        "unet",
        "unet_confidence",
        "unet_training",
    )
    info = ws.layer("unet")
    assert info.kind == "prediction" and info.shape == SHAPE and info.label_set == "classes"
    pred = np.asarray(ws.get("unet"))
    assert set(np.unique(pred)) <= {1, 2, 3} and pred.min() >= 1  # every voxel predicted
    conf = np.asarray(ws.get("unet_confidence"), dtype=np.float32)
    assert conf.shape == SHAPE and conf.min() > 0 and conf.max() <= 1.001


def test_training_labels_keep_only_confident_voxels_inside_the_roi(weak):
    ws, out = weak
    train = np.asarray(ws.get("unet_training"))
    shallow = np.asarray(ws.get("shallow"))
    conf = np.asarray(ws.get("shallow_confidence"), dtype=np.float32)
    assert not train[6:].any()  # outside the ROI: unlabelled
    expected = np.where(conf[:6] >= 0.5, shallow[:6], 0)
    np.testing.assert_array_equal(train[:6], expected)
    assert out.labelled == {int(v): int((expected == v).sum()) for v in np.unique(expected) if v}
    assert out.labelled_fraction == pytest.approx((expected > 0).mean())
    assert ws.layer("unet_training").label_set == "classes"


def test_model_is_registered_once_with_its_provenance(weak):
    ws, out = weak
    records = [m for m in list_models(ws) if m["kind"] == "deep"]  # sync adds no duplicate
    assert [m["name"] for m in records] == [out.model_name] == ["unet"]
    prov = records[0]["provenance"]
    assert prov["weak_annotation"]["prediction"] == "shallow"
    assert prov["weak_annotation"]["min_confidence"] == 0.5
    assert prov["roi"] == "0:6,0:32,0:32"
    assert prov["layers"] == ["raw", "unet_training"]
    assert out.model_file.is_file()


def test_step_is_recorded_and_exported(weak):
    ws, out = weak
    wf = export_workflow(ws)
    kinds = [s["step"] for s in wf["steps"]]
    assert kinds == ["features", "shallow_train", "shallow_predict", "deep_from_shallow"]
    step = wf["steps"][-1]
    assert step["id"] == out.step_id
    assert step["params"]["prediction"] == "shallow"
    assert step["params"]["min_confidence"] == 0.5
    assert step["params"]["rng"] == 0
    assert step["params"]["config"]["patch_size"] == [16, 16]
    assert step["outputs"] == ["unet_training", "unet", "unet_confidence"]
    assert step["model_file"] == str(out.model_file)


def test_replay_trains_again_from_the_replayed_shallow_prediction(weak, tmp_path):
    ws, _ = weak
    path = save_workflow(export_workflow(ws), tmp_path / "weak.yaml")
    vol = synthetic_em(SHAPE, spacing=SPACING, rng=1)
    truth = vol.labels.astype(np.uint16) + 1
    strokes = scribbles_from_truth(truth, every=2, strokes=4, length=10, rng=1)
    report = run_workflow(
        path,
        vol.image,
        workspace=tmp_path / "b.vw",
        inputs={"scribbles": strokes},
        results=tmp_path / "results",
    )
    outcome = report.outcome(load_workflow(path)["steps"][-1]["id"])
    assert outcome.status == "ran"
    new = Workspace.open(tmp_path / "b.vw")
    assert new.layer("unet").shape == SHAPE and "unet_training" in new
    assert [m["name"] for m in list_models(new) if m["kind"] == "deep"] == ["unet"]
    again = export_workflow(new)
    assert [s["step"] for s in again["steps"]][-1] == "deep_from_shallow"


def test_replay_with_train_never_applies_the_recorded_model(weak, tmp_path):
    ws, _ = weak
    wf = export_workflow(ws)
    vol = synthetic_em(SHAPE, spacing=SPACING, rng=2)
    report = run_workflow(
        wf, vol.image, workspace=tmp_path / "c.vw", results=tmp_path / "r", train="never"
    )
    assert [s.status for s in report.steps] == ["ran", "reused", "ran", "reused"]
    new = Workspace.open(tmp_path / "c.vw")
    assert "unet" in new and "unet_training" not in new


def test_predict_roi_leaves_the_rest_unlabelled(tmp_path):
    ws = shallow_workspace(tmp_path)
    out = deep_from_shallow(
        ws,
        "shallow",
        predict_roi="6:8,:,:",
        min_confidence=0.0,
        config=TINY,
        out_layer="part",
        results=tmp_path / "models",
        rng=np.random.default_rng(3),
    )
    pred = np.asarray(ws.get(out.labels))
    assert not pred[:6].any() and pred[6:].min() >= 1
    assert out.model_file.parent == tmp_path / "models"
    assert out.labelled_fraction == pytest.approx(1.0)
    with pytest.raises(LayerExistsError, match="overwrite"):
        deep_from_shallow(ws, "shallow", config=TINY, out_layer="part")


def test_bad_input_gives_clear_errors(weak):
    ws, _ = weak
    with pytest.raises(LayerNotFoundError, match="nope"):
        deep_from_shallow(ws, "nope", config=TINY, out_layer="x1")
    with pytest.raises(InvalidLayerError, match="label layer of a shallow prediction"):
        deep_from_shallow(ws, "shallow_confidence", config=TINY, out_layer="x2")
    with pytest.raises(TrainingLabelsError, match="no confidence layer 'scribbles_confidence'"):
        deep_from_shallow(ws, "scribbles", config=TINY, out_layer="x3")
    unsure = np.full(SHAPE, 0.4, np.float32)
    ws.add_layer("unsure", unsure, kind="confidence", overwrite=True)
    with pytest.raises(TrainingLabelsError, match=r"No voxel of 'shallow'.*lower min_confidence"):
        deep_from_shallow(ws, "shallow", confidence="unsure", config=TINY, out_layer="x4")
    one_class = np.where(np.asarray(ws.get("shallow")) == 1, 0.9, 0.1).astype(np.float32)
    ws.add_layer("one_class", one_class, kind="confidence", overwrite=True)
    with pytest.raises(TrainingLabelsError, match=r"Only label value 1 .*two classes"):
        deep_from_shallow(ws, "shallow", confidence="one_class", config=TINY, out_layer="x7")
    with pytest.raises(InvalidLayerError, match="maximum-probability layer"):
        deep_from_shallow(ws, "shallow", confidence="shallow", config=TINY, out_layer="x8")
    with pytest.raises(ValueError, match="min_confidence"):
        deep_from_shallow(ws, "shallow", min_confidence=1.5, config=TINY, out_layer="x5")
    with pytest.raises(ValueError, match="ROI"):
        deep_from_shallow(ws, "shallow", roi="0:99,:,:", config=TINY, out_layer="x6")
    assert not any(n.startswith("x") for n in ws.layers)  # nothing written


def test_a_workflow_may_name_the_confidence_layer_implicitly():
    wf = {
        "voxelwise_workflow": 1,
        "inputs": {"image": {}, "shallow": {"kind": "prediction"}},
        "steps": [{"step": "deep_from_shallow", "params": {"prediction": "shallow"}}],
    }
    with pytest.raises(Exception, match="'shallow_confidence'"):
        validate_workflow(wf)
    wf["inputs"]["shallow_confidence"] = {"kind": "feature"}
    step = validate_workflow(wf)["steps"][0]
    assert step["step"] == "deep_from_shallow"
