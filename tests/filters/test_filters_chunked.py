"""Every filter: chunked output (uneven chunks) equals the whole-array output."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi

from voxelwise.errors import ChunkingError
from voxelwise.filters import FILTERS, apply_filter, feature_arrays, load_preset

# Parameters per filter chosen so that halos exceed some chunks (forcing merges) and
# anisotropic spacing is exercised.
PARAMS = {
    "gaussian": {"sigma": 1.6, "spacing": (2.0, 1.0, 1.0)},
    "difference_of_gaussians": {"sigma": 1.0},
    "laplacian_of_gaussian": {"sigma": 1.2, "spacing": (1.5, 1.0, 1.0)},
    "gradient_magnitude": {"sigma": 0.7},
    "hessian_eigenvalues": {"sigma": 1.2, "spacing": (3.0, 1.0, 1.0)},
    "structure_tensor_eigenvalues": {"sigma": 1.5},
    "local_center": {"sigma": 2.0},
    "local_normalize": {"sigma": 2.0},
    "median": {"radius": 1.5},
    "tv_denoise": {"weight": 10.0, "n_iter": 6},
    "wavelet_denoise": {"levels": 2},
    "frangi": {"sigmas": (1.0, 2.0), "black_ridges": False},
    "dilation": {"radius": 2.0, "threshold": 100.0},
    "erosion": {"radius": 1.5, "threshold": 100.0},
    "opening": {"radius": 1.5, "threshold": 100.0},
    "closing": {"radius": 1.5, "threshold": 100.0, "spacing": (2.0, 1.0, 1.0)},
    "distance_transform": {"threshold": 100.0, "max_distance": 5.0},
    "gamma": {"gamma": 0.5},
    "rescale": {},
    "clip": {"low": 50.0, "high": 150.0},
    "threshold": {"value": 100.0},
    "invert": {},
}
CHUNKS = ((5, 9, 9), (13, 13, 14), (10, 20, 7))


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = ndi.gaussian_filter(rng.random((23, 40, 37)) * 200, 1.5)
    return (base + rng.normal(0, 5, base.shape)).astype(np.float32)


def test_every_registered_filter_is_covered():
    assert set(PARAMS) == set(FILTERS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_chunked_equals_whole(image, name):
    spec = FILTERS[name]
    params = PARAMS[name]
    whole = spec.func(image, **params)
    lazy = apply_filter(da.from_array(image, chunks=CHUNKS), name, scheduler="sync", **params)
    assert lazy.dtype == whole.dtype == np.dtype(spec.dtype)
    chunked = lazy.compute(scheduler="sync")
    assert chunked.shape == whole.shape
    if spec.outputs:
        assert whole.shape == (len(spec.outputs), *image.shape)
    scale = max(float(np.abs(whole).max()), 1e-12)
    assert np.abs(chunked.astype(np.float64) - whole).max() <= 1e-5 * scale
    assert np.isfinite(whole).all()


def test_whole_axis_shorter_than_halo(image):
    thin = image[:3]
    lazy = apply_filter(da.from_array(thin, chunks=(1, 16, 16)), "gaussian", sigma=3.0)
    np.testing.assert_allclose(
        lazy.compute(), ndi.gaussian_filter(thin.astype(np.float64), 3.0, mode="reflect"), atol=1e-4
    )


def test_threads_and_numpy_input(image):
    from voxelwise.filters import hessian_eigenvalues

    lazy = apply_filter(image, "hessian_eigenvalues", sigma=1.0)
    assert lazy.shape == (3, *image.shape)
    np.testing.assert_allclose(lazy.compute(), hessian_eigenvalues(image, 1.0), atol=1e-4)


def test_halo_far_larger_than_the_volume_needs_a_clear_error():
    big = da.zeros((512, 512, 512), chunks=(64, 64, 64), dtype=np.float32)
    with pytest.raises(ChunkingError, match="halo"):
        apply_filter(big, "tv_denoise", weight=1.0, n_iter=300)


def test_bank_shares_work_and_matches_the_array_functions(image):
    specs = load_preset("small") + load_preset("default")[-2:]  # adds structure tensor
    arrays = feature_arrays(da.from_array(image, chunks=CHUNKS), specs, spacing=(2.0, 1.0, 1.0))
    names = list(arrays)
    assert names[:6] == [
        "gaussian_s1.0",
        "gradmag_s1.0",
        "log_s1.6",
        "hessian_eig1_s1.6",
        "hessian_eig2_s1.6",
        "hessian_eig3_s1.6",
    ]
    computed = dict(zip(names, da.compute(*arrays.values(), scheduler="sync")))
    from voxelwise import filters

    spacing = (2.0, 1.0, 1.0)
    expected = {
        "gaussian_s1.0": filters.gaussian(image, 1.0, spacing=spacing),
        "gradmag_s1.0": filters.gradient_magnitude(image, 1.0, spacing=spacing),
        "log_s1.6": filters.laplacian_of_gaussian(image, 1.6, spacing=spacing),
        "hessian_eig2_s1.6": filters.hessian_eigenvalues(image, 1.6, spacing=spacing)[1],
        "stensor_eig1_s3.5": filters.structure_tensor_eigenvalues(image, 3.5, spacing=spacing)[0],
    }
    for name, value in expected.items():
        scale = float(np.abs(value).max())
        assert np.abs(computed[name] - value).max() <= 1e-5 * scale, name


def _flyem_crop(shared_data, shape=(24, 48, 40)) -> np.ndarray:
    from PIL import Image

    folder = shared_data / "flyem_medulla_fibsem_neuroproof" / "training_sample2" / "grayscale_maps"
    files = sorted(folder.glob("iso.*.png"))[100 : 100 + shape[0]]
    if len(files) < shape[0]:
        pytest.skip(f"FlyEM slices not found in {folder}")
    return np.stack(
        [np.asarray(Image.open(f))[100 : 100 + shape[1], 60 : 60 + shape[2]] for f in files]
    )


def test_default_bank_on_real_data_is_chunk_invariant(shared_data):
    crop = _flyem_crop(shared_data)
    specs = load_preset("default")
    whole = feature_arrays(da.from_array(crop, chunks=crop.shape), specs)
    chunked = feature_arrays(da.from_array(crop, chunks=(9, 20, 17)), specs)
    a = da.compute(*whole.values())
    b = da.compute(*chunked.values())
    for name, x, y in zip(whole, a, b):
        scale = max(float(np.abs(x).max()), 1e-12)
        assert np.abs(x - y).max() <= 1e-5 * scale, name
    # membranes are dark ridges between bright cells: edges respond strongly
    assert float(np.abs(b[list(chunked).index("gradmag_s1.6")]).mean()) > 1.0


def test_zarr_input_keeps_its_chunks_and_mixes_bank_and_other_filters(tmp_path, image):
    import zarr

    stored = zarr.create_array(
        str(tmp_path / "img.zarr"), shape=image.shape, chunks=(8, 16, 16), dtype=image.dtype
    )
    stored[...] = image
    lazy = apply_filter(stored, "median", radius=1.0)
    assert lazy.chunks[0][0] == 8
    arrays = feature_arrays(stored, ["median:radius=1.0", "gaussian:sigma=1.0"])
    from voxelwise import filters

    np.testing.assert_array_equal(arrays["median_r1.0"].compute(), filters.median(image, 1.0))
    np.testing.assert_allclose(arrays["gaussian_s1.0"].compute(), filters.gaussian(image, 1.0))
