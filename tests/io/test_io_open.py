"""open_volume on files written by other tools: TIFF variants, slice stacks, HDF5, MRC, Zarr, NumPy."""

from __future__ import annotations

import pickle

import h5py
import mrcfile
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from voxelwise.errors import (
    CorruptFileError,
    FormatNotSupportedError,
    InvalidVolumeError,
    KeyRequiredError,
    NotAVolumeFileError,
    RoiError,
)
from voxelwise.io import open_volume


@pytest.fixture
def image(rng) -> np.ndarray:
    return rng.integers(0, 65535, (6, 100, 70), dtype=np.uint16)


# --- TIFF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "zlib", "rowsperstrip": 16},
        {"compression": "zlib", "predictor": True, "rowsperstrip": 7},
        {"compression": "zlib", "tile": (32, 32)},
        {"compression": "lzw"},
        {"bigtiff": True},
        {"bigtiff": True, "compression": "zstd", "tile": (16, 48)},
    ],
    ids=["raw", "zlib-strips", "predictor", "tiles", "lzw", "bigtiff", "bigtiff-zstd-tiles"],
)
def test_tiff_variants_read_lazily_and_exactly(tmp_path, image, options):
    path = tmp_path / "v.tif"
    tifffile.imwrite(path, image, photometric="minisblack", **options)
    vol = open_volume(path)
    assert vol.format == "tiff"
    assert vol.shape == image.shape
    assert vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.data.compute(), image)
    # arbitrary blocks, crossing strip/tile borders
    np.testing.assert_array_equal(vol.data[1:4, 13:77, 5:69].compute(), image[1:4, 13:77, 5:69])
    np.testing.assert_array_equal(vol.data[::2, ::-3, 7].compute(), image[::2, ::-3, 7])


def test_tiff_segment_reader_pickles_and_chunks_follow_strips(tmp_path, rng):
    image = rng.integers(0, 255, (3, 600, 50), dtype=np.uint8)
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, image, photometric="minisblack", compression="zlib", rowsperstrip=100)
    vol = open_volume(path)
    assert all(c % 100 == 0 for c in vol.data.chunks[1][:-1])  # chunk borders on strip borders
    clone = pickle.loads(pickle.dumps(vol.data))
    np.testing.assert_array_equal(clone.compute(scheduler="sync"), image)


def test_uncompressed_tiff_pickles(tmp_path, image):
    path = tmp_path / "raw.tif"
    tifffile.imwrite(path, image, photometric="minisblack")
    data = pickle.loads(pickle.dumps(open_volume(path).data))
    np.testing.assert_array_equal(data.compute(), image)


def test_big_endian_tiff(tmp_path, image):
    path = tmp_path / "be.tif"
    tifffile.imwrite(path, image, photometric="minisblack", byteorder=">")
    vol = open_volume(path)
    assert vol.dtype == np.dtype("=u2")
    np.testing.assert_array_equal(vol.data.compute(), image)


def test_bilevel_tiff_reads_as_0_255(tmp_path):
    mask = np.zeros((2, 20, 21), bool)
    mask[:, 3:9, 4:15] = True
    path = tmp_path / "bits.tif"
    tifffile.imwrite(path, mask, photometric="minisblack")
    vol = open_volume(path)
    assert vol.dtype == np.uint8
    np.testing.assert_array_equal(vol.data.compute(), mask * 255)


def test_imagej_tiff_spacing(tmp_path, image):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        image,
        imagej=True,
        resolution=(1 / 0.0046, 1 / 0.0046),
        metadata={"spacing": 0.05, "unit": "micron", "axes": "ZYX"},
    )
    vol = open_volume(path)
    assert vol.unit == "micrometer"
    np.testing.assert_allclose(vol.spacing, (0.05, 0.0046, 0.0046), rtol=1e-6)


def test_tiff_resolution_in_centimeters(tmp_path, image):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(
        path,
        image,
        photometric="minisblack",
        resolution=(1e4 / 0.5, 1e4 / 0.25),
        resolutionunit="CENTIMETER",
        metadata=None,
    )
    vol = open_volume(path)
    assert vol.unit == "micrometer"
    np.testing.assert_allclose(vol.spacing, (0.5, 0.25, 0.5), rtol=1e-6)


def test_plain_tiff_without_calibration_has_no_spacing(tmp_path, image):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, image, photometric="minisblack")
    assert open_volume(path).spacing is None


def test_pyramidal_ome_tiff_levels(tmp_path, rng):
    base = rng.integers(0, 255, (4, 128, 96), dtype=np.uint8)
    path = tmp_path / "pyr.ome.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(base, subifds=1, photometric="minisblack", metadata={"axes": "ZYX"})
        tw.write(base[:, ::2, ::2], subfiletype=1, photometric="minisblack")
    vol = open_volume(path)
    assert vol.levels == 2
    assert vol.shape == (4, 128, 96)
    low = open_volume(path, level=1)
    assert low.shape == (4, 64, 48)
    np.testing.assert_array_equal(low.data.compute(), base[:, ::2, ::2])
    with pytest.raises(ValueError, match="level"):
        open_volume(path, level=2)


def test_tiff_series_chosen_with_key(tmp_path, rng):
    first = rng.integers(0, 255, (3, 20, 20), dtype=np.uint8)
    second = rng.integers(0, 255, (2, 30, 10), dtype=np.uint8)
    path = tmp_path / "two.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(first, photometric="minisblack")
        tw.write(second, photometric="minisblack")
    np.testing.assert_array_equal(open_volume(path).data.compute(), first)
    vol = open_volume(path, key="1")
    assert vol.key == "1"
    np.testing.assert_array_equal(vol.data.compute(), second)
    with pytest.raises(KeyRequiredError, match="0, 1"):
        open_volume(path, key="2")


def test_lazy_source_indexing_matches_numpy(tmp_path, image):
    from voxelwise.io._raw import RawPlanes

    path = tmp_path / "raw.bin"
    image.tofile(path)
    source = RawPlanes(path, shape=image.shape, dtype=image.dtype, offsets=0)
    for index in [
        (slice(None, None, 2), slice(None, None, -3), 7),
        (-1, 5, slice(3, -3)),
        (Ellipsis, slice(60, 10, -7)),
        (slice(1, 3), Ellipsis),
        (slice(4, 2), slice(None), slice(None)),
        (2,),
    ]:
        np.testing.assert_array_equal(source[index], image[index])
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone[1:3, 2:90, 10:11], image[1:3, 2:90, 10:11])


def test_rgb_tiff_names_channel_axis(tmp_path, rng):
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(path)
    path2 = tmp_path / "planar.tif"
    planes = rng.integers(0, 255, (3, 40, 30), dtype=np.uint8)
    tifffile.imwrite(path2, planes, photometric="rgb", planarconfig="separate")
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(path2)


def test_multichannel_imagej_tiff_names_channel_axis(tmp_path, rng):
    path = tmp_path / "zc.tif"
    data = rng.integers(0, 255, (3, 2, 20, 20), dtype=np.uint8)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(path)


@pytest.mark.parametrize(
    "options", [{}, {"compression": "zlib"}, {"imagej": True}], ids=["raw", "zlib", "imagej"]
)
def test_truncated_tiff_is_reported_at_open(tmp_path, rng, options):
    image = rng.integers(0, 255, (10, 64, 64), dtype=np.uint8)
    path = tmp_path / "full.tif"
    meta = {"axes": "ZYX"} if options.get("imagej") else {}
    kw = {} if options.get("imagej") else {"photometric": "minisblack"}
    tifffile.imwrite(path, image, metadata=meta, **kw, **options)
    data = path.read_bytes()
    for cut in (len(data) // 2, 300, 8):
        bad = tmp_path / f"cut{cut}.tif"
        bad.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError, match="damaged") as info:
            open_volume(bad)
        assert str(bad) in str(info.value)


def test_truncated_page_by_page_tiff_from_pillow(tmp_path, rng):
    pages = [Image.fromarray(p) for p in rng.integers(0, 255, (6, 40, 40), dtype=np.uint8)]
    path = tmp_path / "pil.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert open_volume(path).shape == (6, 40, 40)
    data = path.read_bytes()
    (tmp_path / "half.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError):
        open_volume(tmp_path / "half.tif")


def test_garbage_with_tiff_suffix(tmp_path):
    path = tmp_path / "noise.tif"
    path.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(CorruptFileError, match="does not start like"):
        open_volume(path)


def test_float_tiff_with_nan_and_inf_opens(tmp_path):
    image = np.ones((3, 10, 10), np.float32)
    image[0, 0, 0], image[1, 1, 1] = np.nan, np.inf
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, image, photometric="minisblack")
    back = open_volume(path, bin=2).data.compute()
    assert back.dtype == np.float32
    assert np.isnan(back).any()


# --- slice stacks and single images ---------------------------------------------------------


def _save_slices(folder, planes, name="{i}.png", mode=None):
    folder.mkdir(exist_ok=True)
    for i, plane in enumerate(planes):
        im = Image.fromarray(plane)
        (im.convert(mode) if mode else im).save(folder / name.format(i=i))


def test_stack_natural_sort_and_glob(tmp_path, rng):
    planes = rng.integers(0, 255, (12, 20, 30), dtype=np.uint8)
    _save_slices(tmp_path / "s", planes)
    (tmp_path / "s" / "notes.txt").write_text("ignored")
    vol = open_volume(tmp_path / "s")
    assert vol.format == "image-stack"
    assert vol.shape == (12, 20, 30)
    assert vol.data.numblocks == (12, 1, 1)
    np.testing.assert_array_equal(vol.data.compute(), planes)  # 0, 1, 2, ... 10, 11
    globbed = open_volume(tmp_path / "s" / "1*.png")
    np.testing.assert_array_equal(globbed.data.compute(), planes[[1, 10, 11]])


def test_stack_of_16_bit_and_float_tiff_slices(tmp_path, rng):
    folder = tmp_path / "t"
    folder.mkdir()
    planes = rng.normal(size=(4, 16, 16)).astype(np.float32)
    for i, p in enumerate(planes):
        tifffile.imwrite(folder / f"z{i:03d}.tif", p)
    vol = open_volume(folder)
    assert vol.dtype == np.float32
    np.testing.assert_array_equal(vol.data.compute(), planes)
    folder16 = tmp_path / "png16"
    planes16 = rng.integers(0, 65535, (3, 16, 16), dtype=np.uint16)
    _save_slices(folder16, planes16)
    vol16 = open_volume(folder16)
    assert vol16.dtype == np.uint16
    np.testing.assert_array_equal(vol16.data.compute(), planes16)


def test_stack_mixing_bilevel_and_grayscale(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    a = np.zeros((10, 10), np.uint8)
    a[2:5, 2:5] = 255
    Image.fromarray(a).convert("1").save(folder / "0.png")
    Image.fromarray(a // 2).save(folder / "1.png")
    vol = open_volume(folder)
    np.testing.assert_array_equal(vol.data.compute(), np.stack([a, a // 2]))


def test_stack_with_an_odd_slice_names_it(tmp_path, rng):
    planes = rng.integers(0, 255, (3, 20, 30), dtype=np.uint8)
    _save_slices(tmp_path / "a", planes)
    Image.fromarray(planes[0][:10]).save(tmp_path / "a" / "3.png")
    with pytest.raises(InvalidVolumeError, match=r"3\.png"):
        open_volume(tmp_path / "a")
    _save_slices(tmp_path / "b", planes)
    Image.fromarray(planes[0].astype(np.uint16) * 200).save(tmp_path / "b" / "3.png")
    with pytest.raises(InvalidVolumeError, match=r"3\.png.*uint16"):
        open_volume(tmp_path / "b")


def test_stack_of_rgb_slices_names_channel_axis(tmp_path, rng):
    _save_slices(tmp_path / "c", rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(tmp_path / "c")


def test_stack_with_a_damaged_slice(tmp_path, rng):
    _save_slices(tmp_path / "d", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8))
    last = tmp_path / "d" / "2.png"
    last.write_bytes(last.read_bytes()[:60])
    with pytest.raises(CorruptFileError, match=r"2\.png"):
        open_volume(tmp_path / "d")


def test_stack_with_a_truncated_tiff_slice(tmp_path, rng):
    folder = tmp_path / "t"
    folder.mkdir()
    for i, plane in enumerate(rng.integers(0, 255, (3, 64, 64), dtype=np.uint8)):
        tifffile.imwrite(folder / f"{i}.tif", plane)
    last = folder / "2.tif"
    last.write_bytes(last.read_bytes()[:-2000])
    with pytest.raises(CorruptFileError, match=r"2\.tif"):
        open_volume(folder)


def test_mixed_slice_kinds_ask_for_a_pattern(tmp_path, rng):
    _save_slices(tmp_path / "e", rng.integers(0, 255, (2, 8, 8), dtype=np.uint8))
    tifffile.imwrite(tmp_path / "e" / "9.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(InvalidVolumeError, match="glob"):
        open_volume(tmp_path / "e")
    assert open_volume(tmp_path / "e" / "*.png").shape == (2, 8, 8)


def test_single_2d_images(tmp_path, rng):
    plane = rng.integers(0, 255, (25, 35), dtype=np.uint8)
    Image.fromarray(plane).save(tmp_path / "p.png")
    vol = open_volume(tmp_path / "p.png")
    assert vol.format == "png"
    assert vol.shape == (1, 25, 35)
    np.testing.assert_array_equal(vol.data[0].compute(), plane)
    Image.fromarray(plane).save(tmp_path / "p.jpg", quality=95)
    assert open_volume(tmp_path / "p.jpg").shape == (1, 25, 35)
    tifffile.imwrite(tmp_path / "p.tif", plane)
    assert open_volume(tmp_path / "p.tif").shape == (1, 25, 35)
    rgb = rng.integers(0, 255, (25, 35, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(tmp_path / "rgb.png")


def test_grey_palette_png_reads_as_grey(tmp_path):
    plane = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(plane).convert("P").save(tmp_path / "pal.png")
    assert Image.open(tmp_path / "pal.png").mode == "P"
    np.testing.assert_array_equal(open_volume(tmp_path / "pal.png").data[0].compute(), plane)


# --- HDF5, MRC, NumPy, Zarr -----------------------------------------------------------------


def test_hdf5_single_dataset_found_without_key(tmp_path, image):
    path = tmp_path / "one.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("group/raw", data=image, chunks=(2, 25, 35))
        f["group/raw"].attrs["element_size_um"] = [0.05, 0.004, 0.004]
        f.create_dataset("meta", data=np.arange(5))  # 1D: not an image
    vol = open_volume(path)
    assert vol.key == "group/raw"
    assert vol.unit == "micrometer"
    assert vol.spacing == pytest.approx((0.05, 0.004, 0.004))
    np.testing.assert_array_equal(vol.data.compute(), image)
    assert all(c % 25 == 0 for c in vol.data.chunks[1][:-1])


def test_hdf5_2d_dataset_is_one_slice(tmp_path, image):
    path = tmp_path / "plane.h5"
    with h5py.File(path, "w") as f:
        f["plane"] = image[0]
        f["plane"].attrs["spacing"] = [4.0, 4.0]
        f["plane"].attrs["unit"] = "nm"
    vol = open_volume(path)
    assert vol.shape == (1, 100, 70)
    assert vol.spacing == (4.0, 4.0, 4.0)
    np.testing.assert_array_equal(vol.data[0].compute(), image[0])


def test_hdf5_several_datasets_need_a_key(tmp_path, image):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["raw"] = image
        f["labels"] = image.astype(np.uint32)
    with pytest.raises(KeyRequiredError, match="key=") as info:
        open_volume(path)
    assert sorted(info.value.keys) == ["labels", "raw"]
    assert isinstance(info.value, KeyError)
    assert open_volume(path, key="/labels").dtype == np.uint32
    with pytest.raises(KeyRequiredError, match="raw"):
        open_volume(path, key="nope")


def test_hdf5_reads_are_thread_safe_and_pickle(tmp_path, rng):
    image = rng.integers(0, 255, (16, 64, 64), dtype=np.uint8)
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", data=image, chunks=(1, 64, 64), compression="gzip")
    data = open_volume(path).data.rechunk((1, 32, 32))
    np.testing.assert_array_equal(data.compute(scheduler="threads", num_workers=8), image)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(data)).compute(), image)


def test_hdf5_4d_and_corrupt(tmp_path):
    path = tmp_path / "4d.h5"
    with h5py.File(path, "w") as f:
        f["v"] = np.zeros((2, 3, 4, 5), np.uint8)
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(path)
    good = path.read_bytes()
    (tmp_path / "cut.h5").write_bytes(good[:1000])
    with pytest.raises(CorruptFileError):
        open_volume(tmp_path / "cut.h5")


def test_mrc_voxel_size_and_imod_unsigned_bytes(tmp_path, rng):
    data = rng.integers(-100, 100, (4, 20, 30), dtype=np.int8)
    path = tmp_path / "v.rec"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = (2.5, 2.5, 7.0)
    vol = open_volume(path)
    assert vol.format == "mrc"
    assert vol.dtype == np.int8
    assert vol.spacing == pytest.approx((7.0, 2.5, 2.5))
    assert vol.unit == "angstrom"
    np.testing.assert_array_equal(vol.data.compute(), data)
    # IMOD marks mode 0 as unsigned with imodStamp/imodFlags in the header
    raw = bytearray(path.read_bytes())
    raw[152:156] = np.int32(1146047817).tobytes()
    raw[156:160] = np.int32(1).tobytes()
    (tmp_path / "u.mrc").write_bytes(bytes(raw))
    unsigned = open_volume(tmp_path / "u.mrc")
    assert unsigned.dtype == np.uint8
    np.testing.assert_array_equal(unsigned.data.compute(), data.view(np.uint8))
    (tmp_path / "cut.mrc").write_bytes(path.read_bytes()[:-500])
    with pytest.raises(CorruptFileError):
        open_volume(tmp_path / "cut.mrc")


def test_npy_c_and_fortran_order(tmp_path, image):
    np.save(tmp_path / "c.npy", image)
    np.save(tmp_path / "f.npy", np.asfortranarray(image))
    for name in ("c.npy", "f.npy"):
        vol = open_volume(tmp_path / name)
        np.testing.assert_array_equal(vol.data.compute(), image)
        np.testing.assert_array_equal(vol.data[2:4, 50:, 7:9].compute(), image[2:4, 50:, 7:9])
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidVolumeError, match="objects"):
        open_volume(tmp_path / "obj.npy")
    np.save(tmp_path / "zero.npy", np.zeros((0, 4, 4), np.uint8))
    with pytest.raises(InvalidVolumeError, match="zero-size"):
        open_volume(tmp_path / "zero.npy")
    (tmp_path / "cut.npy").write_bytes((tmp_path / "c.npy").read_bytes()[:-10])
    with pytest.raises(CorruptFileError):
        open_volume(tmp_path / "cut.npy")


def test_zarr_v2_array_and_group_keys(tmp_path, image):
    arr = zarr.open_array(
        tmp_path / "v2.zarr",
        mode="w",
        shape=image.shape,
        chunks=(2, 50, 70),
        dtype=image.dtype,
        zarr_format=2,
    )
    arr[:] = image
    arr.attrs["resolution"] = [40, 4, 4]
    vol = open_volume(tmp_path / "v2.zarr")
    assert vol.format == "zarr"
    assert vol.spacing == (40, 4, 4)
    assert vol.unit is None
    np.testing.assert_array_equal(vol.data.compute(), image)
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    group.create_array("raw", data=image)
    group.create_array("pred/mask", data=image > 30000)
    with pytest.raises(KeyRequiredError) as info:
        open_volume(tmp_path / "g.zarr")
    assert info.value.keys == ["pred/mask", "raw"]
    assert open_volume(tmp_path / "g.zarr", key="pred/mask").dtype == np.uint8


def test_ome_zarr_with_channel_axis(tmp_path):
    group = zarr.open_group(tmp_path / "c.ome.zarr", mode="w")
    group.create_array("0", shape=(2, 4, 8, 8), dtype="u1")
    axes = [{"name": "c", "type": "channel"}] + [{"name": a, "type": "space"} for a in "zyx"]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": axes,
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1] * 4}],
                    }
                ],
            }
        ],
    }
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        open_volume(tmp_path / "c.ome.zarr")


# --- ROI, binning and bad input --------------------------------------------------------------


def test_roi_then_bin(tmp_path, image):
    np.save(tmp_path / "v.npy", image)
    vol = open_volume(tmp_path / "v.npy", roi="1:5,10:60,:", bin=(2, 2, 3))
    assert vol.source_shape == image.shape
    assert vol.shape == (2, 25, 24)  # x: 70 / 3 rounds up, edge replicated
    crop = image[1:5, 10:60, :].astype(np.float64)
    expected = crop[:, :, :69].reshape(2, 2, 25, 2, 23, 3).mean(axis=(1, 3, 5))
    np.testing.assert_array_equal(vol.data.compute()[:, :, :23], np.round(expected))
    roi_only = open_volume(tmp_path / "v.npy", roi=[(0, 2), slice(5, 9), (-10, None)])
    np.testing.assert_array_equal(roi_only.data.compute(), image[0:2, 5:9, -10:])


def test_bin_multiplies_spacing(tmp_path, image):
    path = tmp_path / "s.tif"
    tifffile.imwrite(
        path,
        image,
        imagej=True,
        metadata={"axes": "ZYX", "spacing": 3.0, "unit": "nm"},
        resolution=(1.0, 1.0),
    )
    vol = open_volume(path, bin=(1, 2, 2))
    assert vol.spacing == (3.0, 2.0, 2.0)
    assert vol.unit == "nanometer"


@pytest.mark.parametrize("roi", ["0:7,:,:", "2:2,:,:", ":,:,60:80", "1:2,3:4"])
def test_bad_roi(tmp_path, image, roi):
    np.save(tmp_path / "v.npy", image)
    with pytest.raises(RoiError):
        open_volume(tmp_path / "v.npy", roi=roi)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(NotAVolumeFileError, match="nothere") as info:
        open_volume(tmp_path / "nothere.tif")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(NotAVolumeFileError, match="match"):
        open_volume(tmp_path / "*.png")
    (tmp_path / "data.xyz").write_bytes(b"\x00" * 100)
    with pytest.raises(FormatNotSupportedError, match="ome-zarr"):
        open_volume(tmp_path / "data.xyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatNotSupportedError):
        open_volume(tmp_path / "empty")


def test_content_wins_over_a_wrong_suffix(tmp_path, image):
    np.save(tmp_path / "v.npy", image)
    (tmp_path / "v.npy").rename(tmp_path / "v.dat")
    assert open_volume(tmp_path / "v.dat").format == "npy"


def test_key_and_level_on_formats_without_them(tmp_path, image):
    np.save(tmp_path / "v.npy", image)
    with pytest.raises(ValueError, match="key"):
        open_volume(tmp_path / "v.npy", key="raw")
    with pytest.raises(ValueError, match="level"):
        open_volume(tmp_path / "v.npy", level=1)
    with pytest.raises(TypeError):
        open_volume(tmp_path / "v.npy", level=0.5)
