"""Volume fractions of classes inside the volume, a mask, a parent label or each region."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.analysis import ShapeMismatchError, volume_fractions

# 0 outside, 1 cytoplasm, 2 mitochondria, 3 nucleus, 7 unannotated
CLASSES = np.array([[[0, 0, 1, 1, 1, 1, 2, 2, 3, 7], [0, 1, 1, 2, 2, 2, 2, 3, 3, 7]]])
CELLS = np.array([[[0, 0, 4, 4, 4, 4, 4, 4, 4, 4], [0, 6, 6, 6, 6, 6, 6, 6, 6, 6]]])


def test_whole_volume():
    t = volume_fractions(CLASSES, spacing=(2, 1, 1))
    assert t["region"].tolist() == [1]
    assert t["voxels"].tolist() == [20]
    assert t["volume"].tolist() == [40.0]
    assert t["fraction_class_2"][0] == pytest.approx(6 / 20)
    assert "voxels_class_0" not in t  # background is not reported unless asked


def test_inside_a_parent_label_made_of_classes():
    names = {1: "cytoplasm", 2: "mito", 3: "nucleus"}
    t = volume_fractions(CLASSES, within=[1, 2, 3], names=names)
    assert t["voxels"].tolist() == [15]
    assert t["fraction_mito"][0] == pytest.approx(6 / 15)
    assert t["fraction_nucleus"][0] == pytest.approx(3 / 15)
    total = t["fraction_cytoplasm"][0] + t["fraction_mito"][0] + t["fraction_nucleus"][0]
    assert total == pytest.approx(1.0)
    assert t.meta["classes"]["2"] == "mito"


def test_per_region_with_ignore_label_and_chunks():
    t = volume_fractions(
        da.from_array(CLASSES, chunks=(1, 1, 3)),
        da.from_array(CELLS, chunks=(1, 2, 4)),
        ignore_label=7,
        values=[2, 3, 5],
    )
    assert t["region"].tolist() == [4, 6]
    assert t["voxels"].tolist() == [7, 8]  # the unannotated voxels are left out
    assert t["voxels_class_2"].tolist() == [2, 4]
    assert t["fraction_class_3"].tolist() == pytest.approx([1 / 7, 2 / 8])
    assert t["fraction_class_5"].tolist() == [0.0, 0.0]  # asked for, absent


def test_inside_a_mask_and_empty_mask():
    mask = CELLS == 6
    t = volume_fractions(CLASSES, within=mask)
    assert t["region"].tolist() == [1] and t["voxels"].tolist() == [9]
    empty = volume_fractions(CLASSES, within=np.zeros_like(mask), values=[1])
    assert empty["voxels"].tolist() == [0]
    assert np.isnan(empty["fraction_class_1"][0])


def test_shape_mismatch():
    with pytest.raises(ShapeMismatchError, match="shape"):
        volume_fractions(CLASSES, CELLS[..., :5])
