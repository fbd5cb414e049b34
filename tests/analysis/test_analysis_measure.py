"""Measurements against shapes with known answers, intensities, chunk invariance, empty input."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import label as sk_label

from voxelwise.analysis import (
    INTENSITY_STATISTICS,
    MEASUREMENTS,
    ShapeMismatchError,
    measure,
    measurement_names,
)


def ball(radius: float, spacing, *, offset=(0.3, 0.1, 0.2), pad: int = 3) -> np.ndarray:
    """A ball of ``radius`` (physical units) sampled on a grid of ``spacing``."""
    sp = np.asarray(spacing, float)
    half = np.ceil(radius / sp).astype(int) + pad
    shape = tuple(int(2 * h + 1) for h in half)
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    centre = half + np.asarray(offset)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, sp))
    return d2 <= radius**2


@pytest.mark.parametrize(
    ("spacing", "radius"),
    [((1, 1, 1), 12.0), ((2, 1, 1), 12.0), ((3, 1, 1), 15.0), ((50, 4.6, 4.6), 300.0)],
)
def test_ball_volume_and_surface_within_3_percent(spacing, radius):
    mask = ball(radius, spacing)
    t = measure(mask.astype(np.uint8), spacing=spacing)
    assert len(t) == 1
    assert t["volume_voxels"][0] == mask.sum()
    assert t["volume"][0] == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.03)
    assert t["surface_area"][0] == pytest.approx(4 * np.pi * radius**2, rel=0.03)
    assert t["sphericity"][0] == pytest.approx(1.0, abs=0.03)
    assert t["sphericity"][0] <= 1.0 + 1e-6
    # the PCA box of a ball: every edge 2 r sqrt(3/5), the voxel size corrected for
    edge = 2 * radius * np.sqrt(3 / 5)
    for k in ("extent_major", "extent_middle", "extent_minor"):
        assert t[k][0] == pytest.approx(edge, rel=0.03)


def test_surface_is_the_same_for_any_chunking():
    mask = ball(9.0, (2, 1, 1))
    mask2 = np.roll(ball(9.0, (2, 1, 1), offset=(0, 0.5, 0.5)), 5, axis=2)
    labels = mask.astype(np.uint16) + 2 * (mask2 & ~mask)
    whole = measure(labels, spacing=(2, 1, 1))
    chunked = measure(da.from_array(labels, chunks=(4, 7, 9)), spacing=(2, 1, 1))
    assert whole.names == chunked.names
    for name in whole.names:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-6, err_msg=name)


def test_box_bbox_centroid_and_extents():
    labels = np.zeros((10, 14, 12), dtype=np.uint8)
    labels[2:7, 3:11, 4:8] = 5
    t = measure(da.from_array(labels, chunks=(3, 5, 5)), spacing=(2.0, 1.0, 0.5), surface=False)
    assert t["id"].tolist() == [5]
    assert t.row(0)["volume_voxels"] == 5 * 8 * 4
    assert t["volume"][0] == pytest.approx(160 * 2.0 * 1.0 * 0.5)
    bbox = [t[f"bbox_{a}{e}"][0] for e in "01" for a in "zyx"]
    assert bbox == [2, 3, 4, 7, 11, 8]
    assert [t[f"centroid_{a}"][0] for a in "zyx"] == pytest.approx([4.0, 6.5, 5.5])
    # physical edges: z 5 x 2 = 10, y 8 x 1 = 8, x 4 x 0.5 = 2, exactly
    assert t["extent_major"][0] == pytest.approx(10.0)
    assert t["extent_middle"][0] == pytest.approx(8.0)
    assert t["extent_minor"][0] == pytest.approx(2.0)
    assert [t[f"axis_{a}"][0] for a in "zyx"] == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)


def test_oriented_box_extents_follow_a_rotated_rod():
    shape = (12, 80, 80)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    u = np.array([0.0, 0.6, 0.8])  # rod direction in (z, y, x)
    v = np.array([0.0, -0.8, 0.6])
    rel = [z - 5.5, y - 39.5, x - 39.5]
    along = sum(c * g for c, g in zip(u, rel))
    across = sum(c * g for c, g in zip(v, rel))
    rod = (np.abs(along) <= 30) & (np.abs(across) <= 5) & (np.abs(rel[0]) <= 2)
    t = measure(rod, surface=False)
    assert t["extent_major"][0] == pytest.approx(60, rel=0.03)
    assert t["extent_middle"][0] == pytest.approx(10, rel=0.06)
    assert t["extent_minor"][0] == pytest.approx(4, rel=0.03)  # z in 4..7: 4 voxels
    axis = np.array([t[f"axis_{a}"][0] for a in "zyx"])
    assert abs(axis @ u) == pytest.approx(1.0, abs=1e-3)


def test_intensity_statistics_match_numpy(rng):
    labels = sk_label(ndi.gaussian_filter(rng.random((14, 30, 26)), 2) > 0.52)
    image = rng.normal(100, 20, labels.shape).astype(np.float32)
    other = rng.integers(0, 60000, labels.shape, dtype=np.uint16)
    t = measure(
        da.from_array(labels, chunks=(5, 7, 9)),
        {"raw": image, "probs": other},
        surface=False,
    )
    ids = np.unique(labels)[1:]
    assert t["id"].tolist() == ids.tolist()
    for name, arr in (("raw", image), ("probs", other)):
        values = [arr[labels == i].astype(np.float64) for i in ids]
        np.testing.assert_allclose(t[f"{name}_sum"], [v.sum() for v in values], rtol=1e-9)
        np.testing.assert_allclose(t[f"{name}_mean"], [v.mean() for v in values], rtol=1e-9)
        np.testing.assert_allclose(t[f"{name}_std"], [v.std() for v in values], rtol=1e-6)
        np.testing.assert_array_equal(t[f"{name}_min"], [v.min() for v in values])
        np.testing.assert_array_equal(t[f"{name}_max"], [v.max() for v in values])
    centroids = ndi.center_of_mass(np.ones(labels.shape), labels, ids)
    np.testing.assert_allclose(
        np.stack([t["centroid_z"], t["centroid_y"], t["centroid_x"]], 1), centroids
    )
    boxes = ndi.find_objects(labels)
    assert t["bbox_y1"].tolist() == [b[1].stop for b in boxes]
    assert list(t.names) == measurement_names(["raw", "probs"], surface=False)


def test_single_intensity_array_is_named_intensity():
    labels = np.array([[[1, 1, 0, 2]]], dtype=np.uint8)
    t = measure(labels, np.array([[[1.0, 3.0, 9.0, 7.0]]]), surface=False)
    assert t["intensity_mean"].tolist() == [2.0, 7.0]
    assert t["intensity_std"].tolist() == [1.0, 0.0]


def test_empty_labels_give_an_empty_table_with_every_column():
    t = measure(np.zeros((4, 8, 8), np.uint16), {"raw": np.ones((4, 8, 8))})
    assert len(t) == 0
    assert list(t.names) == measurement_names(["raw"])
    assert list(t.names[: len(MEASUREMENTS)]) == list(MEASUREMENTS)
    assert {f"raw_{s}" for s in INTENSITY_STATISTICS} <= set(t.names)


def test_bad_input():
    labels = np.ones((4, 8, 8), np.uint8)
    with pytest.raises(ShapeMismatchError, match=r"\(4, 8, 8\).*\(4, 8, 9\)"):
        measure(labels, np.ones((4, 8, 9)))
    with pytest.raises(TypeError, match="integer"):
        measure(labels.astype(np.float32))
    with pytest.raises(ValueError, match="spacing"):
        measure(labels, spacing=(0, 1, 1))


def test_object_touching_the_border_is_closed_by_it():
    radius = 16.0
    full = ball(radius, (1, 1, 1), offset=(0, 0, 0))
    half = full[full.shape[0] // 2 :]  # cut through the centre by the volume's low z border
    t = measure(half)
    # dome 2 pi r^2 plus the flat disc pi r^2 where the border closes it
    assert t["surface_area"][0] == pytest.approx(3 * np.pi * radius**2, rel=0.04)
    chunked = measure(da.from_array(half, chunks=(5, 11, 13)))
    assert chunked["surface_area"][0] == pytest.approx(t["surface_area"][0], rel=1e-6)
