"""Several image layers as input channels (issue 10, part 2 acceptance).

A synthetic two-modality volume: in the first channel every blob looks the same, and only the
second channel (a "fluorescence" marker) tells the target blobs from the others. A classifier
on features of both channels segments the target with IoU >= 0.9; on the first channel alone it
cannot.
"""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.learn import FeatureMismatchError, predict, train
from voxelwise.workspace import Workspace, add_image

SHAPE = (16, 64, 64)
OTHER, TARGET = 1, 2
FAST = {"n_estimators": 20, "n_jobs": 1}


def _two_channel(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw, fluo, target mask): 16 blobs, alike in raw; half of them marked in fluo."""
    zz, yy, xx = np.indices(SHAPE)
    blobs = np.zeros(SHAPE, bool)
    target = np.zeros(SHAPE, bool)
    centres = [(z, y, x) for z in (5, 11) for y in (9, 25, 41, 56) for x in (10, 46)]
    for i, (z, y, x) in enumerate(centres):
        ball = ((zz - z) / 4.0) ** 2 + ((yy - y) / 6.0) ** 2 + ((xx - x) / 6.0) ** 2 <= 1
        blobs |= ball
        if (i + i // 2) % 2:  # a checkerboard-like half of them
            target |= ball
    raw = np.where(blobs, 0.8, 0.2) + rng.normal(0, 0.08, SHAPE)
    fluo = np.where(target, 0.9, 0.1) + rng.normal(0, 0.08, SHAPE)
    return raw.astype(np.float32), fluo.astype(np.float32), target


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rng = np.random.default_rng(0)
    raw, fluo, target = _two_channel(rng)
    root = tmp_path_factory.mktemp("multichannel")
    ws = Workspace.create(root / "ws.vw", raw, chunks=(8, 32, 32))
    add_image(ws, "fluo", fluo)
    truth = np.where(target, TARGET, OTHER).astype(np.uint8)
    scribbles = np.where(rng.random(SHAPE) < 0.02, truth, 0).astype(np.uint8)
    ws.add_layer("scribbles", scribbles, kind="annotation")
    return ws, target


def _iou(ws, name, target):
    seg = ws.get(name).compute() == TARGET
    return float((seg & target).sum() / (seg | target).sum())


@pytest.mark.slow
def test_two_channels_separate_what_one_cannot(setup):
    ws, target = setup
    both = train(
        ws,
        annotations="scribbles",
        features=["gaussian:sigma=1.0"],
        images=["raw", "fluo"],
        params=FAST,
    )
    assert both.features == ("gaussian_s1.0", "fluo.gaussian_s1.0")
    assert [e["source"] for e in both.recipe] == ["raw", "fluo"]
    predict(ws, both, name="seg_both")
    iou_both = _iou(ws, "seg_both", target)

    one = train(ws, annotations="scribbles", features=["gaussian:sigma=1.0"], params=FAST)
    assert one.features == ("gaussian_s1.0",)
    predict(ws, one, name="seg_one")
    iou_one = _iou(ws, "seg_one", target)

    print(f"IoU with both channels {iou_both:.3f}, with the first only {iou_one:.3f}")
    assert iou_both >= 0.9, iou_both
    assert iou_one < 0.7, iou_one


def test_channels_computed_on_the_fly(setup):
    ws, target = setup
    model = train(
        ws,
        annotations="scribbles",
        features=["gaussian:sigma=0.7"],
        images=["raw", "fluo"],
        store_features=False,
        params=FAST,
    )
    assert "fluo.gaussian_s0.7" not in ws  # a recipe, computed chunk by chunk from fluo
    predict(ws, model, name="seg_fly")
    assert _iou(ws, "seg_fly", target) >= 0.9


def test_bad_image_channels(setup):
    ws, _ = setup
    with pytest.raises(FeatureMismatchError, match=r"No image layer named 'dapi'.*add_image"):
        train(ws, annotations="scribbles", features="gaussian:sigma=1", images=["raw", "dapi"])
    with pytest.raises(FeatureMismatchError, match="label values"):
        train(ws, annotations="scribbles", features="gaussian:sigma=1", images=["scribbles"])
    with pytest.raises(FeatureMismatchError, match="given twice"):
        train(ws, annotations="scribbles", features="gaussian:sigma=1", images=["raw", "raw"])
