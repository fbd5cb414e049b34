"""The same blockwise steps on a real dask.distributed LocalCluster equal the local results."""

from __future__ import annotations

from collections.abc import Iterator

import dask.array as da
import numpy as np
import pytest
import zarr
from scipy import ndimage as ndi

from voxelwise.blockwise import label, map_chunks, store_chunks
from voxelwise.errors import CancelledError

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # starting a 2-process cluster: about 6 s in all

SHAPE = (37, 61, 53)
CHUNKS = (10, 17, 20)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as c:
        yield c


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return ndi.gaussian_filter(np.random.default_rng(11).random(SHAPE), 1.5).astype(np.float32)


def _on_disk(path, dtype):
    return zarr.create_array(
        store=zarr.storage.LocalStore(path), shape=SHAPE, chunks=(16, 32, 32), dtype=dtype
    )


def test_map_chunks_and_store_on_a_cluster_equal_local(cluster, volume, tmp_path):
    image = da.from_array(volume, chunks=CHUNKS)
    result = map_chunks(ndi.gaussian_filter, image, halo=8, sigma=2.0, mode="reflect")
    local = _on_disk(tmp_path / "local.zarr", "f4")
    remote = _on_disk(tmp_path / "remote.zarr", "f4")
    store_chunks(result, local)
    seen: list[tuple[int, int]] = []
    store_chunks(
        result,
        remote,
        scheduler=cluster.scheduler_address,
        progress=lambda d, t: seen.append((d, t)),
    )
    np.testing.assert_array_equal(remote[...], local[...])
    np.testing.assert_allclose(local[...], ndi.gaussian_filter(volume, 2.0), atol=1e-6)
    assert [d for d, _ in seen] == list(range(1, remote.nchunks + 1))
    assert {t for _, t in seen} == {remote.nchunks}


def test_label_on_a_cluster_equals_local(cluster, volume, tmp_path):
    mask = da.from_array(volume > 0.5, chunks=CHUNKS)
    labels_local, n_local = label(mask, connectivity=3)
    seen: list[tuple[int, int]] = []
    labels_remote, n_remote = label(
        mask,
        connectivity=3,
        scheduler=cluster.scheduler_address,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert n_remote == n_local == ndi.label(volume > 0.5, np.ones((3, 3, 3)))[1]
    assert [d for d, _ in seen] == list(range(1, int(np.prod(mask.numblocks)) + 1))
    target = _on_disk(tmp_path / "labels.zarr", labels_remote.dtype)
    store_chunks(labels_remote, target, scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(target[...], labels_local.compute())


def test_cancel_on_a_cluster(cluster, volume, tmp_path):
    result = map_chunks(ndi.gaussian_filter, volume, halo=4, chunks=CHUNKS, sigma=1.0)

    def cancel(done, total):
        if done == 1:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        store_chunks(
            result,
            _on_disk(tmp_path / "c.zarr", "f4"),
            scheduler=cluster.scheduler_address,
            progress=cancel,
        )
