"""Label merging across chunks: label == scipy/skimage up to a permutation; relabel; merge."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import measure

from voxelwise.blockwise import label, merge_chunk_labels, relabel_sequential
from voxelwise.errors import CancelledError, InvalidVolumeError

UNEVEN = (9, 13, 17)


def blobs(shape=(40, 50, 60), *, seed=0, sigma=2.0, level=0.5) -> np.ndarray:
    noise = np.random.default_rng(seed).random(shape)
    return ndi.gaussian_filter(noise, sigma) > level


def assert_same_partition(a: np.ndarray, b: np.ndarray) -> None:
    """``a`` and ``b`` label the same regions (equal up to a permutation of non-zero ids)."""
    assert a.shape == b.shape
    np.testing.assert_array_equal(a == 0, b == 0)
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    assert pairs.shape[1] == np.unique(a).size == np.unique(b).size


@pytest.mark.parametrize("connectivity", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_label_equals_scipy(connectivity, seed):
    mask = blobs(seed=seed, sigma=1.5, level=0.52)
    labels, n = label(da.from_array(mask, chunks=UNEVEN), connectivity=connectivity)
    expected, n_expected = ndi.label(mask, ndi.generate_binary_structure(3, connectivity))
    assert n == n_expected > 5
    result = labels.compute()
    assert labels.chunks == da.from_array(mask, chunks=UNEVEN).chunks
    assert result.dtype == np.uint32
    assert set(np.unique(result)) == set(range(n + 1))  # consecutive 1..n
    assert_same_partition(result, expected)


@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_diagonal_contacts_across_chunk_edges_and_corners(connectivity):
    """Voxels touching only by an edge or a corner, exactly where four or eight chunks meet."""
    mask = np.zeros((8, 8, 8), dtype=bool)
    mask[3, 3, 3] = mask[4, 4, 4] = True  # corner contact across the chunk corner at (4, 4, 4)
    mask[3, 3, 6] = mask[4, 4, 6] = True  # edge contact across the z/y chunk edge
    mask[6, 3, 1] = mask[6, 4, 1] = True  # face contact
    labels, n = label(mask, connectivity=connectivity, chunks=4)
    expected, n_expected = ndi.label(mask, ndi.generate_binary_structure(3, connectivity))
    assert n == n_expected == {1: 5, 2: 4, 3: 3}[connectivity]
    assert_same_partition(labels.compute(), expected)


def test_label_by_value_equals_skimage():
    rng = np.random.default_rng(3)
    classes = ndi.zoom(rng.integers(0, 3, (8, 10, 12)), 4, order=0)  # blocky class map
    for connectivity in (1, 3):
        labels, n = label(classes, connectivity=connectivity, by_value=True, chunks=UNEVEN)
        expected = measure.label(classes, background=0, connectivity=connectivity)
        assert n == expected.max()
        assert_same_partition(labels.compute(), expected)


def test_label_edge_cases():
    empty, n = label(np.zeros((5, 6, 7), dtype=bool), chunks=3)
    assert n == 0
    assert not empty.compute().any()
    full, n = label(np.ones((5, 6, 7), dtype=np.uint8), chunks=2)
    assert n == 1
    assert (full.compute() == 1).all()
    _single, n = label(blobs((10, 12, 14)), chunks=(10, 12, 14))  # one chunk
    assert n == ndi.label(blobs((10, 12, 14)))[1]


def test_label_ids_follow_chunk_order():
    mask = np.zeros((1, 2, 8), dtype=bool)
    mask[0, 0, [1, 5]] = True
    mask[0, 1, 2:4] = True
    labels, n = label(mask, chunks=(1, 2, 4))
    assert n == 3
    assert labels.compute()[0].tolist() == [[0, 1, 0, 0, 0, 3, 0, 0], [0, 0, 2, 2, 0, 0, 0, 0]]


def test_label_bad_input():
    with pytest.raises(ValueError, match="connectivity"):
        label(np.ones((2, 2, 2)), connectivity=4)
    with pytest.raises(InvalidVolumeError):
        label(np.ones((2, 2)))


def test_label_progress_and_cancel():
    mask = da.from_array(blobs((20, 30, 30)), chunks=10)
    seen: list[tuple[int, int]] = []
    label(mask, progress=lambda d, t: seen.append((d, t)), scheduler="sync")
    done = [d for d, _ in seen]
    assert done == list(range(1, len(done) + 1))
    assert done[-1] == seen[-1][1]

    def cancel(done, total):
        if done == 3:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        label(mask, progress=cancel, scheduler="sync")


def test_relabel_sequential():
    rng = np.random.default_rng(4)
    ids = rng.choice(np.array([0, 3, 9, 1000, 2**40, -5]), size=(12, 14, 16))
    out, n = relabel_sequential(da.from_array(ids, chunks=(5, 6, 7)))
    result = out.compute()
    assert n == 5
    assert result.dtype == np.uint32
    expected = np.searchsorted(np.array([-5, 0, 3, 9, 1000, 2**40]), ids)  # 0 -> 1: fix below
    expected = np.where(ids == 0, 0, np.where(ids < 0, 1, expected))
    np.testing.assert_array_equal(result, expected)
    with pytest.raises(TypeError, match="integer labels"):
        relabel_sequential(np.zeros((2, 2, 2), dtype=np.float32))


def test_merge_chunk_labels_makes_per_chunk_ids_unique():
    mask = blobs((20, 24, 28), seed=5)
    chunks = (7, 8, 9)

    def per_chunk(block):
        return ndi.label(block)[0]

    local = da.from_array(mask, chunks=chunks).map_blocks(per_chunk, dtype=np.int32)
    merged, n = merge_chunk_labels(local)
    result = merged.compute()
    local_np = local.compute()
    assert set(np.unique(result)) == set(range(n + 1))
    # each (chunk, local id) became its own global id, nothing else changed
    chunk_of = np.zeros(mask.shape, dtype=np.int64)
    for k, idx in enumerate(np.ndindex(*local.numblocks)):
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks))
        chunk_of[region] = k
    key = chunk_of * 10_000 + local_np
    assert_same_partition(np.where(local_np > 0, key, 0), result.astype(np.int64))
    # joining the pieces across faces is label()'s job: it gives fewer, larger regions
    assert n > ndi.label(mask)[1]
