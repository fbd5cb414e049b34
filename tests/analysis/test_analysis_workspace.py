"""Analysis on a workspace: instance layers, tables, splitter layers, edits, runs recorded."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.analysis import (
    Rule,
    RuleError,
    SplitRules,
    Table,
    TableError,
    analyze_layer,
    edit_instances,
    find_instances,
    layer_metrics,
    layer_volume_fractions,
    split_layer,
)
from voxelwise.errors import LayerExistsError, LayerNotFoundError
from voxelwise.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    shape = (8, 48, 40)
    image = np.full(shape, 50, np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[1:7, 4:20, 4:20] = 1  # big block, 1536 voxels
    mask[3:5, 8:12, 8:12] = 0  # a cavity inside it
    mask[2:4, 30:33, 5:8] = 1  # small, 18 voxels
    mask[2:6, 30:40, 25:35] = 1  # medium, 400 voxels
    mask[7, 46, 38] = 1  # a single voxel
    image[mask > 0] = 200
    ws = Workspace.create(tmp_path / "a.vw", image, chunks=(4, 16, 16), spacing=(40, 5, 5))
    ws.add_layer("mito", mask, kind="labels")
    return ws


def test_instances_measure_split_round_trip(ws, tmp_path):
    info = find_instances(ws, "mito", fill=True, min_size=2)
    assert info.name == "mito_instances" and info.kind == "instances"
    assert info.params["n_objects"] == 3
    labels = ws.get("mito_instances").compute()
    assert labels[4, 10, 10] != 0  # the cavity was filled
    assert labels[7, 46, 38] == 0  # the single voxel was removed
    assert not list(ws.path.glob(".analysis-*"))

    csv = tmp_path / "objects.csv"
    table = analyze_layer(ws, "mito_instances", intensity="raw", out=csv)
    assert len(table) == 3
    filled = (1504 * 200 + 32 * 50) / 1536  # the filled cavity holds darker voxels
    assert table["raw_mean"].tolist() == [filled, 200.0, 200.0]
    assert table["raw_min"].tolist() == [50.0, 200.0, 200.0]
    assert table.meta["labels"] == "mito_instances" and table.meta["unit"] == ws.unit
    assert table["volume"].tolist() == pytest.approx((table["volume_voxels"] * 40 * 5 * 5).tolist())
    assert Table.read(csv) == table

    rules_path = tmp_path / "rules.yaml"
    SplitRules(
        [Rule("small", "volume_voxels", "<", 100), Rule("large", "volume_voxels", ">", 1000)],
        default="medium",
    ).to_yaml(rules_path)
    out = tmp_path / "classes.parquet"
    layer, result = split_layer(ws, csv, rules_path, out=out)
    assert layer.name == "mito_instances_classes" and layer.kind == "labels"
    assert layer.label_set == "mito_instances_classes"
    names = {lab.name: lab.value for lab in ws.label_set(layer.label_set)}
    assert names == {"small": 1, "large": 2, "medium": 3}
    classes = ws.get(layer.name).compute()
    assert classes[4, 10, 10] == names["large"]
    assert classes[3, 31, 6] == names["small"]
    assert classes[3, 35, 30] == names["medium"]
    assert Table.read(out)["class_name"].tolist() == result["class_name"].tolist()

    steps = [r.step for r in ws.runs()]
    assert steps == ["analysis.instances", "analysis.measure", "analysis.split"]
    assert ws.runs(step="analysis.split")[0].params["rules"]["default"] == "medium"

    with pytest.raises(LayerExistsError, match="overwrite=True"):
        split_layer(ws, csv, rules_path)
    conflicting = SplitRules([Rule("small", "volume", "<", 1)], values={"small": 4})
    with pytest.raises(RuleError, match="'small' = 1"):
        split_layer(ws, table, conflicting, overwrite=True)


def test_split_layer_needs_to_know_the_labels(ws):
    table = Table({"id": [1], "volume": [3.0]})
    with pytest.raises(TableError, match="labels="):
        split_layer(ws, table, SplitRules([Rule("a", "volume", "<", 5)]))


def test_instances_of_a_value_and_edits(ws):
    find_instances(ws, "mito", name="inst", value=1)
    labels = ws.get("inst").compute()
    big = labels[4, 6, 6]
    small = labels[3, 31, 6]
    edit_instances(ws, "inst", merge=[[big, small]], delete=[labels[7, 46, 38]])
    edited = ws.get("inst").compute()
    assert edited[3, 31, 6] == min(big, small) == edited[4, 6, 6]
    assert edited[7, 46, 38] == 0
    info = edit_instances(ws, "inst", split=[min(big, small)], name="inst_split")
    split = ws.get("inst_split").compute()
    assert len(info.params["new_ids"]) == 2
    assert split[4, 6, 6] != split[3, 31, 6]
    assert [r.step for r in ws.runs()][-2:] == ["analysis.edit", "analysis.edit"]

    with pytest.raises(LayerNotFoundError):
        find_instances(ws, "nope")


def test_fractions_and_metrics_on_layers(ws):
    ws.add_label("organelles", "mito", value=1)
    truth = ws.get("mito").compute()
    ws.add_layer("truth", truth, kind="labels", label_set="organelles")
    pred = truth.copy()
    pred[2:4, 30:33, 5:8] = 0  # the prediction misses the small object
    ws.add_layer("pred", pred, kind="prediction")
    report = layer_metrics(ws, "pred", "truth")
    assert report.names[1] == "mito"
    assert report.iou[1] == pytest.approx((truth.sum() - 18) / truth.sum())
    inst = layer_metrics(ws, "pred", "truth", instances=True)
    assert inst.n_true == 1  # one class value: the whole mask is one "instance" id
    assert ws.runs(step="analysis.metrics")[0].params["result"]["mean_iou"] == report.mean_iou()

    find_instances(ws, "mito", name="cells")
    t = layer_volume_fractions(ws, "truth", within="cells")
    assert t.names[:3] == ("region", "voxels", "volume")
    assert (t["fraction_mito"] == 1.0).all()
