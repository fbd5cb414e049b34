"""Patch grids and weighted stitching: coverage, identity, seams, zarr accumulation, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import zarr
from scipy import ndimage as ndi

from voxelwise.blockwise import WINDOWS, PatchGrid, Stitcher, map_patches, stitch, window
from voxelwise.errors import CancelledError, ChunkingError

SHAPE = (21, 70, 53)


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.random.default_rng(7).random(SHAPE).astype(np.float32)


@pytest.mark.parametrize(
    ("shape", "patch", "overlap"),
    [
        (SHAPE, (8, 32, 32), (2, 8, 8)),
        (SHAPE, (21, 70, 53), 0),
        ((5, 100, 9), (1, 33, 4), (0, 10, 3)),
    ],
)
def test_grid_covers_the_volume_inside_with_the_overlap(shape, patch, overlap):
    grid = PatchGrid(shape, patch, overlap=overlap)
    covered = np.zeros(shape, dtype=np.int32)
    for i, p in enumerate(grid):
        assert p.index == i
        assert grid[i] == p
        assert p.shape == tuple(patch)  # volume larger than the patch: never clipped
        assert all(a >= 0 and b <= s for a, b, s in zip(p.start, p.stop, shape))
        covered[p.slices] += 1
    assert covered.min() >= 1
    assert len(grid) == np.prod(grid.counts)
    for positions, size, p, o in zip(grid.positions, shape, patch, grid.overlap):
        assert positions[0] == 0
        assert positions[-1] == size - p
        assert all(b - a <= p - o for a, b in itertools.pairwise(positions))


def test_grid_defaults_and_volume_smaller_than_patch():
    assert PatchGrid((64, 64, 64), 32).overlap == (8, 8, 8)
    grid = PatchGrid((5, 30, 100), (16, 64, 64), overlap=(0, 0, 16))
    assert grid.counts == (1, 1, 2)
    first = grid[0]
    assert first.shape == (5, 30, 64)  # clipped to the volume ...
    assert first.padding == ((5, 6), (17, 17), (0, 0))  # ... and padding says how to fill it
    image = np.arange(5 * 30 * 100, dtype=np.float32).reshape(5, 30, 100)
    block = grid.read(image, first)
    assert block.shape == (16, 64, 64)
    np.testing.assert_array_equal(block[5:10, 17:47], image[:, :, :64])
    np.testing.assert_array_equal(block[4], block[5])  # reflect: d c b a | a b c d
    assert grid.read(image, 0, boundary="none").shape == (5, 30, 64)
    assert grid.read(np.stack([image, image]), 1).shape == (2, 16, 64, 64)


def test_grid_errors():
    with pytest.raises(ChunkingError, match="overlap smaller"):
        PatchGrid((10, 10, 10), 4, overlap=4)
    with pytest.raises(ValueError, match="patch_size >= 1"):
        PatchGrid((10, 10, 10), (0, 4, 4))
    with pytest.raises(TypeError, match="three ints"):
        PatchGrid((10, 10), 4)
    with pytest.raises(IndexError):
        PatchGrid((10, 10, 10), 4)[1000]


def test_windows_positive_and_peaked():
    for kind in WINDOWS:
        for n in (1, 2, 7, 64):
            w = window(kind, n)
            assert w.shape == (n,)
            assert (w > 0).all()
            assert w.max() == 1.0
            np.testing.assert_allclose(w, w[::-1])
    with pytest.raises(ValueError, match="window"):
        window("hamming", 8)


@pytest.mark.parametrize("kind", WINDOWS)
def test_stitching_identity_patches_reproduces_the_input(volume, kind):
    grid = PatchGrid(SHAPE, (8, 32, 24), overlap=(3, 10, 5))
    result = stitch(grid, ((p, volume[p.slices]) for p in grid), window=kind)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, volume, rtol=1e-5, atol=1e-6)


def test_stitching_with_channels_and_padded_predictions(volume):
    small = volume[:4]
    grid = PatchGrid(small.shape, (8, 32, 32), overlap=(2, 8, 8))  # z: volume < patch
    stitcher = Stitcher(grid, channels=2)
    for p in grid:
        patch = grid.read(small, p)  # padded to (8, 32, 32)
        stitcher.add(p, np.stack([patch, -patch]))
    result = stitcher.result()
    assert result.shape == (2, *small.shape)
    np.testing.assert_allclose(result[0], small, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result[1], -small, rtol=1e-5, atol=1e-6)


def test_blending_reduces_seams():
    """A filter run per patch is wrong near patch borders; blended overlaps hide that."""
    image = ndi.gaussian_filter(np.random.default_rng(0).random((12, 96, 96)), 2).astype(np.float32)

    def smooth(patch):
        return ndi.gaussian_filter(patch, 2.0, mode="constant")

    expected = smooth(image)
    errors = {}
    for overlap, kind in [(0, "uniform"), (16, "uniform"), (16, "cosine")]:
        out = map_patches(smooth, image, (12, 48, 48), overlap=(0, overlap, overlap), window=kind)
        errors[(overlap, kind)] = np.abs(out - expected).max()
    assert errors[(16, "cosine")] < 0.1 * errors[(0, "uniform")]
    assert errors[(16, "cosine")] < 0.1 * errors[(16, "uniform")]


def test_stitching_into_zarr_in_place(volume, tmp_path):
    grid = PatchGrid(SHAPE, (8, 32, 32), overlap=(2, 8, 8))
    out = zarr.create_array(
        store=zarr.storage.LocalStore(tmp_path / "p.zarr"),
        shape=(2, *SHAPE),
        chunks=(1, 8, 16, 16),
        dtype="f4",
    )
    out[...] = 99.0  # stale content from an earlier run is not accumulated
    seen: list[tuple[int, int]] = []
    stitcher = Stitcher(grid, channels=2, window="gaussian", out=out)
    for p in grid:
        stitcher.add(p.index, np.stack([volume[p.slices], 2 * volume[p.slices]]))
    assert stitcher.result(progress=lambda d, t: seen.append((d, t))) is out
    np.testing.assert_allclose(out[0], volume, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], 2 * volume, rtol=1e-5, atol=1e-6)
    assert seen
    assert seen[-1][0] == seen[-1][1]
    assert stitcher.result() is out  # idempotent: normalised once


def test_stitcher_checks_its_use(volume):
    grid = PatchGrid(SHAPE, (8, 32, 32))
    stitcher = Stitcher(grid)
    stitcher.add(0, volume[grid[0].slices])
    with pytest.raises(ValueError, match="added already"):
        stitcher.add(0, volume[grid[0].slices])
    with pytest.raises(ValueError, match="shape"):
        stitcher.add(1, np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="channels="):
        stitcher.add(1, np.zeros((2, 8, 32, 32)))
    assert stitcher.remaining == len(grid) - 1
    with pytest.raises(ChunkingError, match="not added"):
        stitcher.result()
    with pytest.raises(TypeError, match="floating-point"):
        Stitcher(grid, out=np.zeros(SHAPE, dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        Stitcher(grid, out=np.zeros((3, 3, 3), dtype=np.float32))


def test_map_patches_progress_and_cancel(volume):
    seen: list[tuple[int, int]] = []
    out = map_patches(np.negative, volume, (8, 32, 32), progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(out, -volume, rtol=1e-5, atol=1e-6)
    assert [d for d, _ in seen] == list(range(1, seen[-1][1] + 1))

    calls = []

    def cancel(done, total):
        calls.append(done)
        if done == 2:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        map_patches(np.negative, volume, (8, 32, 32), progress=cancel)
    assert calls == [1, 2]
