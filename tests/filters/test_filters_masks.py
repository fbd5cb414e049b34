"""Morphology, distance transform and point operations: exact values."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

from voxelwise import filters
from voxelwise.filters._denoise import ellipsoid_footprint


def _ball(shape, radius, spacing=(1.0, 1.0, 1.0)):
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - (n - 1) / 2) * s) ** 2 for g, n, s in zip(grids, shape, spacing))
    return d2 < radius**2


@pytest.mark.parametrize("spacing", [None, (2.0, 1.0, 1.0)])
def test_dilation_and_erosion_match_scipy_with_a_ball(rng, spacing):
    mask = rng.random((20, 24, 24)) > 0.93
    footprint = ellipsoid_footprint(2.5, spacing)
    dil = filters.dilation(mask, 2.5, spacing=spacing)
    assert dil.dtype == np.uint8
    np.testing.assert_array_equal(dil, ndi.binary_dilation(mask, footprint))
    dense = rng.random((20, 24, 24)) > 0.1
    ero = filters.erosion(dense, 1.5, spacing=spacing)
    # borders by reflection: the faces are not eroded (scipy's border_value=1)
    np.testing.assert_array_equal(
        ero, ndi.binary_erosion(dense, ellipsoid_footprint(1.5, spacing), border_value=1)
    )


def test_opening_removes_specks_and_closing_fills_holes():
    solid = np.zeros((20, 20, 20), np.uint8)
    solid[4:16, 4:16, 4:16] = 1
    specks = solid.copy()
    specks[1, 1, 1] = specks[18, 2, 17] = 1
    opened = filters.opening(specks, 1.5)
    assert opened[1, 1, 1] == opened[18, 2, 17] == 0
    np.testing.assert_array_equal(
        opened, ndi.binary_opening(specks, ellipsoid_footprint(1.5, None))
    )
    assert opened[5:15, 5:15, 5:15].all()
    holes = solid.copy()
    holes[10, 10, 10] = holes[8, 9, 7] = 0
    np.testing.assert_array_equal(filters.closing(holes, 1.5), solid)


def test_threshold_selects_the_mask_of_intensities_and_labels():
    labels = np.zeros((6, 6, 6), np.int32)
    labels[1:3, 1:3, 1:3] = 7
    labels[4, 4, 4] = 2**30 + 1  # larger than float32 represents exactly
    assert int(filters.dilation(labels, 1.0, threshold=2**30).sum()) == 7
    grey = np.linspace(0, 255, 6 * 6 * 6).reshape(6, 6, 6)
    assert int(filters.erosion(grey, 1.0, threshold=300).sum()) == 0


@pytest.mark.parametrize(
    ("spacing", "radius", "expected"),
    [(None, 6.0, 6.0), ((2.0, 1.0, 1.0), 8.0, 8.0), ((4.0, 2.0, 2.0), 16.0, 8.0)],
)
def test_distance_transform_of_a_ball_is_its_radius_at_the_centre(spacing, radius, expected):
    # physical radius ``radius``; distances come in voxels of the finest axis
    sp = spacing or (1.0, 1.0, 1.0)
    shape = tuple(int(2 * radius / s) + 5 for s in sp)
    shape = tuple(n if n % 2 else n + 1 for n in shape)
    ball = _ball(shape, radius, sp)
    out = filters.distance_transform(ball, max_distance=50.0, spacing=spacing)
    centre = tuple(n // 2 for n in shape)
    assert out[centre] == pytest.approx(expected, abs=1e-5)
    assert out[~ball].max() == 0
    capped = filters.distance_transform(ball, max_distance=3.0, spacing=spacing)
    assert capped.max() == 3.0
    np.testing.assert_array_equal(capped, np.minimum(out, 3.0))


def test_distance_transform_chunked_with_a_big_object():
    ball = _ball((40, 40, 40), 15.0)
    lazy = filters.apply_filter(
        da.from_array(ball, chunks=(7, 13, 11)), "distance_transform", max_distance=10.0
    )
    np.testing.assert_array_equal(
        lazy.compute(), filters.distance_transform(ball, max_distance=10.0)
    )


def test_point_operations_exact():
    image = np.array([[[0, 51, 102, 204, 255]]], np.uint8)
    assert filters.threshold(image, 100).tolist() == [[[0, 0, 1, 1, 1]]]
    assert filters.threshold(image, 102).tolist() == [[[0, 0, 0, 1, 1]]]
    assert filters.invert(image).tolist() == [[[255, 204, 153, 51, 0]]]
    assert filters.invert(image, in_range=(0, 1000)).tolist() == [[[1000, 949, 898, 796, 745]]]
    np.testing.assert_allclose(filters.rescale(image), [[[0, 0.2, 0.4, 0.8, 1.0]]], atol=1e-7)
    np.testing.assert_allclose(
        filters.rescale(image, (51, 204), out_range=(-1, 1)), [[[-1, -1, -1 / 3, 1, 1]]], atol=1e-6
    )
    np.testing.assert_allclose(filters.gamma(image, 2.0), [[[0, 0.04, 0.16, 0.64, 1.0]]], atol=1e-6)
    np.testing.assert_allclose(
        filters.gamma(image, 0.5), np.sqrt([[[0, 0.2, 0.4, 0.8, 1]]]), atol=1e-6
    )
    assert filters.clip(image, 60, high=210).tolist() == [[[60, 60, 102, 204, 210]]]
    assert filters.clip(image, high=100).tolist() == [[[0, 51, 100, 100, 100]]]
    for func in (filters.gamma, filters.rescale, filters.clip, filters.invert):
        kw = {"low": 0} if func is filters.clip else {}
        assert func(image, **kw).dtype == np.float32


def test_point_operations_use_the_global_range_when_chunked(rng):
    image = rng.normal(100, 30, (12, 16, 16)).astype(np.float32)
    image[0, 0, 0] = np.nan
    lazy = filters.apply_filter(da.from_array(image, chunks=(5, 7, 9)), "rescale")
    out = lazy.compute()
    finite = np.isfinite(out)
    assert np.nanmin(out) == 0.0 and np.nanmax(out) == 1.0
    np.testing.assert_array_equal(out[finite], filters.rescale(image)[finite])
