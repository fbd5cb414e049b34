"""Objects on a workspace: find, label (queue, session, skips), train, predict, CLI."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from voxelwise.analysis import Table
from voxelwise.cli import main
from voxelwise.errors import LayerExistsError, VoxelwiseWarning
from voxelwise.objects import (
    LabelSession,
    ObjectLabelsError,
    ObjectsError,
    ObjectTooSmallError,
    find_objects,
    label_objects,
    labels_from_layer,
    next_objects,
    object_labels,
    objects_table,
    predict_objects,
    preview_objects,
    skip_objects,
    train_objects,
    unlabel_objects,
)
from voxelwise.points import add_points
from voxelwise.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))  # the synthetic volume of the model tests
from test_objects_models import synthetic_objects


@pytest.fixture
def ws(tmp_path):
    """Balls (class 1) and rods (class 2) as a class layer with a label set."""
    image, labels, classes = synthetic_objects(1)
    value = {"ball": 1, "rod": 2}
    semantic = np.zeros(labels.shape, np.uint8)
    for k, name in classes.items():
        semantic[labels == k] = value[name]
    ws = Workspace.create(tmp_path / "o.vw", image, chunks=(8, 64, 64), spacing=(2, 1, 1))
    ws.add_label("shapes", "ball", value=1)
    ws.add_label("shapes", "rod", value=2)
    ws.add_layer("shapes", semantic, kind="labels", label_set="shapes")
    return ws


def test_find_objects_splits_each_class_into_instances(ws):
    info = find_objects(ws, "shapes", min_size=10)
    assert info.name == "shapes_objects"
    assert info.kind == "instances"
    assert info.params["n_objects"] == 32
    table = objects_table(ws, "shapes_objects")
    assert len(table) == 32
    assert "surface_area" in table
    assert "intensity_mean" in table
    cached = (ws.path / "objects" / "shapes_objects.table.csv").stat().st_mtime_ns
    objects_table(ws, "shapes_objects")
    assert (ws.path / "objects" / "shapes_objects.table.csv").stat().st_mtime_ns == cached
    with pytest.raises(ObjectsError, match="voxelwise objects find"):
        objects_table(ws, "raw")


def test_labelling_queue_is_random_reproducible_and_skips_seen_objects(ws):
    find_objects(ws, "shapes")
    layer = "shapes_objects"
    first = next_objects(ws, layer, n=5, rng=3)
    assert first == next_objects(ws, layer, n=5, rng=3)
    assert first != next_objects(ws, layer, n=5, rng=4)
    assert first != sorted(first)  # shuffled, not in id order
    summary = label_objects(ws, layer, {first[0]: "ball", str(first[1]): "rod"})
    assert summary == {"labelled": 2, "skipped": 0, "classes": {"ball": 1, "rod": 1}}
    skip_objects(ws, layer, [first[2]])
    assert next_objects(ws, layer, n=2, rng=3) == first[3:5]  # same order, seen ones left out
    assert object_labels(ws, layer) == {first[0]: "ball", first[1]: "rod"}
    assert object_labels(ws, layer, skipped=True)[first[2]] == ""
    unlabel_objects(ws, layer, [first[0], first[2]])
    assert next_objects(ws, layer, n=1, rng=3) == [first[0]]
    assert next_objects(ws, layer, ids=[7, 3, first[1]], n=5) == [7, 3]
    assert next_objects(ws, layer, n=100, min_size=10**6) == []
    with pytest.raises(ObjectsError, match="No object with id 999"):
        label_objects(ws, layer, {999: "ball"})
    with pytest.raises(ObjectLabelsError, match="Invalid class name"):
        label_objects(ws, layer, {1: "two words"})


def test_session_walks_the_queue(ws):
    find_objects(ws, "shapes")
    session = LabelSession(ws, "shapes_objects", rng=0)
    n = session.remaining
    a = session.next()
    session.label(a, "ball")
    b = session.next()
    assert b != a
    session.skip(b)
    assert session.remaining == n - 2
    assert session.labels == {a: "ball"}


def test_rewritten_layer_makes_stored_labels_warn(ws):
    find_objects(ws, "shapes")
    label_objects(ws, "shapes_objects", {1: "ball"})
    find_objects(ws, "shapes", overwrite=True)
    with pytest.warns(VoxelwiseWarning, match="earlier version"):
        object_labels(ws, "shapes_objects")


def test_forest_and_cnn_train_predict_and_record_runs(ws, tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    find_objects(ws, "shapes")
    layer = "shapes_objects"
    ids = next_objects(ws, layer, n=16, rng=0)
    truth = labels_from_layer(ws, layer, "shapes", ids)
    assert set(truth.values()) == {"ball", "rod"}
    label_objects(ws, layer, truth)

    forest = train_objects(ws, layer, method="forest", save=tmp_path / "f.npz")
    assert (tmp_path / "f.npz").is_file()
    info, table = predict_objects(ws, layer, tmp_path / "f.npz", out=tmp_path / "t.csv")
    assert info.name == "shapes_objects_classes"
    assert info.label_set == "shapes_objects_classes"
    assert [lab.name for lab in ws.label_set(info.label_set)] == forest.class_names
    all_truth = labels_from_layer(ws, layer, "shapes", table["id"].tolist())
    accuracy = np.mean([c == all_truth[int(i)] for i, c in zip(table["id"], table["class_name"])])
    assert accuracy >= 0.9
    assert Table.read(tmp_path / "t.csv")["labelled"].tolist().count("") == 16
    assert (ws.path / "objects" / "shapes_objects_classes.csv").is_file()
    classes = ws.get(info.name).compute()
    objects = ws.get(layer).compute()
    first = int(table["id"][0])
    assert (classes[objects == first] == table["class"][0]).all()
    assert (classes[objects == 0] == 0).all()
    with pytest.raises(LayerExistsError):
        predict_objects(ws, layer, forest)

    cnn = train_objects(ws, layer, method="cnn", epochs=10, device="cpu", save=tmp_path / "c.pt")
    _, table2 = predict_objects(ws, layer, cnn, name="cnn_classes")
    accuracy2 = np.mean(
        [c == all_truth[int(i)] for i, c in zip(table2["id"], table2["class_name"])]
    )
    assert accuracy2 >= 0.85
    steps = [r.step for r in ws.runs()]
    assert steps.count("objects.train") == 2
    assert steps.count("objects.predict") == 2

    # the CNN's embedding describes patches at points (voxelwise points cluster --model)
    objs = objects_table(ws, layer)
    centres = [
        {"z": float(z), "y": float(y), "x": float(x), "class": 1}
        for z, y, x in zip(objs["centroid_z"], objs["centroid_y"], objs["centroid_x"])
    ]
    add_points(ws, "centres", centres)
    code = main(
        [
            "-q",
            "points",
            "cluster",
            str(ws.path),
            "centres",
            "--model",
            str(tmp_path / "c.pt"),
            "--min-cluster-size",
            "5",
            "--out",
            str(tmp_path / "k.csv"),
        ]
    )
    assert code == 0
    clusters = Table.read(tmp_path / "k.csv")
    kinds = [all_truth[int(i)] for i in objs["id"]]
    assert adjusted_rand_score(kinds, clusters["cluster"]) >= 0.3  # 0.50 here: a disc, not the mask


def test_training_without_labels_is_explained(ws):
    find_objects(ws, "shapes")
    with pytest.raises(ObjectLabelsError, match="No labelled objects"):
        train_objects(ws, "shapes_objects", method="forest")
    with pytest.raises(ObjectsError, match="method"):
        train_objects(ws, "shapes_objects", method="svm")
    pytest.importorskip("torch")
    label_objects(ws, "shapes_objects", {1: "ball", 2: "rod"})
    with pytest.raises(ObjectTooSmallError, match="fewer than min_size=100000"):
        train_objects(ws, "shapes_objects", min_size=100_000, device="cpu")
    with pytest.raises(ObjectTooSmallError, match="too small for the networks"):
        train_objects(ws, "shapes_objects", size=5, device="cpu")


def test_preview(ws, tmp_path):
    find_objects(ws, "shapes")
    path = preview_objects(ws, "shapes_objects", [1, 2, 3], tmp_path / "p.png")
    assert path.stat().st_size > 0


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["-q", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_find_label_train_predict(ws, capsys, tmp_path, monkeypatch):
    w = str(ws.path)
    code, out, err = run(capsys, "objects", "find", w, "shapes", "--value", "1,2")
    assert code == 0, err
    assert "32 objects" in out
    layer = "shapes_objects"
    code, out, err = run(
        capsys, "objects", "label", w, layer, "--next", "3", "--preview", str(tmp_path / "n.png")
    )
    assert code == 0, err
    listed = [int(line.split()[0]) for line in out.splitlines() if line.startswith("   ")]
    assert len(listed) == 3
    assert (tmp_path / "n.png").is_file()
    truth = labels_from_layer(ws, layer, "shapes", list(range(1, 33)))
    sets = [arg for i in range(1, 21) for arg in ("--set", f"{i}={truth[i]}")]
    code, out, err = run(capsys, "objects", "label", w, layer, *sets)
    assert code == 0, err
    assert "20 labelled" in out
    code, out, err = run(capsys, "objects", "label", w, layer, "--set", "oops")
    assert code == 2
    assert "ID=CLASS" in err
    # interactive: label one, skip one, quit
    monkeypatch.setattr("sys.stdin", io.StringIO("rod\n\nq\n"))
    code, out, err = run(capsys, "objects", "label", w, layer, "--interactive")
    assert code == 0, err
    assert "21 labelled" in run(capsys, "objects", "label", w, layer, "--unlabel", "999")[1]
    model = tmp_path / "m.npz"
    code, out, err = run(
        capsys, "objects", "train", w, layer, "--method", "forest", "--out", str(model)
    )
    assert code == 0, err
    assert "trained a forest on 21 objects" in out
    code, out, err = run(
        capsys, "objects", "predict", w, layer, str(model), "--out", str(tmp_path / "t.parquet")
    )
    assert code == 0, err
    assert "32 objects" in out
    assert Table.read(tmp_path / "t.parquet")["confidence"].size == 32
    code, out, err = run(capsys, "objects", "predict", w, layer, str(tmp_path / "none.npz"))
    assert code == 2
    assert "No object model" in err
