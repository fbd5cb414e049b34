"""Chunk-level pieces: splitting cut regions, merging slivers, grid seeds, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from voxelwise.errors import InvalidVolumeError
from voxelwise.supervoxels._chunk import _grid_seeds, finish_block, normalise
from voxelwise.supervoxels._params import plan_grid


def test_disconnected_id_is_split_and_ids_are_consecutive():
    labels = np.zeros((1, 4, 9), np.uint32)
    labels[0, :, 0:3] = 7
    labels[0, :, 3:6] = 2
    labels[0, :, 6:9] = 7  # id 7 twice, cut apart by id 2
    out = finish_block(labels, min_size=1)
    assert sorted(np.unique(out).tolist()) == [1, 2, 3]
    assert out[0, 0, 0] != out[0, 0, 8]
    assert (out[0, :, 3:6] == out[0, 0, 3]).all()


def test_slivers_join_the_neighbour_with_most_contact():
    labels = np.zeros((1, 6, 10), np.uint32)
    labels[0, :, :5] = 1
    labels[0, :, 5:] = 2
    labels[0, 0, 4] = 3  # one-voxel sliver: 2 faces with region 1, 1 face with region 2
    labels[0, 2:4, 9] = 0  # background stays background
    out = finish_block(labels, min_size=4)
    assert out[0, 0, 4] == out[0, 1, 4]  # merged into region 1
    assert len(np.unique(out[out > 0])) == 2
    assert (out[0, 2:4, 9] == 0).all()


def test_isolated_sliver_and_small_groups_are_kept():
    labels = np.zeros((1, 5, 5), np.uint32)
    labels[0, 2, 2] = 5  # surrounded by background: nothing to join
    labels[0, 0, 0] = 6
    labels[0, 0, 1] = 8  # two slivers touching only each other become one region
    out = finish_block(labels, min_size=3)
    assert out[0, 2, 2] > 0
    assert out[0, 0, 0] == out[0, 0, 1] > 0
    assert len(np.unique(out[out > 0])) == 2


def test_slivers_do_not_merge_across_slabs():
    labels = np.zeros((2, 4, 4), np.uint32)
    labels[0] = 1
    labels[1] = 2
    labels[1, 0, 0] = 3  # sliver in section 1: its only in-section neighbour is 2
    out = finish_block(labels, min_size=2, slab=1)
    assert out[1, 0, 0] == out[1, 1, 1]
    assert out[1, 0, 0] != out[0, 0, 0]


def test_grid_seeds_sit_at_cell_minima():
    elevation = np.ones((1, 6, 6), np.float32)
    elevation[0, 1, 2] = 0
    elevation[0, 5, 5] = -1
    seeds = _grid_seeds(elevation, (1, 3, 3))
    assert seeds.max() == 4
    assert seeds[0, 1, 2] and seeds[0, 5, 5]
    masked = np.where(np.arange(6) < 3, elevation, np.inf).astype(np.float32)
    assert _grid_seeds(masked, (1, 3, 3)).max() == 2  # cells without finite values get none


def test_normalise_clips_and_refuses_nan():
    out = normalise(np.array([0, 50, 100, 300], dtype=np.uint16), 50, 250)
    np.testing.assert_allclose(out, [0, 0, 0.25, 1])
    assert out.dtype == np.float32
    assert (normalise(np.full(3, 7.0), 7, 7) == 0).all()
    with pytest.raises(InvalidVolumeError, match="NaN"):
        normalise(np.array([1.0, np.nan]), 0, 1)


def test_plan_grid_steps_and_halo():
    chunks = ((20,), (256, 256), (256, 256))
    vnc = plan_grid((20, 512, 512), size=10, spacing=(50, 4.6, 4.6), halo=None, chunks=chunks)
    assert vnc.slab == 1
    assert vnc.steps == (1.0, 10.0, 10.0)
    assert vnc.halo == (0, 5, 5)  # z has one chunk; in-plane half a step
    iso = plan_grid((64, 64, 64), size=10, spacing=None, halo=None, chunks=((32, 32),) * 3)
    assert iso.slab == 0 and iso.steps == (10.0, 10.0, 10.0) and iso.halo == (5, 5, 5)
    capped = plan_grid((64, 64, 64), size=10, spacing=None, halo=20, chunks=((60, 4),) * 3)
    assert capped.halo == (4, 4, 4)  # never more than the smallest chunk
