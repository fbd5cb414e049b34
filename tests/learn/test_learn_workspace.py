"""Training and prediction on a workspace: modes, classifiers, outputs, refinement, hierarchy."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.data import synthetic_em
from voxelwise.errors import LayerExistsError
from voxelwise.filters import compute_features
from voxelwise.learn import (
    CLASSIFIERS,
    FeatureMismatchError,
    LearnError,
    Trainer,
    TrainingDataError,
    predict,
    train,
)
from voxelwise.supervoxels import compute_supervoxels
from voxelwise.workspace import Workspace

CYTO, MEMBRANE, MITO = 1, 2, 3
SMALL = ["gaussian:sigma=1.0", "gradient_magnitude:sigma=1.0", "hessian_eigenvalues:sigma=1.6"]
FAST = {"n_estimators": 20}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    vol = synthetic_em((8, 48, 48), spacing=(3, 1, 1), rng=1)
    ws = Workspace.create(
        tmp_path_factory.mktemp("learn") / "ws.vw", vol.image, spacing=(3, 1, 1), chunks=(4, 24, 24)
    )
    ws.add_label("cls", "cytoplasm", value=CYTO)
    ws.add_label("cls", "membrane", value=MEMBRANE)
    ws.add_label("cls", "mito", value=MITO)
    truth = vol.labels.astype(np.uint16) + 1
    gen = np.random.default_rng(0)
    scribbles = np.where(gen.random(truth.shape) < 0.03, truth, 0).astype(np.uint16)
    annotate.import_labels(ws, scribbles, name="scribbles", label_set="cls")
    names = compute_features(ws, SMALL)
    compute_supervoxels(ws, size=4)
    return ws, truth, names


def accuracy(ws, layer, truth):
    return float((ws.get(layer).compute() == truth).mean())


def test_voxel_mode_outputs(setup):
    ws, truth, names = setup
    model = train(ws, annotations="scribbles", features=names, params=FAST)
    assert model.mode == "voxel" and model.classes == (CYTO, MEMBRANE, MITO)
    assert model.class_names == ("cytoplasm", "membrane", "mito") and model.label_set == "cls"
    assert [e["filter"] for e in model.recipe][:2] == ["gaussian", "gradient_magnitude"]
    out = predict(ws, model, name="pv", overwrite=True)
    assert out.labels == "pv" and list(out.probabilities) == list(model.class_names)
    info = ws.layer("pv")
    assert info.kind == "prediction" and info.label_set == "cls"
    assert ws.layer(out.probabilities["mito"]).kind == "probabilities"
    assert ws.layer(out.confidence).kind == "confidence"
    probs = np.stack([ws.get(n).compute() for n in out.probabilities.values()])
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(ws.get(out.confidence).compute(), probs.max(axis=0), atol=1e-6)
    entropy = ws.get(out.entropy).compute()
    assert entropy.min() >= 0 and entropy.max() <= 1
    labels = ws.get("pv").compute()
    np.testing.assert_array_equal(labels, np.asarray(model.classes)[probs.argmax(axis=0)])
    assert (labels == truth).mean() > 0.85
    runs = ws.runs(step="learn.predict")
    assert runs[-1].outputs[0] == "pv" and "scribbles" in ws.runs(step="learn.train")[-1].inputs
    with pytest.raises(LayerExistsError, match="overwrite=True"):
        predict(ws, model, name="pv")


@pytest.mark.parametrize("mode", ["voxel", "supervoxel"])
@pytest.mark.parametrize("classifier", list(CLASSIFIERS))
def test_every_classifier_and_mode(setup, mode, classifier):
    ws, truth, names = setup
    params = FAST if classifier in ("rf", "extra_trees") else None
    model = train(
        ws,
        annotations="scribbles",
        features=names,
        mode=mode,
        classifier=classifier,
        params=params,
    )
    assert model.classifier == classifier and model.mode == mode
    predict(ws, model, name="p", overwrite=True, probabilities=False, confidence=False)
    floor = {"voxel": 0.8, "supervoxel": 0.7}[mode]
    assert accuracy(ws, "p", truth) > floor


def test_supervoxel_mode_and_refinement(setup):
    ws, _truth, names = setup
    trainer = Trainer(ws, names, mode="supervoxel", statistics=("mean", "std", "min", "max"))
    model = trainer.train("scribbles", params=FAST)
    assert len(model.inputs) == 4 * len(names) and model.supervoxels["layer"] == "supervoxels"
    assert model.training["annotated_supervoxels"] > 0
    trainer.predict(model, name="ps", overwrite=True)
    plain = ws.get("ps").compute()
    sv = ws.get("supervoxels").compute()
    for i in np.unique(sv)[:50]:  # one label per supervoxel
        assert np.unique(plain[sv == i]).size == 1
    out = trainer.predict(model, name="psr", refine=True, smoothness=2.0, overwrite=True)
    assert out.refined and ws.layer("psr").params["refine"] is True
    refined = ws.get("psr").compute()

    def boundary(lab):
        return sum(int((np.diff(lab, axis=a) != 0).sum()) for a in range(3))

    assert boundary(refined) < boundary(plain)
    # The plain function gives the same as the trainer (which reuses its table).
    predict(ws, model, name="ps2", overwrite=True, probabilities=False, confidence=False)
    np.testing.assert_array_equal(ws.get("ps2").compute(), plain)


def test_voxel_refinement_small_volume(setup):
    ws, truth, names = setup
    model = train(ws, annotations="scribbles", features=names, params=FAST)
    predict(ws, model, name="pv0", overwrite=True, confidence=False)
    predict(ws, model, name="pvr", refine=True, smoothness=1.0, overwrite=True, confidence=False)
    plain, refined = ws.get("pv0").compute(), ws.get("pvr").compute()
    assert (plain != refined).any()
    assert (refined == truth).mean() >= (plain == truth).mean() - 0.01
    with pytest.raises(LearnError, match="max_voxels"):
        predict(ws, model, name="pvr", refine=True, overwrite=True, max_voxels=1000)


def test_retraining_reads_only_new_strokes(setup):
    ws, _truth, names = setup
    scribbles = ws.get("scribbles").compute()
    sparse = np.where(np.arange(scribbles.size).reshape(scribbles.shape) % 3 == 0, scribbles, 0)
    annotate.import_labels(ws, sparse, name="strokes", label_set="cls", overwrite=True)
    trainer = Trainer(ws, names)
    first = trainer.train("strokes", params=FAST)
    assert first.training["voxels_read"] == int((sparse > 0).sum())
    annotate.paint(ws, "strokes", "mito", center=(4, 10, 10), radius=2)
    second = trainer.train("strokes", params=FAST)
    new = int((ws.get("strokes").compute() > 0).sum()) - int((sparse > 0).sum())
    assert 0 < second.training["voxels_read"] <= new
    assert sum(second.training["samples_per_class"]) > sum(first.training["samples_per_class"])
    capped = trainer.train("strokes", params=FAST, max_per_class=10)
    assert capped.training["samples_per_class"] == [10, 10, 10]
    assert capped.training["voxels_read"] == 0  # all sampled voxels were read before


def test_features_computed_on_the_fly_match_stored(setup):
    ws, _truth, names = setup
    stored = train(ws, annotations="scribbles", features=names, params=FAST)
    lazy = train(ws, annotations="scribbles", features=SMALL, params=FAST, store_features=False)
    assert lazy.features == stored.features
    predict(ws, stored, name="a", overwrite=True, confidence=False)
    predict(ws, stored, name="b", overwrite=True, confidence=False, features="compute")
    for n in ("a_p_mito", "a_p_membrane"):
        np.testing.assert_allclose(
            ws.get(n).compute(), ws.get(n.replace("a_", "b_", 1)).compute(), atol=1e-5
        )
    before = set(ws.layers)
    train(
        ws,
        annotations="scribbles",
        features=["laplacian_of_gaussian:sigma=2.0"],
        store_features=False,
    )
    assert set(ws.layers) == before  # nothing stored


def test_hierarchy_predicts_children_inside_parent(setup):
    ws, truth, names = setup
    ws.add_label("tree", "membrane", value=1)
    ws.add_label("tree", "cell", value=2)
    ws.add_label("tree", "cytoplasm", value=3, parent="cell")
    ws.add_label("tree", "mito", value=4, parent="cell")
    to_tree = np.array([0, 3, 1, 4], np.uint16)  # cls values -> tree values
    scribbles = to_tree[ws.get("scribbles").compute()]
    annotate.import_labels(ws, scribbles, name="tree_scribbles", label_set="tree")
    top = train(ws, annotations="tree_scribbles", features=names, params=FAST)
    assert top.classes == (1, 2) and top.class_names == ("membrane", "cell")
    predict(ws, top, name="level1", overwrite=True, probabilities=False, confidence=False)
    level1 = ws.get("level1").compute()
    child = train(ws, annotations="tree_scribbles", features=names, parent="cell", params=FAST)
    assert child.classes == (3, 4) and child.parent["name"] == "cell"
    assert child.parent["region"] == [2, 3, 4]
    with pytest.raises(LearnError, match="parent_layer"):
        predict(ws, child, name="level2", overwrite=True)
    with pytest.raises(LearnError, match="hierarchical models"):
        predict(ws, top, name="level2", parent_layer="level1", overwrite=True)
    out = predict(ws, child, name="level2", parent_layer="level1", overwrite=True)
    level2 = ws.get("level2").compute()
    inside = level1 == 2
    assert set(np.unique(level2[inside]).tolist()) <= {3, 4}
    np.testing.assert_array_equal(level2[~inside], level1[~inside])
    mito_p = ws.get(out.probabilities["mito"]).compute()
    assert (mito_p[~inside] == 0).all()
    true_tree = to_tree[truth]
    good = inside & (true_tree >= 3)
    assert (level2[good] == true_tree[good]).mean() > 0.8
    sv_child = train(
        ws, annotations="tree_scribbles", features=names, parent="cell", mode="supervoxel"
    )
    predict(ws, sv_child, name="level2sv", parent_layer="level1", refine=True, overwrite=True)
    level2sv = ws.get("level2sv").compute()
    np.testing.assert_array_equal(level2sv[~inside], level1[~inside])
    assert set(np.unique(level2sv[inside]).tolist()) <= {3, 4}


def test_bad_input(setup):
    ws, _truth, names = setup
    annotate.create_layer(ws, "empty", label_set="cls", overwrite=True)
    with pytest.raises(TrainingDataError, match="no annotated voxels"):
        train(ws, annotations="empty", features=names)
    annotate.paint(ws, "empty", "mito", center=(4, 20, 20), radius=3)
    with pytest.raises(TrainingDataError, match="at least two classes"):
        train(ws, annotations="empty", features=names)
    with pytest.raises(FeatureMismatchError, match="neither a layer"):
        train(ws, annotations="scribbles", features=["no_such_layer"])
    with pytest.raises(FeatureMismatchError, match="label values, not a feature"):
        train(ws, annotations="scribbles", features=["supervoxels"])
    with pytest.raises(FeatureMismatchError, match="compute_supervoxels"):
        train(ws, annotations="scribbles", features=names, mode="supervoxel", supervoxels="nope")
    with pytest.raises(LearnError, match="annotation layer"):
        train(ws, annotations=names[0], features=names)
    with pytest.raises(LearnError, match="mode"):
        train(ws, annotations="scribbles", features=names, mode="pixel")
    with pytest.raises(LearnError, match="children"):
        train(ws, annotations="scribbles", features=names, parent="mito")
