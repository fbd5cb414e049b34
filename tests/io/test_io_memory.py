"""Opening a large file reads nothing but its header; conversion streams in bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import tifffile

from voxelwise.io import open_volume, write_volume

SHAPE = (200, 1024, 1024)  # 200 MiB of uint8


def _big_tiff(path):
    plane = np.arange(1024, dtype=np.uint8)[None, :].repeat(1024, axis=0)

    def pages():
        for z in range(SHAPE[0]):
            yield plane + np.uint8(z)

    tifffile.imwrite(path, pages(), shape=SHAPE, dtype=np.uint8, photometric="minisblack")


def _big_npy(path):
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=SHAPE)
    mm[::50] = 7
    del mm


def test_open_reads_only_headers(tmp_path):
    _big_tiff(tmp_path / "big.tif")
    _big_npy(tmp_path / "big.npy")
    for name in ("big.tif", "big.npy"):
        tracemalloc.start()
        vol = open_volume(tmp_path / name)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert vol.shape == SHAPE
        assert peak < 8 << 20, f"opening {name} allocated {peak / 2**20:.1f} MiB"
        assert vol.data.npartitions >= 16
        assert max(b.nbytes for b in [vol.data.blocks[0, 0, 0]]) <= 32 << 20
    vol = open_volume(tmp_path / "big.tif")
    assert vol.data[123, 5, 700].compute() == np.uint8((700 + 123) % 256)


def test_tiff_write_keeps_memory_to_one_slab(tmp_path):
    vol = open_volume(_make(tmp_path))
    tracemalloc.start()
    write_volume(vol, tmp_path / "copy.tif")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 112 << 20, f"writing 200 MiB peaked at {peak / 2**20:.0f} MiB"
    back = open_volume(tmp_path / "copy.tif")
    assert back.data[199, 3, 1023].compute() == np.uint8((1023 + 199) % 256)


def _make(tmp_path):
    path = tmp_path / "big.tif"
    _big_tiff(path)
    return path
