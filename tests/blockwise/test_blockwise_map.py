"""map_chunks: chunked == whole-array, halos, boundaries, channels, dtypes, errors; store_chunks."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import zarr
from scipy import ndimage as ndi

from voxelwise.blockwise import halo_of, map_chunks, store_chunks
from voxelwise.errors import CancelledError, ChunkingError, InvalidVolumeError

SHAPE = (37, 61, 53)
CHUNKS = (10, 17, 20)  # uneven: no axis is a multiple of its chunk


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.random.default_rng(1).random(SHAPE).astype(np.float32)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "constant"])
def test_gaussian_equals_whole_array(volume, mode):
    """boundary= uses scipy.ndimage's mode names and meanings (dask's 'reflect' = scipy's)."""
    image = da.from_array(volume, chunks=CHUNKS)
    # map_chunks' cval fills the halo outside the volume; the filter never sees further
    out = map_chunks(
        ndi.gaussian_filter, image, halo=8, boundary=mode, cval=0.5, sigma=2.0, mode=mode
    )
    expected = ndi.gaussian_filter(volume, 2.0, mode=mode, cval=0.5)
    assert out.shape == SHAPE
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-6)


def test_anisotropic_halo_and_numpy_input(volume):
    out = map_chunks(
        ndi.gaussian_filter, volume, halo=(2, 8, 8), chunks=CHUNKS, sigma=(0.5, 2.0, 2.0)
    )
    expected = ndi.gaussian_filter(volume, (0.5, 2.0, 2.0), mode="reflect")
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-6)
    # without a halo the chunk borders are wrong: the test can tell the difference
    bad = map_chunks(ndi.gaussian_filter, volume, halo=0, chunks=CHUNKS, sigma=2.0)
    assert np.abs(bad.compute() - ndi.gaussian_filter(volume, 2.0)).max() > 1e-3


def test_halo_larger_than_chunks_rechunks_automatically(volume):
    image = da.from_array(volume, chunks=(4, 5, 6))
    out = map_chunks(ndi.gaussian_filter, image, halo=(4, 8, 8), sigma=(1.0, 2.0, 2.0))
    for halo, axis_chunks in zip((4, 8, 8), out.chunks):
        assert min(axis_chunks) >= halo
    expected = ndi.gaussian_filter(volume, (1.0, 2.0, 2.0))
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest"])
def test_halo_larger_than_the_volume(mode):
    """A thin volume (3 slices) with a 3D filter: the short axis is padded like scipy does."""
    image = np.random.default_rng(2).random((3, 40, 40)).astype(np.float32)
    out = map_chunks(
        ndi.gaussian_filter, image, halo=8, boundary=mode, chunks=(1, 7, 9), sigma=2.0, mode=mode
    )
    assert out.chunks[0] == (3,)
    expected = ndi.gaussian_filter(image, 2.0, mode=mode)
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-6)


def test_boundary_none_leaves_outer_blocks_unpadded(volume):
    seen = []

    def record(block):
        seen.append(block.shape)
        return block

    out = map_chunks(record, volume, halo=2, boundary="none", chunks=CHUNKS, dtype=np.float32)
    np.testing.assert_array_equal(out.compute(scheduler="sync"), volume)
    assert (10 + 2, 17 + 2, 20 + 2) in seen  # corner block: halo on the inside only
    assert (10 + 4, 17 + 4, 20 + 4) in seen  # interior block


def test_function_declares_its_halo(volume):
    def smooth(block, sigma=1.0):
        return ndi.gaussian_filter(block, sigma)

    smooth.halo = lambda sigma=1.0: math.ceil(4 * sigma)  # type: ignore[attr-defined]
    assert halo_of(smooth, sigma=2.0) == (8, 8, 8)
    out = map_chunks(smooth, volume, chunks=CHUNKS, sigma=2.0)
    np.testing.assert_allclose(out.compute(), ndi.gaussian_filter(volume, 2.0), atol=1e-6)

    def box(block):
        return ndi.uniform_filter(block, 5)

    box.halo = (2, 2, 2)  # type: ignore[attr-defined]
    out = map_chunks(box, volume, chunks=CHUNKS)
    np.testing.assert_allclose(out.compute(), ndi.uniform_filter(volume, 5), atol=1e-6)
    assert halo_of(np.negative) == (0, 0, 0)


def test_explicit_halo_overrides_declared(volume):
    def f(block):
        return block

    f.halo = 100  # type: ignore[attr-defined]
    out = map_chunks(f, volume, halo=0, chunks=CHUNKS)
    assert out.chunks[0] == (10, 10, 10, 7)  # no rechunk for a halo of 100


def test_channels_first_output(volume):
    def hessian_diagonal(block):
        orders = [(2, 0, 0), (0, 2, 0), (0, 0, 2)]
        return np.stack([ndi.gaussian_filter(block, 1.0, order=o) for o in orders])

    out = map_chunks(hessian_diagonal, volume, halo=5, channels=3, chunks=CHUNKS)
    assert out.shape == (3, *SHAPE)
    assert out.chunks[0] == (3,)
    np.testing.assert_allclose(out.compute(), hessian_diagonal(volume), atol=1e-5)
    with pytest.raises(ChunkingError, match="channels=3"):
        map_chunks(hessian_diagonal, volume, halo=5, chunks=CHUNKS)


def test_several_inputs_with_channels(volume):
    features = np.stack([volume, 2 * volume])  # (C, Z, Y, X)
    mask = volume > 0.5

    def weighted(feats, m):
        return feats.sum(axis=0) * m

    out = map_chunks(weighted, features, mask, chunks=CHUNKS)
    assert out.shape == SHAPE
    np.testing.assert_allclose(out.compute(), 3 * volume * mask, rtol=1e-6)


def test_dtype_inferred_or_given(volume):
    as_uint8 = (volume * 255).astype(np.uint8)
    out = map_chunks(ndi.gaussian_filter, as_uint8, halo=4, chunks=CHUNKS, sigma=1.0)
    assert out.dtype == np.uint8  # scipy keeps the input dtype; found by the probe
    out = map_chunks(
        lambda b: ndi.gaussian_filter(b.astype(np.float32), 1.0),
        as_uint8,
        halo=4,
        dtype=np.float64,
        chunks=CHUNKS,
    )
    assert out.dtype == np.float64
    assert out.compute().dtype == np.float64


def test_trim_false_for_functions_returning_the_interior(volume):
    def core(block, *, margin, sigma):
        full = ndi.gaussian_filter(block, sigma)
        return full[tuple(slice(m, s - m) for m, s in zip(margin, block.shape))]

    out = map_chunks(core, volume, halo=8, trim=False, chunks=CHUNKS, margin=(8, 8, 8), sigma=2.0)
    np.testing.assert_allclose(out.compute(), ndi.gaussian_filter(volume, 2.0), atol=1e-6)
    with pytest.raises(ValueError, match="trim=False"):
        map_chunks(core, volume, halo=8, trim=False, boundary="none", margin=8, sigma=2.0)


def test_bad_inputs_raise_clear_errors(volume):
    with pytest.raises(ValueError, match="halo >= 0"):
        map_chunks(np.negative, volume, halo=-1)
    with pytest.raises(TypeError, match="halo"):
        map_chunks(np.negative, volume, halo=1.5)
    with pytest.raises(ValueError, match="periodic"):
        map_chunks(np.negative, volume, halo=1, boundary="wrap")
    with pytest.raises(ValueError, match="boundary"):
        map_chunks(np.negative, volume, halo=1, boundary="bogus")
    with pytest.raises(InvalidVolumeError, match=r"image\[None\]"):
        map_chunks(np.negative, volume[0])
    with pytest.raises(ValueError, match="shape"):
        map_chunks(np.add, volume, volume[:5])
    with pytest.raises(TypeError, match="callable"):
        map_chunks("gaussian", volume)
    with pytest.raises(TypeError, match="pass dtype="):
        map_chunks(lambda b: b.nope, volume)


def test_wrong_output_shape_is_reported(volume):
    out = map_chunks(lambda b: b[1:], volume, halo=1, dtype=np.float32, chunks=CHUNKS)
    with pytest.raises(ChunkingError, match="shape"):
        out.compute(scheduler="sync")


def _zarr_target(path, shape, chunks, dtype="f4"):
    return zarr.create_array(
        store=zarr.storage.LocalStore(path), shape=shape, chunks=chunks, dtype=dtype
    )


def test_store_chunks_writes_with_monotonic_progress(volume, tmp_path):
    target = _zarr_target(tmp_path / "out.zarr", SHAPE, (16, 32, 32))
    out = map_chunks(ndi.gaussian_filter, volume, halo=4, chunks=CHUNKS, sigma=1.0)
    seen: list[tuple[int, int]] = []
    store_chunks(out, target, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(target[...], ndi.gaussian_filter(volume, 1.0), atol=1e-6)
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert done[-1] == seen[-1][1]
    assert {t for _, t in seen} == {
        math.prod(math.ceil(s / c) for s, c in zip(SHAPE, (16, 32, 32)))
    }


def test_progress_can_cancel(volume, tmp_path):
    target = _zarr_target(tmp_path / "out.zarr", SHAPE, CHUNKS)
    calls = []

    def cancel(done, total):
        calls.append(done)
        if done == 2:
            raise CancelledError("stopped by the user")

    out = map_chunks(ndi.gaussian_filter, volume, halo=4, chunks=CHUNKS, sigma=1.0)
    with pytest.raises(CancelledError):
        store_chunks(out, target, scheduler="sync", progress=cancel)
    assert calls == [1, 2]  # nothing ran after the cancel
    assert target.nchunks_initialized < target.nchunks
