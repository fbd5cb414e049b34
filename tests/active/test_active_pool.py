"""voxelwise.active.Pool: candidate grids, block-wise reading and scanning, near-duplicates;
scoring from stored probabilities (any classifier, e.g. a random forest)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from voxelwise.active import Pool, score_probabilities, select


class Recording:
    """An array-like that records the size of every block read from it."""

    def __init__(self, data: np.ndarray, chunks: tuple[int, ...]) -> None:
        self.data, self.chunks, self.reads = data, chunks, []
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, index):
        block = self.data[index]
        self.reads.append(block.size)
        return block


def test_grid_of_2d_patches_along_each_axis():
    pool = Pool((16, 1024, 1024), (128, 128), axis="z")
    assert len(pool) == 16 * 8 * 8 and pool.box_size == (1, 128, 128)
    assert pool.slices(9) == (slice(0, 1), slice(128, 256), slice(128, 256))
    assert pool.locate((0, 128, 128)) == 9
    ypool = Pool((20, 64, 100), (10, 50), axis="y")  # rows along z, cols along x
    assert ypool.box_size == (10, 1, 50) and ypool.counts == (2, 64, 2)
    image = np.arange(20 * 64 * 100).reshape(20, 64, 100)
    patch = ypool.read(image, [ypool.locate((10, 3, 50))])[0]
    np.testing.assert_array_equal(patch, image[10:20, 3, 50:100])


def test_3d_windows_roi_stride_and_padding():
    pool = Pool((10, 40, 40), (4, 16, 16), axis=None, stride=(4, 8, 8), roi="2:10,8:40,:")
    assert pool.positions[0] == (2, 6) and pool.positions[1][0] == 8 and pool.positions[1][-1] == 24
    assert pool.to_dict()["roi"] == "2:10,8:40,0:40"
    again = Pool(**pool.to_dict())
    assert again.positions == pool.positions
    small = Pool((3, 20, 20), (5, 8, 8), axis=None)  # thinner than a window: padded
    image = np.random.default_rng(0).random((3, 20, 20))
    patches = small.read(image, [0, 1])
    assert patches.shape == (2, 5, 8, 8)
    np.testing.assert_array_equal(patches[0][1:4], image[:, :8, :8])
    zeros = small.read(image, [0], pad="zeros")[0]
    assert (zeros[0] == 0).all() and (zeros[4] == 0).all()


def test_reading_goes_block_by_block_with_bounded_memory():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 255, size=(8, 256, 256), dtype=np.uint8)
    pool = Pool(data.shape, (32, 32), axis="z")
    source = Recording(data, chunks=(4, 64, 64))
    got = {}
    for idx, patches in pool.iter_read(source, pool.indices(), batch_size=7):
        assert patches.shape[1:] == (32, 32) and len(patches) <= 7
        got.update(zip(idx.tolist(), patches))
    assert len(got) == len(pool)
    for i in (0, 77, len(pool) - 1):
        np.testing.assert_array_equal(got[i], data[pool.slices(i)][0])
    assert max(source.reads) <= 4 * 64 * 64  # never more than one stored chunk at a time
    lazy = da.from_array(data, chunks=(4, 64, 64))
    np.testing.assert_array_equal(pool.read(lazy, [5, 3]), pool.read(data, [5, 3]))


def test_labelled_patches_are_excluded():
    labels = np.zeros((4, 64, 64), np.uint8)
    labels[1, 0:32, 32:64] = 2  # a fully labelled patch
    labels[3, 40, 40] = 1  # one scribbled voxel
    pool = Pool(labels.shape, (32, 32), axis="z")
    fraction = pool.labelled_fraction(Recording(labels, chunks=(1, 32, 32)))
    assert fraction[pool.locate((1, 0, 32))] == 1.0
    assert fraction[pool.locate((3, 32, 32))] == pytest.approx(1 / 1024)
    assert np.count_nonzero(fraction) == 2
    done = pool.exclude_labelled(labels)
    assert sorted(done.tolist()) == sorted([pool.locate((1, 0, 32)), pool.locate((3, 32, 32))])
    assert len(pool.indices()) == len(pool) - 2
    pool2 = Pool(labels.shape, (32, 32), axis="z")
    assert pool2.exclude_labelled(labels, min_fraction=0.5).tolist() == [pool.locate((1, 0, 32))]


def test_near_duplicates_are_overlapping_patches_on_neighbouring_planes():
    pool = Pool((6, 64, 64), (32, 32), axis="z", stride=(16, 16))
    a = pool.locate((2, 0, 0))
    same_next_plane = pool.locate((3, 0, 0))
    far_plane = pool.locate((5, 0, 0))
    shifted = pool.locate((2, 16, 0))  # overlaps by half: not more than half
    small_shift = pool.locate((3, 0, 16))
    idx = np.array([a, same_next_plane, far_plane, shifted, small_shift])
    dup = pool.duplicates(idx, max_overlap=0.4, plane_gap=1)
    assert dup(1, [0]) and not dup(2, [0]) and dup(3, [0]) and dup(4, [0])
    strict = pool.duplicates(idx, max_overlap=0.5, plane_gap=0)
    assert not strict(1, [0]) and not strict(3, [0])
    sel = select("entropy", 2, scores=[5, 4, 3, 2, 1], is_duplicate=dup)
    assert sel.indices.tolist() == [0, 2]


def test_scores_from_a_stored_probability_volume():
    p = np.zeros((2, 4, 64, 64), np.float32)
    p[0] = 0.98
    p[1] = 0.02
    p[:, 2, 32:, 0:32] = 0.5  # one uncertain patch
    pool = Pool((4, 64, 64), (32, 32), axis="z")
    scored = score_probabilities(
        da.from_array(p, chunks=(2, 2, 32, 32)), pool, methods=["entropy", "margin"]
    )
    best = pool.locate((2, 32, 0))
    assert int(scored.indices[np.argmax(scored.scores["entropy"])]) == best
    assert int(scored.indices[np.argmax(scored.scores["margin"])]) == best
    as_uint8 = score_probabilities((p * 255).round().astype(np.uint8), pool, [best, 0])
    assert as_uint8.scores["entropy"][0] == pytest.approx(1024 * np.log(2), rel=1e-2)


def test_random_forest_probabilities_pick_the_ambiguous_region():
    learn = pytest.importorskip("voxelwise.learn")
    rng = np.random.default_rng(2)
    image = np.zeros((2, 64, 64), np.float32)
    image[:, :, 32:] = 1.0
    image[:, 32:, :] = rng.random((2, 32, 64))  # bottom half: noise, classes unclear
    image[:, :32] += rng.normal(0, 0.02, size=(2, 32, 64))
    labels = np.zeros(image.shape, np.uint8)
    labels[:, 0:32:4, 0:32:4] = 1  # scribbles in the clean top half only
    labels[:, 0:32:4, 32:64:4] = 2
    model = learn.fit_voxels({"raw": image}, labels, params={"n_estimators": 20}, rng=0)
    probs = learn.predict_voxels(model, {"raw": image})
    pool = Pool(image.shape, (32, 32), axis="z")
    scored = score_probabilities(probs, pool)
    top = select("entropy", 2, scores=scored.scores["entropy"])
    rows = {int(pool.starts(scored.indices[top.indices])[i][1]) for i in range(2)}
    assert rows == {32}  # both picks in the noisy bottom half
