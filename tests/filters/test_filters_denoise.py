"""Median, total variation, wavelet denoising and Frangi vesselness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from voxelwise import filters
from voxelwise.filters._denoise import ellipsoid_footprint


@pytest.fixture
def step_image(rng) -> tuple[np.ndarray, np.ndarray]:
    clean = np.zeros((16, 32, 32), np.float32)
    clean[4:12, 8:24, 8:24] = 10
    return clean, clean + rng.normal(0, 1, clean.shape).astype(np.float32)


def test_median_removes_an_outlier_and_matches_scipy(rng):
    image = rng.random((10, 12, 14)).astype(np.float32)
    image[5, 6, 7] = 1000
    out = filters.median(image, 1.0)
    assert out[5, 6, 7] < 1.0
    footprint = ellipsoid_footprint(1.5, (2.0, 1.0, 1.0))
    assert footprint.shape == (1, 3, 3)  # 1.5 finest voxels is 0.75 of a z voxel: in-plane only
    expected = ndi.median_filter(image, footprint=footprint, mode="reflect")
    np.testing.assert_array_equal(filters.median(image, 1.5, spacing=(2.0, 1.0, 1.0)), expected)


def test_tv_denoise_matches_skimage_inside_and_removes_noise(rng):
    from skimage.restoration import denoise_tv_chambolle

    clean = np.zeros((24, 24, 24), np.float32)
    clean[6:18, 6:18, 6:18] = 10
    noisy = clean + rng.normal(0, 1, clean.shape).astype(np.float32)
    out = filters.tv_denoise(noisy, 1.0, n_iter=8)
    ref = denoise_tv_chambolle(noisy.astype(np.float64), weight=1.0, eps=0.0, max_num_iter=8)
    inner = (slice(9, -9), slice(9, -9), slice(9, -9))  # beyond the 8 iterations' reach
    assert np.abs(out[inner] - ref[inner]).max() < 1e-4  # borders differ (reflection vs none)
    assert np.abs(out - clean).mean() < 0.5 * np.abs(noisy - clean).mean()

    # stronger weight, lower total variation (once converged)
    def total_variation(u):
        return sum(np.abs(np.diff(u, axis=a)).sum() for a in range(3))

    weak = filters.tv_denoise(noisy, 1.0, n_iter=25)
    strong = filters.tv_denoise(noisy, 5.0, n_iter=25)
    assert total_variation(strong) < 0.95 * total_variation(weak) < 0.2 * total_variation(noisy)
    # anisotropic spacing: coarse-axis differences count less, so z keeps more variation
    aniso = filters.tv_denoise(noisy, 1.0, n_iter=25, spacing=(3.0, 1.0, 1.0))
    assert np.abs(np.diff(aniso, axis=0)).sum() > np.abs(np.diff(weak, axis=0)).sum()


def test_wavelet_denoise_reconstructs_exactly_without_threshold(step_image):
    _, noisy = step_image
    same = filters.wavelet_denoise(noisy, 0.0, levels=3)
    np.testing.assert_allclose(same, noisy, atol=1e-4)


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_wavelet_denoise_removes_noise(step_image, mode):
    clean, noisy = step_image
    out = filters.wavelet_denoise(noisy, mode=mode, k=1.0 if mode == "soft" else 3.0)
    assert np.abs(out - clean).mean() < 0.6 * np.abs(noisy - clean).mean()


def test_wavelet_noise_estimate_is_close_to_the_truth(rng):
    import dask.array as da

    from voxelwise.filters._denoise import WAVELET_DENOISE

    noisy = rng.normal(5.0, 2.0, (24, 48, 48)).astype(np.float32)
    params = WAVELET_DENOISE.normalize({})
    resolved = WAVELET_DENOISE.resolve(da.from_array(noisy, chunks=(8, 16, 16)), params, "sync")
    assert resolved["noise_std"] == pytest.approx(2.0, rel=0.05)


def _tube_and_blob() -> np.ndarray:
    zz, yy, xx = np.mgrid[:24, :40, :40].astype(np.float64)
    tube = np.exp(-((yy - 10) ** 2 + (xx - 10) ** 2) / (2 * 1.5**2))  # along z
    blob = np.exp(-((zz - 12) ** 2 + (yy - 28) ** 2 + (xx - 28) ** 2) / (2 * 1.5**2))
    return tube + blob


def test_frangi_highlights_a_tube_over_a_blob():
    image = _tube_and_blob()
    out = filters.frangi(image, (1.0, 1.5, 2.0), black_ridges=False)
    assert out.dtype == np.float32
    assert out[12, 10, 10] > 0.3
    assert out[12, 28, 28] < 0.2 * out[12, 10, 10]
    assert out[12, 20, 35] < 0.01  # background
    # polarity is honoured: dark-ridge detection ignores bright tubes
    assert filters.frangi(image, (1.0, 1.5, 2.0), black_ridges=True)[12, 10, 10] < 0.01
    inverted = filters.frangi(-image, (1.0, 1.5, 2.0), black_ridges=True)
    np.testing.assert_allclose(inverted, out, atol=1e-6)


def test_frangi_parameters_are_honoured():
    image = _tube_and_blob()
    base = filters.frangi(image, 1.5, black_ridges=False, gamma=0.5)
    # a larger gamma needs more structure: weaker response
    assert filters.frangi(image, 1.5, black_ridges=False, gamma=5.0)[12, 10, 10] < base[12, 10, 10]
    # a very small beta suppresses everything not perfectly tubular; a huge one nothing
    loose = filters.frangi(image, 1.5, black_ridges=False, gamma=0.5, beta=100.0)
    assert loose[12, 28, 28] > base[12, 28, 28]
    # default gamma: half the largest structure over the volume
    auto = filters.frangi(image, 1.5, black_ridges=False)
    assert auto.min() >= 0 and auto.max() <= 1
    assert not np.array_equal(auto, base)
