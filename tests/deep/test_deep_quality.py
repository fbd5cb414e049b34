"""Data-aware training defaults: axis planning, class/boundary-centred patches, per-axis
validation scores and weighted multi-axis fusion."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from voxelwise.deep import (  # noqa: E402
    TrainConfig,
    axis_weights,
    fuse_probabilities,
    load_model,
    plan_axes,
    predict,
    predict_proba,
    train,
)
from voxelwise.deep._data import Region, class_centres, sample_patch  # noqa: E402
from voxelwise.deep._predict import member_axes  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize(
    ("shape", "spacing", "want"),
    [
        ((20, 1024, 1024), (50.0, 4.6, 4.6), "z"),  # VNC ssTEM: thin, anisotropic
        ((20, 1024, 1024), None, "z"),  # thin even without a voxel size
        ((250, 250, 250), (8.0, 8.0, 8.0), "zyx"),  # FlyEM FIB-SEM: isotropic
        ((400, 400, 400), (40.0, 4.0, 4.0), "z"),  # thick but 10x anisotropic sections
        ((64, 64, 64), None, "zyx"),  # smaller than a patch: half its extent is enough
        ((512, 40, 512), None, "y"),  # only XZ planes are wide
    ],
)
def test_plan_axes(shape, spacing, want):
    assert plan_axes(shape, (256, 256), spacing) == want


def test_axis_weights_drop_weak_and_unscored_axes():
    w = axis_weights("zyx", {"z": 0.8, "y": 0.78, "x": 0.5})
    assert w is not None and w["x"] == 0 and w["z"] > w["y"] > 0
    assert sum(w.values()) == pytest.approx(1.0)
    assert axis_weights("zyx", {"z": 0.7}) == {"z": 1.0, "y": 0.0, "x": 0.0}
    assert axis_weights("yx", {"z": 0.7}) is None
    assert axis_weights("zyx", None) is None


def test_weighted_fusion_is_the_weighted_mean():
    a = np.array([[0.9, 0.2]]).T * np.ones((2, 1, 1, 3))
    b = 1 - a
    fused = fuse_probabilities([a, b], fusion="weighted", weights=[3, 1])
    np.testing.assert_allclose(fused, 0.75 * a + 0.25 * b)
    np.testing.assert_allclose(fuse_probabilities([a, b], fusion="weighted"), 0.5 * (a + b))
    # 'auto' without weights is the Volume Segmantics max fusion
    np.testing.assert_allclose(
        fuse_probabilities([a, b], fusion="auto"), fuse_probabilities([a, b], fusion="max")
    )
    with pytest.raises(ValueError, match="one non-negative weight per axis"):
        fuse_probabilities([a, b], fusion="weighted", weights=[1.0])
    with pytest.raises(ValueError, match="fusion"):
        fuse_probabilities([a, b], fusion="vote")


def test_class_centres_find_rare_classes_and_boundaries():
    labels = np.ones((6, 64, 64), dtype=np.uint8)
    labels[2:4, 10:14, 20:24] = 2  # a rare class: 32 of 24576 voxels
    labels[:, :, 60:] = 0  # unlabelled: never a centre
    import dask.array as da

    for source in (labels, da.from_array(labels, chunks=(4, 32, 32))):
        centres = class_centres(source, np.random.default_rng(0), per_kind=50)
        assert set(centres) == {0, 1, "boundary"}
        rare = centres[1]
        assert len(rare) == 32 and (labels[tuple(rare.T)] == 2).all()
        assert len(centres[0]) == 50 and (labels[tuple(centres[0].T)] == 1).all()
        edge = centres["boundary"]
        assert (labels[tuple(edge.T)] > 0).all()
        # every boundary voxel touches the other class in its plane
        for z, y, x in edge:
            near = labels[z, max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
            assert len(set(np.unique(near)) - {0}) == 2


def test_centred_patches_hold_their_centre():
    rng = np.random.default_rng(1)
    labels = np.ones((4, 100, 90), dtype=np.uint8)
    labels[3, 97, 2] = 2
    region = Region(np.zeros(labels.shape, np.float32), labels)
    for axis in ("z", "y", "x", None):
        size = (32, 32) if axis else (2, 32, 32)
        for _ in range(10):
            _, target = sample_patch(region, size, axis, rng, centre=np.array([3, 97, 2]))
            assert (target == 1).sum() == 1  # the single rare voxel is inside the patch


def _synthetic(rng: np.random.Generator, shape=(4, 96, 96)):
    """Bright blobs (class 2) on a dark background (class 1), with noise."""
    labels = np.ones(shape, dtype=np.uint8)
    _, yy, xx = np.indices(shape)
    for _ in range(6):
        cy, cx = rng.integers(8, shape[1] - 8), rng.integers(8, shape[2] - 8)
        r = rng.integers(5, 9)
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        labels[blob] = 2
    image = (labels - 1) * 0.6 + rng.normal(0.2, 0.15, shape)
    return image.astype(np.float32), labels


def test_default_training_plans_axes_and_stores_axis_scores(tmp_path):
    image, labels = _synthetic(np.random.default_rng(0))
    cfg = TrainConfig(
        network={"depth": 2, "width": 4, "blocks": 1},
        patch_size=(32, 32),
        epochs=2,
        steps_per_epoch=4,
        batch_size=2,
        val_patches=2,
        spacing=(40.0, 4.0, 4.0),
    )
    assert cfg.axes == "auto"
    result = train(image, labels, out=tmp_path / "m.pt", config=cfg, rng=0)
    model = load_model(result.model_path)
    assert model.metadata["axes"] == "z"  # thin, anisotropic: Z slices only
    assert set(model.metadata["axis_scores"]) <= {"z", "y", "x"}
    assert "z" in model.metadata["axis_scores"]
    assert cfg.axes == "auto"  # the caller's config is not changed
    # weighted fusion predicts only the axes that have a vote
    axes, weights = member_axes(model, "zyx", image.shape, "auto")
    scores = model.metadata["axis_scores"]
    assert set(axes) <= set(scores) and "z" in axes
    assert weights is None or sum(weights) == pytest.approx(1.0)
    probs = predict_proba(model, image, axes="zyx", device="cpu")
    only = predict_proba(model, image, axes=axes, fusion="weighted", device="cpu")
    np.testing.assert_allclose(probs, only, atol=1e-6)
    out = predict(model, image, tmp_path / "p.zarr", axes="zyx", device="cpu")
    import zarr

    group = zarr.open_group(out, mode="r")
    assert group.attrs["axes"] == axes and group.attrs["fusion"] == "auto"
    np.testing.assert_allclose(
        np.asarray(group["probabilities"]).astype(np.float32), probs, atol=2e-3
    )


def test_isotropic_training_uses_every_axis_and_weighted_fusion(tmp_path):
    image, labels = _synthetic(np.random.default_rng(2), shape=(48, 48, 48))
    cfg = TrainConfig(
        network={"depth": 2, "width": 4, "blocks": 1},
        patch_size=(32, 32),
        epochs=1,
        steps_per_epoch=3,
        batch_size=2,
        val_patches=2,
    )
    model = load_model(train(image, labels, out=tmp_path / "iso", config=cfg, rng=0).model_path)
    assert model.metadata["axes"] == "zyx"
    assert set(model.metadata["axis_scores"]) == {"z", "y", "x"}
    axes, weights = member_axes(model, "auto", image.shape, "auto")
    assert axes and weights is not None and sum(weights) == pytest.approx(1.0)
    best = max(model.metadata["axis_scores"].values())
    assert all(model.metadata["axis_scores"][a] >= best - 0.05 for a in axes)


def test_bad_oversample_and_axes():
    with pytest.raises(ValueError, match="oversample"):
        TrainConfig(oversample=1.5)
    with pytest.raises(ValueError, match="'auto' or letters"):
        TrainConfig(axes="zz")
