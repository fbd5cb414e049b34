from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import zarr

from voxelwise._compute import compute, store_chunks
from voxelwise.errors import CancelledError


def _target(shape, chunks, dtype="f8"):
    return zarr.create_array(
        store=zarr.storage.MemoryStore(), shape=shape, chunks=chunks, dtype=dtype
    )


def test_store_chunks_rechunks_to_target_and_reports_progress():
    src = da.random.default_rng(0).random((20, 50, 60), chunks=(7, 13, 50))
    tgt = _target(src.shape, (10, 25, 30))
    seen = []
    store_chunks(src, tgt, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(tgt[...], src.compute())
    assert [d for d, _ in seen] == list(range(1, 9))
    assert {t for _, t in seen} == {8}


def test_store_chunks_cancel_raises():
    src = da.ones((8, 8, 8), chunks=2)
    tgt = _target(src.shape, (2, 2, 2))

    def cancel(done, total):
        if done == 3:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        store_chunks(src, tgt, progress=cancel, scheduler="sync")


def test_store_chunks_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        store_chunks(da.ones((2, 2, 2)), _target((2, 2, 3), (2, 2, 3)))


def test_compute_counts_all_tasks():
    seen = []
    (total,) = compute(
        da.ones((4, 4, 4), chunks=2).sum(), progress=lambda d, t: seen.append((d, t))
    )
    assert total == 64
    assert seen[-1][0] == seen[-1][1]


def test_unknown_scheduler_type_is_clear():
    pytest.importorskip("distributed")
    with pytest.raises(TypeError, match="Expected scheduler"):
        compute(da.ones(3), scheduler=42)


def test_store_chunks_into_sharded_target_loses_nothing():
    src = da.ones((32, 64, 64), dtype="u1", chunks=(8, 16, 16))
    tgt = zarr.create_array(
        store=zarr.storage.MemoryStore(),
        shape=src.shape,
        chunks=(8, 16, 16),
        shards=(16, 32, 32),
        dtype="u1",
    )
    store_chunks(src, tgt)
    assert int(tgt[...].sum()) == src.size
