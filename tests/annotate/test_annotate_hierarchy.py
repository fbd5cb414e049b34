"""Label hierarchy: a child is painted only inside its parent's region."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise import annotate
from voxelwise.annotate import HierarchyError
from voxelwise.workspace import InvalidLayerError, Workspace

SHAPE = (12, 48, 48)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "h.vw", np.zeros(SHAPE, np.uint8), chunks=(6, 24, 24))
    ws.add_label("cells", "cell")  # 1
    ws.add_label("cells", "nucleus", parent="cell")  # 2
    ws.add_label("cells", "vesicle", parent="cell")  # 3
    ws.add_label("cells", "nucleolus", parent="nucleus")  # 4
    ws.add_label("cells", "background")  # 5
    annotate.create_layer(ws, "s", label_set="cells")
    return ws


def test_child_outside_parent_is_refused_naming_the_parent(ws):
    with pytest.raises(HierarchyError, match=r"'nucleus' is a child of 'cell'") as info:
        annotate.paint(ws, "s", "nucleus", center=(6, 24, 24), radius=3)
    assert "Paint 'cell' there first" in str(info.value)
    annotate.paint(ws, "s", "background", center=(6, 24, 24), radius=5)
    with pytest.raises(HierarchyError, match="'cell'"):  # another label is not the parent
        annotate.paint(ws, "s", "nucleus", center=(6, 24, 24), radius=3)
    assert annotate.history(ws, "s")[-1].label == "background"
    assert set(np.unique(ws.get("s").compute())) == {0, 5}


def test_child_is_clipped_to_the_parent_region(ws):
    annotate.paint_stroke(ws, "s", "cell", [(6, 10, 10), (6, 10, 30)], 4, plane="z")
    before = ws.get("s").compute()
    edit = annotate.paint(ws, "s", "nucleus", center=(6, 10, 30), radius=6, plane="z")
    after = ws.get("s").compute()
    assert edit.voxels == (after == 2).sum() > 0
    assert (before[after == 2] == 1).all()  # only where the cell was
    np.testing.assert_array_equal(after[before != 1], before[before != 1])


def test_descendants_and_siblings_count_as_the_parents_region(ws):
    annotate.paint(ws, "s", "cell", center=(6, 24, 24), radius=8, plane="z")
    annotate.paint(ws, "s", "nucleus", center=(6, 24, 24), radius=4, plane="z")
    # the grandchild lives inside the nucleus
    with pytest.raises(HierarchyError, match="child of 'nucleus'"):
        annotate.paint(ws, "s", "nucleolus", center=(6, 24, 31), radius=1, plane="z")
    annotate.paint(ws, "s", "nucleolus", center=(6, 24, 24), radius=2, plane="z")
    # a sibling may be painted over the nucleus (inside the cell), not outside the cell
    edit = annotate.paint(ws, "s", "vesicle", center=(6, 24, 24), radius=10, plane="z")
    got = ws.get("s").compute()[6]
    assert edit.voxels == (got == 3).sum()
    assert (got == 3).sum() == (np.isin(got, [1, 2, 3, 4])).sum()
    assert annotate.subtree_values(ws, "cells", "cell") == (1, 2, 3, 4)
    assert annotate.subtree_values(ws, "cells", "nucleus") == (2, 4)


def test_overwrite_false_keeps_siblings(ws):
    annotate.paint(ws, "s", "cell", center=(6, 24, 24), radius=8, plane="z")
    annotate.paint(ws, "s", "nucleus", center=(6, 24, 20), radius=3, plane="z")
    before = ws.get("s").compute()
    annotate.paint(ws, "s", "vesicle", center=(6, 24, 24), radius=10, plane="z", overwrite=False)
    after = ws.get("s").compute()
    np.testing.assert_array_equal(after == 3, before == 1)  # every free cell voxel, nothing else


def test_parent_region_from_another_layer(ws):
    pred = np.zeros(SHAPE, np.uint16)
    pred[:, :, :24] = 1  # the left half is predicted 'cell'
    ws.add_layer("pred", pred, kind="prediction", label_set="cells")
    with pytest.raises(HierarchyError, match="in layer 'pred'"):
        annotate.paint(ws, "s", "nucleus", center=(6, 24, 36), radius=3, parent_layer="pred")
    edit = annotate.paint(ws, "s", "nucleus", center=(6, 24, 24), radius=4, parent_layer="pred")
    got = ws.get("s").compute()
    assert edit.voxels == (got == 2).sum() > 0
    assert not got[:, :, 24:].any()
    assert edit.params["parent_layer"] == "pred"
    # the same rule holds through an Annotator bound to the parent layer
    ann = annotate.Annotator(ws, "s", author="bo", parent_layer="pred")
    with pytest.raises(HierarchyError):
        ann.paint("nucleus", center=(6, 24, 40), radius=2)


def test_parent_layer_must_be_a_label_layer_of_the_same_set(ws):
    ws.add_layer("feat", ws.get("raw").astype("float32"))
    with pytest.raises(InvalidLayerError, match="label-like"):
        annotate.paint(ws, "s", "nucleus", center=(6, 24, 24), radius=2, parent_layer="feat")
    ws.add_label("other", "x")
    ws.add_layer("pred2", np.zeros(SHAPE, np.uint8), kind="prediction", label_set="other")
    with pytest.raises(InvalidLayerError, match="same label set"):
        annotate.paint(ws, "s", "nucleus", center=(6, 24, 24), radius=2, parent_layer="pred2")


def test_hierarchy_applies_to_fill_and_supervoxels(ws):
    annotate.paint(ws, "s", "cell", center=(6, 12, 12), radius=5, plane="z")
    with pytest.raises(HierarchyError):
        annotate.fill_2d(ws, "s", "nucleus", (6, 40, 40))
    sv = np.zeros(SHAPE, np.int32)
    sv[:, 30:, 30:] = 7
    with pytest.raises(HierarchyError):
        annotate.paint_supervoxels(ws, "s", "nucleus", sv, (6, 35, 35))
    # a fill seeded in the cell refines exactly the cell's region of that slice
    annotate.fill_2d(ws, "s", "nucleus", (6, 12, 12))
    got = ws.get("s").compute()
    assert (got[6] == 2).sum() > 0
    assert not (got[6] == 1).any()
