"""ROI sub-workspaces (create, pull back with each conflict mode, relink) and the model table."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from voxelwise.errors import RoiError, WorkspaceError, WorkspaceNotFoundError
from voxelwise.workspace import (
    SCHEMA_VERSION,
    InvalidLayerError,
    ModelExistsError,
    ModelNotFoundError,
    Workspace,
    create_roi_workspace,
    open_parent,
    pull_back,
    relink,
    roi_parent,
)

ROI = "4:12,10:40,20:44"
OFFSET = (4, 10, 20)


@pytest.fixture
def parent(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (16, 48, 64), dtype=np.uint8)
    ws = Workspace.create(tmp_path / "parent.vw", image, chunks=(8, 16, 16), spacing=(3, 1, 1))
    ws.add_label("tissue", "cell", color="#ff0000")
    ws.add_label("tissue", "nucleus", parent="cell")
    ws.add_label("tissue", "background")
    ann = np.zeros(image.shape, np.uint8)
    ann[0, 0, 0] = 3  # outside the ROI
    ann[6, 12, 22] = 1  # inside: a parent label the child will contradict
    ann[15, 47, 63] = 2  # outside
    ws.add_layer("ann", ann, kind="annotation", label_set="tissue")
    ws.add_layer("smooth", image.astype(np.float32), kind="feature")
    return ws


def _paint(ws, name, at, value):
    arr = ws.open_array(name, mode="r+")
    arr[at] = value


def test_create_copies_the_region_and_remembers_its_parent(parent, tmp_path):
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI, layers=["ann"])
    link = roi_parent(child)
    assert link["path"] == str(parent.path) and link["offset"] == list(OFFSET)
    assert link["roi"] == ROI and link["shape"] == [16, 48, 64]
    assert child.shape == (8, 30, 24) and child.spacing == parent.spacing
    np.testing.assert_array_equal(
        child.get("raw"), np.asarray(parent.get("raw"))[4:12, 10:40, 20:44]
    )
    np.testing.assert_array_equal(
        child.get("ann"), np.asarray(parent.get("ann"))[4:12, 10:40, 20:44]
    )
    assert child.layer("ann").label_set == "tissue" and child.layer("ann").kind == "annotation"
    labels = {lab.name: (lab.value, lab.parent) for lab in child.label_set("tissue")}
    assert labels == {"cell": (1, None), "nucleus": (2, "cell"), "background": (3, None)}
    assert child.info()["roi_parent"]["offset"] == list(OFFSET)
    assert roi_parent(parent) is None and open_parent(child).path == parent.path
    assert [r.step for r in child.runs()] == ["workspace.roi"]


def test_round_trip_only_unlabelled_puts_strokes_at_the_offset(parent, tmp_path):
    before = np.asarray(parent.get("ann"))
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI, layers=["ann"])
    _paint(child, "ann", (slice(3, 4), slice(5, 9), slice(7, 8)), 2)  # a new stroke
    _paint(child, "ann", (2, 2, 2), 3)  # contradicts the parent's label 1 at (6, 12, 22)
    result = pull_back(child, "ann")
    after = np.asarray(parent.get("ann"))
    assert result.mode == "only_unlabelled" and not result.created
    assert result.voxels_changed == 4 and result.conflicts == 1 and result.chunks_written >= 1
    assert (after[7, 15:19, 27] == 2).all()  # the stroke, shifted by the offset
    assert after[6, 12, 22] == 1  # the parent's label wins
    changed = np.argwhere(after != before)
    assert {tuple(c) for c in changed} == {(7, y, 27) for y in range(15, 19)}
    assert parent.layer("ann").stats is None  # cleared; recomputed on demand
    assert parent.stats("ann")["max"] == 3
    assert parent.runs(step="workspace.pull_back")[-1].params["child_layer"] == "ann"


def test_overwrite_replaces_the_region_only(parent, tmp_path):
    before = np.asarray(parent.get("ann"))
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI, layers=["ann"])
    _paint(child, "ann", (2, 2, 2), 0)  # erase the parent's label in the child
    _paint(child, "ann", (0, 0, 0), 3)
    result = pull_back(child, "ann", mode="overwrite")
    after = np.asarray(parent.get("ann"))
    assert after[6, 12, 22] == 0 and after[4, 10, 20] == 3
    assert result.voxels_changed == 2
    outside = np.ones(before.shape, bool)
    outside[4:12, 10:40, 20:44] = False
    np.testing.assert_array_equal(after[outside], before[outside])


def test_missing_parent_layer_is_created_and_skip_keeps_existing(parent, tmp_path):
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI)
    child.add_label("extra", "mito", value=5, color="#00ff00")
    pred = np.zeros(child.shape, np.uint16)
    pred[1:3, 4:6, 4:6] = 5
    child.add_layer("pred", pred, kind="prediction", label_set="extra")
    result = pull_back(child, "pred", into="pred_full", mode="skip")
    assert result.created and not result.skipped and result.voxels_changed == 8
    full = np.asarray(parent.get("pred_full"))
    assert full.shape == parent.shape and full.dtype == np.uint16
    assert np.count_nonzero(full) == 8 and (full[5:7, 14:16, 24:26] == 5).all()
    info = parent.layer("pred_full")
    assert info.kind == "prediction" and info.label_set == "extra"
    assert [lab.name for lab in parent.label_set("extra")] == ["mito"]
    _paint(child, "pred", (0, 0, 0), 5)
    again = pull_back(child, "pred", into="pred_full", mode="skip")
    assert again.skipped and again.voxels_changed == 0
    np.testing.assert_array_equal(parent.get("pred_full"), full)


def test_pull_back_updates_strided_pyramid_levels(tmp_path):
    image = np.zeros((8, 128, 128), np.uint8)
    ws = Workspace.create(tmp_path / "big.vw", image, chunks=(8, 32, 32))
    ws.add_layer("ann", np.zeros(image.shape, np.uint8), kind="annotation", pyramid=True)
    assert ws.layer("ann").levels == 2
    child = create_roi_workspace(ws, tmp_path / "c.vw", "0:8,40:80,40:80", layers=["ann"])
    _paint(child, "ann", (slice(0, 8), slice(0, 10), slice(0, 10)), 7)
    pull_back(child, "ann")
    level0 = np.asarray(ws.get("ann"))
    np.testing.assert_array_equal(ws.get("ann", level=1), level0[:, ::2, ::2])
    assert np.count_nonzero(level0) == 800


def test_parent_gone_says_how_to_relink(parent, tmp_path):
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI, layers=["ann"])
    _paint(child, "ann", (0, 0, 0), 2)
    moved = tmp_path / "moved" / "parent.vw"
    moved.parent.mkdir()
    shutil.move(parent.path, moved)
    with pytest.raises(WorkspaceNotFoundError, match=r"no longer exists.*relink"):
        pull_back(child, "ann")
    link = relink(child, moved)
    assert link["path"] == str(moved) and roi_parent(child.path)["path"] == str(moved)
    assert pull_back(child, "ann").voxels_changed == 1
    assert Workspace(moved).get("ann")[4, 10, 20].compute() == 2


def test_relink_refuses_another_dataset(parent, tmp_path):
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI)
    other = Workspace.create(tmp_path / "other.vw", np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(WorkspaceError, match="shape"):
        relink(child, other)
    with pytest.raises(WorkspaceError, match="not an ROI sub-workspace"):
        relink(other, parent)


def test_bad_input(parent, tmp_path):
    with pytest.raises(RoiError):
        create_roi_workspace(parent, tmp_path / "a.vw", "0:4,0:10,60:80")
    assert not (tmp_path / "a.vw").exists()
    child = create_roi_workspace(parent, tmp_path / "child.vw", ROI, layers=["smooth", "ann"])
    with pytest.raises(ValueError, match="only_unlabelled"):
        pull_back(child, "ann", mode="merge")
    with pytest.raises(InvalidLayerError, match="mode='overwrite'"):
        pull_back(child, "smooth")
    with pytest.raises(InvalidLayerError, match="into="):
        pull_back(child, "ann", into="smooth", mode="overwrite")
    with pytest.raises(WorkspaceError, match="not an ROI sub-workspace"):
        pull_back(parent, "ann")
    wide = np.zeros(child.shape, np.uint16)
    child.add_layer("wide", wide, kind="annotation")
    child.open_array("wide", mode="r+")[0, 0, 0] = 300  # stored stats still say max 0
    before = np.asarray(parent.get("ann"))
    with pytest.raises(InvalidLayerError, match="300"):
        pull_back(child, "wide", into="ann")
    np.testing.assert_array_equal(parent.get("ann"), before)
    # a non-label layer may overwrite its region
    assert pull_back(child, "smooth", mode="overwrite").voxels_changed == 0


def test_catalog_v1_migrates_to_the_model_table(parent):
    with sqlite3.connect(parent.path / "catalog.sqlite") as conn:
        conn.execute("DROP TABLE models")
        conn.execute("PRAGMA user_version = 1")
    ws = Workspace.open(parent.path)
    assert ws.models == {}
    with sqlite3.connect(parent.path / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_model_table_copy_overwrite_delete(parent, tmp_path):
    file = tmp_path / "m.npz"
    file.write_bytes(b"model bytes")
    info = parent.add_model(
        "m", file, kind="shallow", architecture="rf/voxel", metrics={"val_miou": 0.5}
    )
    assert info.owned and info.file.parent == parent.path / "registry" and info.size == 11
    assert info.to_dict()["metrics"] == {"val_miou": 0.5} and info.available
    with pytest.raises(ModelExistsError, match="overwrite=True"):
        parent.add_model("m", file, kind="shallow", architecture="rf/voxel")
    file.write_bytes(b"newer model")
    again = parent.add_model("m", file, kind="shallow", architecture="rf/voxel", overwrite=True)
    assert not info.file.exists() and again.file.read_bytes() == b"newer model"
    ref = parent.add_model("ref", file, kind="deep", architecture="unet2d", copy=False)
    assert not ref.owned and ref.file == file
    assert list(parent.models) == ["m", "ref"]
    assert parent.update_model("ref", metrics={"val_miou": 0.7}).metrics == {"val_miou": 0.7}
    parent.delete_model("ref")
    parent.delete_model("m")
    assert file.exists() and not again.file.exists() and parent.models == {}
    with pytest.raises(ModelNotFoundError, match="none yet"):
        parent.model("m")
    with pytest.raises(ValueError, match="shallow"):
        parent.add_model("x", file, kind="svm", architecture="?")
