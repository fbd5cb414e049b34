"""Known analytic responses of the Gaussian family on synthetic shapes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from voxelwise import filters
from voxelwise.filters._derivs import eigvalsh3, gaussian_kernel


def _grid(shape):
    return np.mgrid[tuple(slice(0, n) for n in shape)].astype(np.float64)


def _ball(shape, centre, radius, spacing=(1.0, 1.0, 1.0)):
    zz, yy, xx = _grid(shape)
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip((zz, yy, xx), centre, spacing))
    return d2 < radius**2


def _blob(shape=(21, 21, 21), width=2.0):
    zz, yy, xx = _grid(shape)
    c = [(n - 1) / 2 for n in shape]
    return np.exp(-((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2) / (2 * width**2))


def test_gaussian_of_delta_sums_to_one_with_anisotropic_variance():
    delta = np.zeros((31, 31, 31), np.float32)
    delta[15, 15, 15] = 1
    out = filters.gaussian(delta, 2.0, spacing=(2.0, 1.0, 1.0))
    assert out.dtype == np.float32
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    zz, yy, xx = _grid(out.shape) - 15
    variances = [float((out * g**2).sum()) for g in (zz, yy, xx)]
    # sigma 2 (finest-axis voxels) is 1 voxel along z, whose voxels are twice as thick
    assert variances == pytest.approx([1.0, 4.0, 4.0], rel=2e-3)


def test_gaussian_matches_scipy_reflect():
    image = np.random.default_rng(1).random((12, 20, 17)).astype(np.float32)
    expected = ndi.gaussian_filter(image.astype(np.float64), 1.3, mode="reflect")
    np.testing.assert_allclose(filters.gaussian(image, 1.3), expected, atol=1e-5)


def test_two_dimensional_input_keeps_its_shape():
    image = np.random.default_rng(2).random((20, 30))
    out = filters.gaussian(image, 1.0)
    assert out.shape == (20, 30)
    np.testing.assert_allclose(out, ndi.gaussian_filter(image, 1.0, mode="reflect"), atol=1e-5)
    assert filters.hessian_eigenvalues(image, 1.0).shape == (3, 20, 30)
    # (y, x) spacing for a 2D image: y pixels twice as long get half the sigma in pixels
    out = filters.gaussian(image, 2.0, spacing=(2.0, 1.0))
    expected = ndi.gaussian_filter(image, (1.0, 2.0), mode="reflect")
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_log_and_dog_signs_at_a_bright_blob():
    blob = _blob(width=2.0)
    log = filters.laplacian_of_gaussian(blob, 2.0)
    dog = filters.difference_of_gaussians(blob, 2.0)
    assert log[10, 10, 10] < 0 and log[10, 10, 10] == log.min()
    assert dog[10, 10, 10] > 0 and dog[10, 10, 10] == dog.max()
    assert filters.laplacian_of_gaussian(-blob, 2.0)[10, 10, 10] > 0


@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0), (3.0, 1.0, 1.0)])
def test_gradient_magnitude_of_a_linear_ramp_is_the_slope(spacing):
    # the slope is per voxel of the finest axis along x (x is always a finest axis here)
    ramp = np.broadcast_to(0.5 * np.arange(40.0), (20, 24, 40))
    out = filters.gradient_magnitude(ramp, 1.5, spacing=spacing)
    np.testing.assert_allclose(out[:, :, 8:-8], 0.5, rtol=1e-5)


def test_gradient_along_a_coarse_axis_is_per_finest_voxel():
    # intensity rises 3 per z voxel; z voxels are 3 units thick, the finest axis 1: slope 1
    ramp = np.broadcast_to(3.0 * np.arange(16.0)[:, None, None], (16, 12, 12))
    out = filters.gradient_magnitude(ramp, 1.0, spacing=(3.0, 1.0, 1.0))
    np.testing.assert_allclose(out[4:-4], 1.0, rtol=1e-5)
    # small per-axis sigmas (here 1/3 voxel along z) stay meaningful: central differences
    assert gaussian_kernel(0.05, 1, 1) == pytest.approx([0.5, 0.0, -0.5])
    assert gaussian_kernel(0.05, 2, 1) == pytest.approx([1.0, -2.0, 1.0])


def test_hessian_eigenvalues_of_line_plate_and_blob():
    shape = (25, 25, 25)
    zz, yy, xx = _grid(shape) - 12
    line = np.exp(-(yy**2 + xx**2) / 8)  # bright line along z
    plate = np.exp(-(zz**2) / 8)  # bright plate z = 12
    blob = np.exp(-(zz**2 + yy**2 + xx**2) / 8)
    scale = 2.0
    e_line = filters.hessian_eigenvalues(line, scale)[:, 12, 12, 12]
    e_plate = filters.hessian_eigenvalues(plate, scale)[:, 12, 12, 12]
    e_blob = filters.hessian_eigenvalues(blob, scale)[:, 12, 12, 12]
    assert list(e_line) == sorted(e_line, reverse=True)
    big = abs(e_line[2])
    assert abs(e_line[0]) < 1e-3 * big and e_line[1] < -0.5 * big and e_line[2] < 0
    assert abs(e_plate[0]) < 1e-3 * abs(e_plate[2]) and abs(e_plate[1]) < 1e-3 * abs(e_plate[2])
    assert e_plate[2] < 0
    assert (e_blob < 0).all()
    assert e_blob[0] == pytest.approx(e_blob[2], rel=1e-3)


def test_structure_tensor_of_a_ramp_has_one_nonzero_eigenvalue():
    ramp = np.broadcast_to(2.0 * np.arange(30.0), (16, 20, 30))
    ev = filters.structure_tensor_eigenvalues(ramp, 2.0)[:, 8, 10, 15]
    assert ev == pytest.approx([4.0, 0.0, 0.0], abs=1e-4)
    noise = np.random.default_rng(3).random((16, 20, 24))
    ev = filters.structure_tensor_eigenvalues(noise, 1.5)
    assert (ev[0] >= ev[1]).all() and (ev[1] >= ev[2]).all()
    assert ev.min() > -1e-5


def test_local_center_and_normalize():
    rng = np.random.default_rng(4)
    flat = np.full((8, 9, 10), 42.0)
    assert np.abs(filters.local_center(flat, 2.0)).max() < 1e-4
    assert np.abs(filters.local_normalize(flat, 2.0)).max() < 1e-1
    # contrast that varies across the volume is equalised
    image = rng.normal(0, 1, (24, 24, 48)) * np.linspace(1, 50, 48)
    out = filters.local_normalize(image, 3.0)
    left, right = out[:, :, 4:16].std(), out[:, :, 32:44].std()
    assert 0.7 < left < 1.3 and 0.7 < right < 1.3
    centred = filters.local_center(image, 3.0)
    expected = image - ndi.gaussian_filter(image, 3.0, mode="reflect")
    np.testing.assert_allclose(centred, expected, atol=1e-3)


def test_eigvalsh3_matches_numpy():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(6, 4000)).astype(np.float32)
    a[:, :10] = 0  # zero matrices
    a[3:, 10:20] = 0  # diagonal, with repeated values below
    a[1, 10:20] = a[0, 10:20]
    a[:, 20:30] *= 1e6  # scale-free
    m = np.zeros((4000, 3, 3))
    for (i, j), k in zip([(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)], range(6)):
        m[:, i, j] = m[:, j, i] = a[k]
    expected = np.linalg.eigvalsh(m)[:, ::-1].T
    got = eigvalsh3(*a)
    scale = np.abs(m).max(axis=(1, 2)) + 1e-30
    assert (np.abs(got - expected) / scale).max() < 1e-5
    assert got.shape == (3, 4000)
