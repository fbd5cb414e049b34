"""Segmentation and instance metrics against hand-computed values; chunked == in-memory."""

from __future__ import annotations

import json
import math

import dask.array as da
import numpy as np
import pytest

from voxelwise.analysis import (
    ShapeMismatchError,
    confusion_matrix,
    instance_metrics,
    segmentation_metrics,
)

# truth and prediction of 12 voxels, classes 0 (background), 1, 2; 9 = unannotated
TRUTH = np.array([[[0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 9, 9]]])
PRED = np.array([[[0, 1, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2]]])


def test_confusion_matrix_by_hand():
    values, m = confusion_matrix(PRED, TRUTH)
    assert values.tolist() == [0, 1, 2, 9]
    assert m.tolist() == [
        [2, 1, 0, 0],  # truth 0: predicted 0, 1, 0
        [0, 3, 1, 0],  # truth 1: 1, 1, 1, 2
        [1, 0, 2, 0],  # truth 2: 2, 2, 0
        [0, 1, 1, 0],  # truth 9
    ]
    values, m = confusion_matrix(PRED, TRUTH, ignore_label=9)
    assert values.tolist() == [0, 1, 2] and m.sum() == 10


def test_per_class_scores_by_hand():
    r = segmentation_metrics(PRED, TRUTH, ignore_label=9, names={1: "mito", 2: "er"})
    assert r.classes == (0, 1, 2)
    # class 1: TP 3, FP 1 (a truth-0 voxel), FN 1 -> IoU 3/5, Dice 6/8
    s = r.scores(1)
    assert s["iou"] == pytest.approx(3 / 5)
    assert s["dice"] == pytest.approx(6 / 8)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["truth_voxels"] == 4 and s["predicted_voxels"] == 4
    # class 2: TP 2, FP 1, FN 1 -> 2/4; class 0: TP 2, FP 1, FN 1 -> 2/4
    assert r.iou == pytest.approx({0: 0.5, 1: 0.6, 2: 0.5})
    assert r.mean_iou() == pytest.approx((0.5 + 0.6 + 0.5) / 3)  # MIoU over all classes
    assert r.mean_iou([1, 2]) == pytest.approx(0.55)  # over the organelles only
    assert r.mean_dice([1]) == pytest.approx(0.75)
    assert r.accuracy == pytest.approx(7 / 10)


def test_ignore_label_changes_the_scores():
    with_unannotated = segmentation_metrics(PRED, TRUTH, classes=[1, 2])
    # without ignoring, the two "9" voxels predicted 1 and 2 are false positives
    assert with_unannotated.scores(1)["iou"] == pytest.approx(3 / 6)
    assert with_unannotated.classes == (1, 2)


def test_absent_class_is_nan_and_skipped_in_means():
    r = segmentation_metrics(PRED, TRUTH, classes=[1, 2, 5], ignore_label=9)
    assert math.isnan(r.iou[5])
    assert r.mean_iou() == pytest.approx(0.55)


def test_chunked_lazy_input_equals_numpy(rng):
    truth = rng.integers(0, 4, (12, 40, 30)).astype(np.uint8)
    pred = np.where(rng.random(truth.shape) < 0.8, truth, rng.integers(0, 4, truth.shape))
    ref = segmentation_metrics(pred, truth, ignore_label=3)
    lazy = segmentation_metrics(
        da.from_array(pred, chunks=(5, 9, 11)),
        da.from_array(truth, chunks=(4, 13, 7)),
        ignore_label=3,
    )
    np.testing.assert_array_equal(lazy.matrix, ref.matrix)
    valid = truth != 3
    for c in (0, 1, 2):
        tp = np.sum((pred == c) & (truth == c))
        union = np.sum(((pred == c) | (truth == c)) & valid)
        assert lazy.iou[c] == pytest.approx(tp / union)


def test_report_text_and_dict():
    r = segmentation_metrics(PRED, TRUTH, ignore_label=9, names={1: "mito", 2: "er"})
    text = str(r)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["class", "IoU", "Dice"]
    assert any(line.startswith("mito") and "0.6000" in line for line in lines)
    assert any(line.startswith("mean") for line in lines)
    assert lines[-1] == "voxel accuracy: 0.7000"
    d = r.to_dict()
    json.dumps(d)
    assert d["per_class"]["mito"]["iou"] == pytest.approx(0.6)
    assert d["confusion"]["values"] == [0, 1, 2]


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ShapeMismatchError, match=r"\(1, 1, 12\).*\(1, 1, 11\)"):
        segmentation_metrics(PRED[..., :11], TRUTH)
    with pytest.raises(TypeError, match="integer"):
        segmentation_metrics(PRED.astype(float), TRUTH)


def test_instance_metrics_by_hand():
    truth = np.zeros((1, 3, 10), np.uint16)
    pred = np.zeros_like(truth)
    truth[0, 0, 0:4] = 1  # 4 voxels
    pred[0, 0, 0:3] = 7  # IoU 3/4 with truth 1
    truth[0, 1, 0:4] = 2
    pred[0, 1, 2:6] = 8  # IoU 2/6 with truth 2
    truth[0, 2, 0:2] = 3  # missed
    pred[0, 2, 8:10] = 9  # false positive
    r = instance_metrics(da.from_array(pred, chunks=(1, 2, 3)), truth, thresholds=(0.3, 0.5, 0.8))
    assert (r.n_true, r.n_pred) == (3, 3)
    assert sorted(zip(r.truth_ids.tolist(), r.pred_ids.tolist())) == [(1, 7), (2, 8)]
    s = r.at(0.5)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 2, 2)
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == pytest.approx(1 / 3)
    assert s["mean_matched_iou"] == pytest.approx(0.75)
    assert r.at(0.3)["tp"] == 2
    assert r.at(0.8)["tp"] == 0 and math.isnan(r.at(0.8)["mean_matched_iou"])
    assert r.mean_true_iou == pytest.approx((0.75 + 2 / 6) / 3)
    assert "IoU >=" in str(r) and "3 true, 3 predicted" in str(r)
    json.dumps(r.to_dict())


def test_instance_matching_is_one_to_one_and_ignores_voxels():
    truth = np.array([[[1, 1, 1, 1, 5, 5]]])
    pred = np.array([[[2, 2, 3, 3, 3, 3]]])
    r = instance_metrics(pred, truth, thresholds=0.1)
    # IoU (1, 2) = 2/4, (5, 3) = 2/4, (1, 3) = 2/6: each object is matched once
    assert sorted(zip(r.truth_ids.tolist(), r.pred_ids.tolist())) == [(1, 2), (5, 3)]
    ignored = instance_metrics(pred, truth, thresholds=0.5, ignore_label=5)
    # without the ignored voxels, pred 3 has 2 voxels, both inside truth 1
    assert ignored.n_true == 1
    assert ignored.iou.tolist() == [0.5]
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        instance_metrics(pred, truth, thresholds=0)
