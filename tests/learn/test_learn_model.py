"""Model files (no pickle), applying models to other workspaces and volumes, and mismatches."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.data import synthetic_em
from voxelwise.errors import OutputExistsError
from voxelwise.filters import compute_features
from voxelwise.learn import (
    FeatureMismatchError,
    ModelFileError,
    apply_model,
    fit_voxels,
    latest_model,
    load_model,
    predict,
    train,
)
from voxelwise.supervoxels import compute_supervoxels
from voxelwise.workspace import Workspace

FEATURES = ["gaussian:sigma=1.0", "hessian_eigenvalues:sigma=1.6", "gradient_magnitude:sigma=2.0"]


def make_ws(path, rng=1):
    vol = synthetic_em((8, 40, 40), spacing=(3, 1, 1), rng=rng)
    ws = Workspace.create(path, vol.image, spacing=(3, 1, 1), chunks=(4, 20, 20))
    return ws, vol


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    ws, vol = make_ws(root / "a.vw")
    ws.add_label("cls", "cytoplasm", value=1)
    ws.add_label("cls", "membrane", value=2)
    ws.add_label("cls", "mito", value=3)
    truth = vol.labels.astype(np.uint16) + 1
    gen = np.random.default_rng(0)
    annotate.import_labels(
        ws, np.where(gen.random(truth.shape) < 0.03, truth, 0), name="s", label_set="cls"
    )
    names = compute_features(ws, FEATURES)
    compute_supervoxels(ws, size=4)
    return ws, vol, names, root


@pytest.mark.parametrize("classifier", ["rf", "hgb", "svm", "logistic", "extra_trees"])
@pytest.mark.parametrize("mode", ["voxel", "supervoxel"])
def test_save_load_round_trip(trained, classifier, mode):
    ws, _, names, root = trained
    params = {"n_estimators": 10} if classifier in ("rf", "extra_trees") else None
    path = root / f"{mode}-{classifier}.npz"
    model = train(
        ws,
        annotations="s",
        features=names,
        mode=mode,
        classifier=classifier,
        params=params,
        save=path,
    )
    assert model.training["model_file"] == str(path)
    assert latest_model(ws) == path
    again = load_model(path)
    assert again.metadata() | {"training": {}} == model.metadata() | {"training": {}}
    assert again.recipe == model.recipe and again.colors == model.colors
    x = np.random.default_rng(0).normal(size=(50, len(model.inputs))) * 100
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        model.save(path)
    with np.load(path, allow_pickle=False) as data:  # the file holds plain arrays only
        assert all(data[k].dtype != object for k in data.files)


def test_apply_to_another_workspace_and_volume(trained, tmp_path):
    ws, vol, names, _ = trained
    model = train(ws, annotations="s", features=names, params={"n_estimators": 15})
    path = model.save(tmp_path / "m")
    assert path.suffix == ".npz"
    predict(ws, model, name="here", overwrite=True, confidence=False)
    # A second workspace of the same image, without feature layers or the label set.
    other, _ = make_ws(tmp_path / "b.vw")
    out = predict(other, path, name="there")
    assert set(other.layers) == {"raw", *out.layers}  # features computed, not stored
    np.testing.assert_array_equal(other.get("there").compute(), ws.get("here").compute())
    assert other.layer("there").label_set == "cls"
    assert [lab.name for lab in other.label_set("cls")] == ["cytoplasm", "membrane", "mito"]
    # The whole volume as an array, chunk by chunk.
    probs = apply_model(path, vol.image, chunks=(3, 16, 24)).compute()
    np.testing.assert_allclose(probs[2], ws.get("here_p_mito").compute(), atol=1e-5)
    # A supervoxel model applied to a workspace without supervoxels computes them.
    sv_model = train(ws, annotations="s", features=names, mode="supervoxel")
    predict(other, sv_model, name="sv", probabilities=False, confidence=False)
    assert other.layer("supervoxels").params["size"] == 4.0
    with pytest.raises(FeatureMismatchError, match="need supervoxels"):
        apply_model(sv_model, vol.image)


def test_different_features_are_refused(trained, tmp_path):
    ws, vol, names, _ = trained
    model = train(ws, annotations="s", features=names, params={"n_estimators": 5})
    other, _ = make_ws(tmp_path / "c.vw")
    compute_features(other, ["gaussian:sigma=3.0,name=" + names[0]])  # same name, other sigma
    with pytest.raises(FeatureMismatchError, match="holds another feature"):
        predict(other, model, name="p")
    predict(other, model, name="p", features="compute")  # recomputes from the recipe
    plain = train(ws, annotations="s", features=["raw", names[1]], params={"n_estimators": 5})
    assert plain.recipe[0]["filter"] is None
    third, _ = make_ws(tmp_path / "d.vw")
    with pytest.raises(FeatureMismatchError, match="not a layer"):
        predict(third, model, name="p", features="layers")
    third.add_layer("raw2", third.get("raw"))
    array_model = fit_voxels({"raw2": vol.image, "x": vol.image}, ws.get("s"))
    with pytest.raises(FeatureMismatchError, match="lacks"):
        predict(third, array_model, name="p")
    with pytest.raises(FeatureMismatchError, match="trained on 2 features"):
        array_model.predictor.predict_proba(np.zeros((3, 5)))


def test_unsafe_or_damaged_files_are_refused(trained, tmp_path):
    ws, _, names, _ = trained
    model = train(ws, annotations="s", features=names, params={"n_estimators": 5})
    good = model.save(tmp_path / "good.npz")
    with pytest.raises(ModelFileError, match="No model file"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ModelFileError, match="not a readable model"):
        load_model(tmp_path / "text.npz")
    # An archive holding a pickled object array is refused without unpickling it.
    with np.load(good, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    evil = dict(arrays)
    evil["est.left"] = np.array([object()], dtype=object)
    np.savez(tmp_path / "evil.npz", **evil)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "evil.npz")
    meta = json.loads(bytes(arrays["meta"]).decode())
    for change, message in (
        ({"format": "something-else"}, "not a voxelwise shallow model"),
        ({"format_version": 99}, "newer than this voxelwise reads"),
        ({"classes": [1, 2]}, "damaged"),
    ):
        broken = dict(arrays)
        broken["meta"] = np.frombuffer(json.dumps({**meta, **change}).encode(), np.uint8)
        np.savez(tmp_path / "broken.npz", **broken)
        with pytest.raises(ModelFileError, match=message):
            load_model(tmp_path / "broken.npz")
    truncated = dict(arrays)
    truncated["est.left"] = arrays["est.left"][:-3]
    np.savez(tmp_path / "short.npz", **truncated)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "short.npz")
    with zipfile.ZipFile(tmp_path / "nometa.npz", "w") as z:
        z.writestr("x.npy", b"")
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "nometa.npz")
