"""Instances: components of a label, small-object removal, hole filling, watershed, id edits."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import label as sk_label

from voxelwise.analysis import (
    connected_components,
    delete_objects,
    fill_holes,
    merge_objects,
    object_sizes,
    remove_small_objects,
    split_objects,
    watershed_split,
)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label images are equal up to a permutation of the ids (0 fixed)."""
    if not np.array_equal(a == 0, b == 0):
        return False
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def two_balls(gap: float = 14.0, radius: float = 8.0, shape=(20, 24, 44)) -> np.ndarray:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    cz, cy, cx = shape[0] / 2, shape[1] / 2, 12.0
    first = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
    second = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx - gap) ** 2 <= radius**2
    return first | second


@pytest.fixture
def classes(rng):
    smooth = ndi.gaussian_filter(rng.random((16, 40, 36)), 2)
    return np.digitize(smooth, np.quantile(smooth, [0.4, 0.7])).astype(np.uint8)  # 0, 1, 2


def test_components_of_one_label_and_of_every_label(classes):
    arr = da.from_array(classes, chunks=(5, 13, 11))
    labels, n = connected_components(arr, value=2)
    expected = sk_label(classes == 2, connectivity=1)
    assert n == expected.max()
    assert same_partition(labels.compute(), expected)

    labels, n = connected_components(arr, by_value=True, connectivity=2)
    expected = sk_label(classes, connectivity=2, background=0)
    assert n == expected.max()
    assert same_partition(labels.compute(), expected)

    union, n_union = connected_components(arr, value=[1, 2])
    assert n_union == sk_label(classes > 0, connectivity=1).max()
    assert union.dtype == np.uint32


def test_components_bad_value(classes):
    with pytest.raises(ValueError, match="leave 0 out"):
        connected_components(classes, value=[0, 1], by_value=True)
    with pytest.raises(TypeError, match="label"):
        connected_components(classes, value=1.5)


def test_object_sizes_and_remove_small_objects(classes):
    labels = sk_label(classes == 1)
    ids, sizes = object_sizes(da.from_array(labels, chunks=(4, 9, 10)))
    np.testing.assert_array_equal(ids, np.unique(labels)[1:])
    np.testing.assert_array_equal(sizes, np.bincount(labels.ravel())[1:])

    min_size = int(np.median(sizes))
    out = remove_small_objects(da.from_array(labels, chunks=(4, 9, 10)), min_size).compute()
    assert out.dtype == labels.dtype
    kept = set(np.unique(out)) - {0}
    assert kept == set(ids[sizes >= min_size].tolist())
    assert np.array_equal(out[out > 0], labels[out > 0])  # survivors keep their ids


def test_remove_small_objects_on_a_mask(classes):
    mask = classes == 1
    out = remove_small_objects(da.from_array(mask, chunks=(4, 9, 10)), 40).compute()
    assert out.dtype == bool
    comps = sk_label(mask, connectivity=1)
    big = np.isin(comps, np.flatnonzero(np.bincount(comps.ravel()) >= 40))
    np.testing.assert_array_equal(out, big & mask)


def test_fill_holes_equals_scipy_on_a_mask_for_any_chunking(rng):
    mask = ndi.binary_opening(rng.random((18, 30, 34)) > 0.3)
    expected = ndi.binary_fill_holes(mask)
    assert (expected != mask).sum() > 5  # the test data has holes
    for chunks in ((18, 30, 34), (5, 7, 9)):
        out = fill_holes(da.from_array(mask, chunks=chunks)).compute()
        assert out.dtype == bool
        np.testing.assert_array_equal(out, expected)


def test_fill_holes_fills_per_object_not_between_objects():
    labels = np.zeros((7, 9, 16), np.uint16)
    labels[1:6, 1:8, 1:7] = 3  # a cube with a cavity
    labels[3, 4, 3] = 0
    labels[1:6, 1:8, 9:15] = 8  # a second cube with a cavity ...
    labels[3, 3:6, 11:13] = 0
    labels[3, 3:6, 12] = 9  # ... half filled by object 9: the rest touches 8 and 9
    out = fill_holes(da.from_array(labels, chunks=(3, 4, 5))).compute()
    assert out[3, 4, 3] == 3
    assert out[3, 4, 11] == 0  # touches objects 8 and 9: not a hole of one object
    assert np.array_equal(out[labels != 0], labels[labels != 0])


def test_watershed_splits_two_touching_balls():
    balls = two_balls()
    assert ndi.label(balls)[1] == 1  # they touch
    labels, n = watershed_split(balls, min_distance=4)
    out = labels.compute()
    assert n == 2
    np.testing.assert_array_equal(out > 0, balls)
    left, right = out[10, 12, 12], out[10, 12, 26]
    assert {left, right} == {1, 2}
    sizes = np.bincount(out.ravel())[1:]
    assert abs(int(sizes[0]) - int(sizes[1])) < 0.1 * sizes.sum()


def test_watershed_is_chunk_invariant_for_objects_within_the_halo():
    balls = two_balls() | np.roll(two_balls(gap=12, radius=6), 11, axis=1)
    whole, n = watershed_split(balls, min_distance=3)
    chunked, m = watershed_split(da.from_array(balls, chunks=(7, 9, 11)), min_distance=3)
    assert n == m >= 3
    assert same_partition(whole.compute(), chunked.compute())


def test_watershed_with_anisotropic_spacing_and_no_seed_loss():
    balls = two_balls(shape=(20, 24, 44))[::2]  # every other section: spacing (2, 1, 1)
    labels, n = watershed_split(balls, min_distance=4, spacing=(2, 1, 1))
    out = labels.compute()
    assert n == 2
    np.testing.assert_array_equal(out > 0, balls)
    with pytest.raises(ValueError, match="min_distance"):
        watershed_split(balls, min_distance=0)


def test_merge_delete_and_split_by_id():
    labels = np.zeros((1, 4, 8), np.uint8)
    labels[0, 0] = [1, 1, 0, 2, 2, 0, 3, 3]
    labels[0, 2] = [4, 4, 4, 0, 4, 4, 0, 5]
    arr = da.from_array(labels, chunks=(1, 2, 3))

    merged = merge_objects(arr, [[2, 3], [4, 5]]).compute()
    assert merged[0, 0].tolist() == [1, 1, 0, 2, 2, 0, 2, 2]
    assert merged[0, 2].tolist() == [4, 4, 4, 0, 4, 4, 0, 4]
    assert merge_objects(arr, {7: [1, 2]}).compute()[0, 0, :5].tolist() == [7, 7, 0, 7, 7]
    with pytest.raises(ValueError, match="two merge groups"):
        merge_objects(arr, [[1, 2], [2, 3]])

    deleted = delete_objects(arr, [1, 5]).compute()
    assert deleted[0, 0].tolist() == [0, 0, 0, 2, 2, 0, 3, 3]
    assert deleted[0, 2, 7] == 0

    out, new = split_objects(arr, 4)
    out = out.compute()
    assert new.tolist() == [6, 7]
    assert out[0, 2].tolist() == [6, 6, 6, 0, 7, 7, 0, 5]
    assert np.array_equal(out[0, 0], labels[0, 0])


def test_split_by_watershed_keeps_other_objects():
    balls = two_balls()
    labels = balls.astype(np.uint16) * 5
    labels[0:3, 0:3, 0:3] = 2
    out, new = split_objects(da.from_array(labels, chunks=(10, 12, 22)), [5], min_distance=4)
    out = out.compute()
    assert new.tolist() == [6, 7]
    assert set(np.unique(out).tolist()) == {0, 2, 6, 7}
    assert (out[0:3, 0:3, 0:3] == 2).all()
    assert {out[10, 12, 12], out[10, 12, 26]} == {6, 7}


def test_edits_refuse_masks():
    with pytest.raises(TypeError, match="connected_components"):
        merge_objects(np.ones((2, 2, 2), bool), [[1, 2]])
