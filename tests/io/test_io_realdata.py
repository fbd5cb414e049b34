"""open_volume / write_volume on the real datasets in ../shared/data (small crops)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from voxelwise.io import open_volume, write_volume

VNC = "drosophila_vnc_sstem/stack1"
FLYEM = "flyem_medulla_fibsem_neuroproof/training_sample2/grayscale_maps"
ISBI = "isbi2012_em_membranes/train-volume_png"


def test_vnc_raw_tiff_folder(shared_data):
    folder = shared_data / VNC / "raw"
    vol = open_volume(folder)
    assert vol.format == "image-stack"
    assert vol.shape == (20, 1024, 1024)
    assert vol.dtype == np.uint8
    assert vol.data.numblocks == (20, 1, 1)  # one file per chunk
    for z in (0, 7, 19):
        np.testing.assert_array_equal(
            vol.data[z].compute(), tifffile.imread(folder / f"{z:02d}.tif")
        )


@pytest.mark.parametrize("suffix", [".ome.zarr", ".zarr", ".h5", ".tif"])
def test_vnc_crop_round_trip(shared_data, tmp_path, suffix):
    folder = shared_data / VNC / "raw"
    vol = open_volume(folder, roi="2:8,100:356,200:520")
    expected = np.stack([tifffile.imread(folder / f"{z:02d}.tif") for z in range(2, 8)])
    expected = expected[:, 100:356, 200:520]
    out = write_volume(vol, tmp_path / f"vnc{suffix}", spacing=(50, 4.6, 4.6), unit="nm")
    back = open_volume(out)
    assert back.shape == (6, 256, 320)
    np.testing.assert_array_equal(back.data.compute(), expected)
    np.testing.assert_allclose(back.spacing, (50, 4.6, 4.6), rtol=1e-6)


def test_flyem_png_slices(shared_data, tmp_path):
    folder = shared_data / FLYEM
    vol = open_volume(folder)
    assert vol.shape == (250, 250, 250)
    assert vol.dtype == np.uint8
    np.testing.assert_array_equal(
        vol.data[137].compute(), np.asarray(Image.open(folder / "iso.2737.png"))
    )
    crop = open_volume(folder, roi="100:164,0:128,64:192", bin=2)
    assert crop.shape == (32, 64, 64)
    out = write_volume(crop, tmp_path / "flyem.ome.zarr", spacing=(20, 20, 20), unit="nm")
    back = open_volume(out)
    np.testing.assert_array_equal(back.data.compute(), crop.data.compute())
    first = np.asarray(Image.open(folder / "iso.2700.png"), dtype=np.float64)[:2, 64:66]
    second = np.asarray(Image.open(folder / "iso.2701.png"), dtype=np.float64)[:2, 64:66]
    assert back.data[0, 0, 0].compute() == np.round((first.sum() + second.sum()) / 8)


def test_isbi_natural_sort(shared_data):
    folder = shared_data / ISBI
    vol = open_volume(folder)
    assert vol.shape == (30, 512, 512)
    for z in (1, 2, 10, 29):
        np.testing.assert_array_equal(
            vol.data[z].compute(), np.asarray(Image.open(folder / f"{z}.png"))
        )


def test_vnc_mitochondria_mixed_pil_modes(shared_data, tmp_path):
    folder = shared_data / VNC / "mitochondria"
    files = sorted(folder.glob("*.png"))
    modes = {Image.open(f).mode for f in files}
    assert {"1", "L"} <= modes  # the folder really mixes bilevel and 8-bit slices
    vol = open_volume(folder)
    assert vol.shape == (20, 1024, 1024)
    assert vol.dtype == np.uint8
    for z in (0, 1):
        ref = np.asarray(Image.open(files[z]).convert("L"))
        np.testing.assert_array_equal(vol.data[z].compute(), ref)
    out = write_volume(open_volume(folder, roi="0:4,:256,:256"), tmp_path / "mito.h5")
    back = open_volume(out).data.compute()
    assert set(np.unique(back[1])) <= {0, 255}
