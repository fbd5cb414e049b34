"""SLIC and seeded-watershed supervoxels: unique, consecutive, connected ids over chunked volumes."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr
from scipy import ndimage as ndi
from skimage.measure import label as cc_label

from voxelwise.data import synthetic_em
from voxelwise.errors import InvalidVolumeError
from voxelwise.supervoxels import seeded_watershed, slic

METHODS = {"slic": slic, "watershed": seeded_watershed}


@pytest.fixture(scope="module")
def volume():
    return synthetic_em((12, 72, 80), rng=3)


def check_partition(labels: np.ndarray, n: int, *, background: bool = False) -> None:
    """Ids are exactly 1..n, and every id is one 6-connected region."""
    ids = np.unique(labels)
    expected = np.arange(0 if background else 1, n + 1)
    np.testing.assert_array_equal(ids, expected)
    pieces = cc_label(labels, background=0, connectivity=1)
    assert pieces.max() == n, "some id spans disconnected regions"
    # every connected piece carries one id, and every id one piece
    pairs = np.unique(np.stack([pieces[labels > 0], labels[labels > 0]]), axis=1)
    assert pairs.shape[1] == n


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("chunks", [(12, 72, 80), (5, 30, 33)])
def test_ids_unique_consecutive_connected(volume, method, chunks):
    labels, n = METHODS[method](volume.image, size=8, chunks=chunks)
    assert labels.dtype == np.uint32
    assert labels.chunks[0][0] == chunks[0]
    out = labels.compute()
    check_partition(out, n)
    mean_size = out.size / n
    assert 0.4 * 8**3 < mean_size < 2.5 * 8**3, mean_size


@pytest.mark.parametrize("method", sorted(METHODS))
def test_supervoxels_never_cross_chunk_faces(volume, method):
    labels, _ = METHODS[method](volume.image, size=8, chunks=(6, 36, 40))
    out = labels.compute()
    for axis, cut in ((0, 6), (1, 36), (2, 40)):
        a = np.take(out, cut - 1, axis=axis)
        b = np.take(out, cut, axis=axis)
        assert not np.intersect1d(a, b).size


@pytest.mark.parametrize("method", sorted(METHODS))
def test_supervoxels_follow_cell_membranes(volume, method):
    """Most supervoxels lie within one cell of the synthetic ground truth."""
    labels, n = METHODS[method](volume.image, size=6, chunks=(6, 36, 40))
    out = labels.compute()
    inside = volume.cells > 0
    # purity: fraction of cell voxels whose supervoxel's majority cell is their own
    sv, cell = out[inside].astype(np.int64), volume.cells[inside].astype(np.int64)
    pair, count = np.unique(sv * (cell.max() + 1) + cell, return_counts=True)
    best = np.zeros(n + 1, np.int64)
    np.maximum.at(best, pair // (cell.max() + 1), count)
    purity = best.sum() / inside.sum()
    assert purity > 0.9, purity


def test_anisotropic_spacing_gives_section_slabs():
    vol = synthetic_em((6, 80, 80), spacing=(10, 1, 1), rng=1)
    labels, n = slic(vol.image, size=8, spacing=(50, 5, 5), chunks=(3, 40, 40))
    out = labels.compute()
    check_partition(out, n)
    # z step = 8 * 5 / 50 < 1 section: every supervoxel lies in one section
    for z in range(out.shape[0] - 1):
        assert not np.intersect1d(out[z], out[z + 1]).size
    assert 0.5 * 64 < out.size / n < 2 * 64


def test_mild_anisotropy_stays_3d():
    vol = synthetic_em((24, 48, 48), spacing=(1.25, 1, 1), rng=2)
    labels, n = slic(vol.image, size=8, spacing=(1.25, 1, 1))
    out = labels.compute()
    check_partition(out, n)
    spans = ndi.find_objects(out)
    depth = np.array([s[0].stop - s[0].start for s in spans])
    assert np.median(depth) > 3  # 3D supervoxels, not per-section slabs


def test_slab_thickness_of_moderate_anisotropy():
    vol = synthetic_em((12, 64, 64), spacing=(3, 1, 1), rng=4)
    labels, n = slic(vol.image, size=9, spacing=(3, 1, 1), chunks=(6, 64, 64))
    out = labels.compute()
    check_partition(out, n)
    # slabs of 3 sections: nothing crosses z = 3, 6, 9
    for cut in (3, 6, 9):
        assert not np.intersect1d(out[cut - 1], out[cut]).size


@pytest.mark.parametrize("method", sorted(METHODS))
def test_mask_leaves_outside_unlabelled(volume, method):
    mask = np.zeros(volume.shape, bool)
    mask[:, 10:60, 5:50] = True
    labels, n = METHODS[method](volume.image, size=8, mask=mask, chunks=(6, 36, 40))
    out = labels.compute()
    assert not out[~mask].any()
    assert out[mask].all()
    check_partition(out, n, background=True)


def test_intensity_scale_does_not_change_slic(volume):
    """A uint16 copy scaled by 256 normalises to the same values: identical supervoxels."""
    a, na = slic(volume.image, size=8, chunks=(6, 36, 40))
    b, nb = slic(volume.image.astype(np.uint16) * 256, size=8, chunks=(6, 36, 40))
    assert na == nb
    np.testing.assert_array_equal(a.compute(), b.compute())


def test_compactness_controls_regularity(volume):
    def size_spread(compactness):
        labels, _ = slic(volume.image, size=8, compactness=compactness)
        sizes = np.bincount(labels.compute().ravel())[1:]
        return sizes.std() / sizes.mean()

    # compact supervoxels are near-cubes of similar size; loose ones follow edges
    assert size_spread(1000) < 0.5 * size_spread(1)


def test_out_path_and_dask_input(tmp_path, volume):
    image = da.from_array(volume.image, chunks=(6, 36, 40))
    labels, n = slic(image, size=8, out=tmp_path / "local.zarr")
    stored = zarr.open_array(tmp_path / "local.zarr", mode="r")
    assert stored.chunks == (6, 36, 40)
    assert stored[:].max() < n  # per-chunk ids before offsets
    check_partition(labels.compute(), n)


def test_irregular_dask_chunks_are_made_regular(tmp_path, volume):
    image = da.from_array(volume.image, chunks=((5, 7), (30, 20, 22), (80,)))
    labels, n = slic(image, size=8, out=tmp_path / "local.zarr")
    assert zarr.open_array(tmp_path / "local.zarr", mode="r").chunks == (7, 30, 80)
    check_partition(labels.compute(), n)


def test_out_with_misaligned_chunks_is_refused(tmp_path, volume):
    out = zarr.create_array(
        store=str(tmp_path / "bad.zarr"), shape=volume.shape, chunks=(4, 32, 32), dtype="uint32"
    )
    with pytest.raises(ValueError, match="must divide the processing chunks"):
        slic(volume.image, size=8, chunks=(6, 36, 40), out=out)


def test_progress_is_reported(volume):
    seen = []
    slic(volume.image, size=8, chunks=(6, 36, 40), progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]


def test_watershed_on_an_edge_map(volume):
    edges = (volume.labels == 1).astype(np.float32)  # membranes as the elevation
    labels, n = seeded_watershed(edges, size=8, gradient=False, intensity_range=(0, 1))
    check_partition(labels.compute(), n)


@pytest.mark.parametrize("size", [0, -3, 0.5])
def test_non_positive_size_is_refused(volume, size):
    with pytest.raises(ValueError, match="size"):
        slic(volume.image, size=size)


def test_size_larger_than_volume_is_refused(volume):
    with pytest.raises(InvalidVolumeError, match="more than the whole volume"):
        slic(volume.image, size=200)


def test_mask_of_another_shape_is_refused(volume):
    with pytest.raises(ValueError, match="mask of the image's shape"):
        slic(volume.image, mask=np.ones((12, 72, 81), bool))
    with pytest.raises(TypeError, match="boolean"):
        slic(volume.image, mask=np.ones(volume.shape, np.float32))


def test_bad_inputs_are_refused(volume):
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        slic(np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(TypeError, match="size"):
        slic(volume.image, size="big")
    with pytest.raises(ValueError, match="compactness"):
        slic(volume.image, compactness=-1)
    with pytest.raises(ValueError, match="intensity_range"):
        slic(volume.image, intensity_range=(5, 1))
    nan_image = volume.image.astype(np.float32)
    nan_image[0, 0, 0] = np.nan
    with pytest.raises(InvalidVolumeError, match="NaN"):
        slic(nan_image, intensity_range=(0, 255))[0].compute()


def test_nan_outside_the_mask_is_allowed(volume):
    image = volume.image.astype(np.float32)
    image[:, :, :8] = np.nan
    mask = np.ones(volume.shape, bool)
    mask[:, :, :8] = False
    labels, _ = slic(image, size=8, mask=mask, intensity_range=(0, 255))
    out = labels.compute()
    assert not out[~mask].any() and out[mask].all()
