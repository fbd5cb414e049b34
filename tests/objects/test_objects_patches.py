"""Object patches: automatic size, 2D/3D windows read out of core, masks, padding, bad input."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

from voxelwise.analysis import measure
from voxelwise.objects import (
    MIN_INPUT,
    ObjectsError,
    ObjectTooSmallError,
    class_volume,
    extract_patches,
    object_table,
    plan_patches,
    preview_png,
)


def two_objects() -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((10, 64, 64), np.uint16)
    labels[2:5, 10:20, 10:30] = 1  # 3 planes, 10 x 20 in-plane
    labels[6, 40:44, 40:44] = 2  # one plane, 4 x 4
    labels[7:9, 41:43, 41:43] = 2  # smaller pieces on other planes
    image = np.where(labels > 0, 200, 20).astype(np.uint8)
    return image, labels


def test_auto_size_is_context_times_largest_box_and_bins_large_windows():
    _, labels = two_objects()
    table = object_table(labels)
    plan = plan_patches(table, quantile=1.0)
    assert plan.size == (1, 28, 28)  # ceil(1.4 * 20)
    assert plan.bin == (1, 1, 1)
    assert plan.input_shape == (28, 28)
    small = plan_patches(table, quantile=1.0, max_input=MIN_INPUT * 2)  # 28 > 16: bin by 2
    assert small.bin == (1, 2, 2)
    assert small.size == (1, 28, 28)
    assert small.input_shape == (14, 14)
    three = plan_patches(table, ndim=3, quantile=1.0)
    assert three.size[0] == 5  # ceil(1.4 * 3)
    assert three.input_shape == (5, 28, 28)
    assert plan_patches(table, size=(3, 20, 24), ndim=2).size == (1, 20, 24)


def test_quantile_ignores_the_few_largest_objects():
    labels = np.zeros((4, 200, 200), np.uint16)
    for i in range(9):
        labels[1, 10 + 20 * i : 18 + 20 * i, 5:13] = i + 1  # 8 x 8 boxes
    labels[3, :, :] = 10  # one huge object
    table = object_table(labels)
    assert plan_patches(table, quantile=0.9).size[1] == 12  # ceil(1.4 * 8)
    assert plan_patches(table, quantile=1.0).size[1] >= 280


def test_patch_too_small_for_the_network_is_refused():
    _, labels = two_objects()
    table = object_table(labels)
    with pytest.raises(ObjectTooSmallError, match="too small"):
        plan_patches(table, size=4)
    with pytest.raises(ObjectsError, match="ndim"):
        plan_patches(table, ndim=4)
    empty = object_table(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ObjectsError, match="no objects"):
        plan_patches(empty)


def test_2d_patch_lies_on_the_largest_plane_with_the_object_mask():
    image, labels = two_objects()
    table = object_table(labels)
    plan = plan_patches(table, size=16)
    patches = extract_patches(image, labels, plan, table=table)
    assert patches.patches.shape == (2, 2, 16, 16)
    assert patches.ids.tolist() == [1, 2]
    # object 2 is largest on plane 6 (16 voxels) and centred in its window
    assert patches.origins[1].tolist() == [6, 34, 34]
    mask = patches.patches[1, 1]
    assert mask.sum() == 16
    assert mask[6:10, 6:10].all()
    # object 1 (10 x 20) is cut to the 16 x 16 window: its mask fills the rows it covers
    assert patches.patches[0, 1].sum() == 10 * 16
    # the image channel holds the raw values
    assert patches.patches[1, 0].max() == 200
    assert patches.patches[1, 0].min() == 20


def test_other_objects_are_not_in_the_mask_and_dilation_adds_a_rim():
    image, labels = two_objects()
    labels[6, 40:44, 44:48] = 3  # touches object 2
    table = object_table(labels)
    plan = plan_patches(table, size=16)
    p = extract_patches(image, labels, plan, table=table, ids=[2])
    assert p.patches[0, 1].sum() == 16
    dilated = plan_patches(table, size=16, dilate=1)
    q = extract_patches(image, labels, dilated, table=table, ids=[2])
    assert q.patches[0, 1].sum() == 16 + 16  # one-voxel cross rim of a 4 x 4 square


def test_windows_leaving_the_volume_are_padded():
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[1, 0:4, 0:4] = 1
    image = np.arange(3 * 20 * 20, dtype=np.float32).reshape(3, 20, 20)
    table = object_table(labels)
    plan = plan_patches(table, ndim=3, size=(3, 12, 12))
    p = extract_patches(image, labels, plan, table=table)
    assert p.patches.shape == (1, 2, 3, 12, 12)
    assert p.origins[0].tolist() == [0, -4, -4]
    mask = p.patches[0, 1]
    assert mask.sum() == 16
    assert mask[1, 4:8, 4:8].all()
    # edge padding repeats the border values of the image
    assert p.patches[0, 0, 1, 0, 4] == image[1, 0, 0]


def test_numpy_dask_and_zarr_inputs_give_the_same_patches(tmp_path):
    image, labels = two_objects()
    z_img = zarr.open_array(
        tmp_path / "i.zarr", mode="w", shape=image.shape, chunks=(4, 32, 32), dtype=image.dtype
    )
    z_img[:] = image
    z_lab = zarr.open_array(
        tmp_path / "l.zarr", mode="w", shape=labels.shape, chunks=(4, 32, 32), dtype=labels.dtype
    )
    z_lab[:] = labels
    table = object_table(labels)
    plan = plan_patches(table, size=20, max_input=10)
    ref = extract_patches(image, labels, plan, table=table)
    assert ref.patches.shape == (2, 2, 10, 10)  # binned by 2: block means
    for img, lab in (
        (z_img, z_lab),
        (da.from_array(image, chunks=(3, 16, 16)), da.from_array(labels, chunks=(5, 20, 20))),
    ):
        got = extract_patches(img, lab, plan, table=table, batch=1)
        np.testing.assert_array_equal(got.patches, ref.patches)
    half = ref.patches[1, 1]
    assert set(np.unique(half).tolist()) <= {0.0, 0.25, 0.5, 0.75, 1.0}


def test_small_objects_are_skipped_and_unknown_ids_refused():
    image, labels = two_objects()
    table = object_table(labels)
    plan = plan_patches(table, size=16)
    p = extract_patches(image, labels, plan, table=table, min_size=100)
    assert p.ids.tolist() == [1]
    assert p.skipped.tolist() == [2]
    with pytest.raises(ObjectsError, match="No object with id 7"):
        extract_patches(image, labels, plan, table=table, ids=[1, 7])
    with pytest.raises(ObjectsError, match="match voxel for voxel"):
        extract_patches(image[:, :32], labels, plan, table=table)
    with pytest.raises(TypeError, match="as an array"):
        extract_patches([1, 2], labels, plan)


def test_class_volume_paints_each_object_with_its_class_chunk_by_chunk():
    _, labels = two_objects()
    table = measure(labels, surface=False)
    table["class"] = np.array([3, 0])
    out = class_volume(da.from_array(labels, chunks=(3, 17, 17)), table).compute()
    assert out.dtype == np.uint8
    assert (out[labels == 1] == 3).all()
    assert (out[labels != 1] == 0).all()


def test_preview_png_is_drawn(tmp_path):
    from PIL import Image

    image, labels = two_objects()
    table = object_table(labels)
    p = extract_patches(image, labels, plan_patches(table, size=16), table=table)
    path = preview_png(p, tmp_path / "p.png", columns=2)
    with Image.open(path) as im:
        pixels = np.asarray(im)
    assert pixels.shape[2] == 3
    assert (pixels == [255, 64, 32]).all(axis=2).any()  # the orange outline is drawn
