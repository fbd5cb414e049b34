"""write_volume -> open_volume round trips for every writable format."""

from __future__ import annotations

import h5py
import mrcfile
import numpy as np
import pytest
import tifffile
import zarr

from voxelwise.errors import (
    CancelledError,
    FormatNotSupportedError,
    InvalidVolumeError,
    OutputExistsError,
)
from voxelwise.io import Volume, open_volume, supported_formats, write_volume

SUFFIX = {
    "tiff": ".tif",
    "hdf5": ".h5",
    "mrc": ".mrc",
    "zarr": ".zarr",
    "ome-zarr": ".ome.zarr",
    "npy": ".npy",
}
STORES_SPACING = {"tiff", "hdf5", "mrc", "zarr", "ome-zarr"}


def _volume(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return rng.normal(100, 30, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


def test_supported_formats_lists_readers_and_writers():
    assert set(SUFFIX) == set(supported_formats(write=True))
    assert {"tiff", "image-stack", "hdf5", "mrc", "zarr", "ome-zarr", "npy"} <= set(
        supported_formats()
    )


@pytest.mark.parametrize("fmt", list(SUFFIX))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_round_trip_odd_shape_and_chunks(tmp_path, rng, fmt, dtype):
    image = _volume(rng, (13, 70, 45), dtype)
    out = write_volume(
        image, tmp_path / f"vol{SUFFIX[fmt]}", chunks=(5, 32, 32), spacing=(3, 1.5, 1.25), unit="nm"
    )
    vol = open_volume(out)
    assert vol.format == fmt
    assert vol.shape == (13, 70, 45) == vol.source_shape
    back = vol.data.compute()
    np.testing.assert_array_equal(back, image)
    if fmt == "mrc" and dtype == np.uint8:
        assert back.dtype == np.uint16  # MRC mode 0 is signed: uint8 is widened, losslessly
    else:
        assert back.dtype == dtype
    if fmt in STORES_SPACING:
        if fmt == "mrc":  # MRC headers are in angstrom
            assert vol.unit == "angstrom"
            np.testing.assert_allclose(vol.spacing, (30, 15, 12.5), rtol=1e-6)
        else:
            assert vol.unit == "nanometer"
            np.testing.assert_allclose(vol.spacing, (3, 1.5, 1.25), rtol=1e-6)
    else:
        assert vol.spacing is None


@pytest.mark.parametrize("fmt", ["hdf5", "zarr", "ome-zarr"])
def test_storage_chunks_follow_the_chunks_argument(tmp_path, rng, fmt):
    image = _volume(rng, (13, 70, 45), np.uint16)
    out = write_volume(image, tmp_path / f"c{SUFFIX[fmt]}", chunks=(5, 32, 32))
    if fmt == "hdf5":
        with h5py.File(out) as f:
            assert f["data"].chunks == (5, 32, 32)
            assert f["data"].compression == "gzip"
    else:
        arr = zarr.open_array(out / "0") if fmt == "ome-zarr" else zarr.open_array(out)
        assert arr.chunks == (5, 32, 32)


def test_dask_input_with_uneven_chunks(tmp_path, rng):
    import dask.array as da

    image = _volume(rng, (11, 40, 33), np.int16)
    lazy = da.from_array(image, chunks=((3, 8), (7, 33), (33,)))
    for fmt in SUFFIX:
        out = write_volume(lazy, tmp_path / f"d{SUFFIX[fmt]}", chunks=(4, 16, 16))
        np.testing.assert_array_equal(open_volume(out).data.compute(), image)


def test_2d_image_is_written_as_one_slice(tmp_path, rng):
    image = _volume(rng, (30, 20), np.uint8)
    out = write_volume(image, tmp_path / "plane.tif")
    vol = open_volume(out)
    assert vol.shape == (1, 30, 20)
    np.testing.assert_array_equal(vol.data[0].compute(), image)


def test_volume_input_keeps_its_spacing(tmp_path, rng):
    image = _volume(rng, (6, 40, 40), np.uint8)
    src = write_volume(image, tmp_path / "src.h5", spacing=(40, 4, 4), unit="nanometer")
    vol = open_volume(src, roi="1:5,:,:", bin=(1, 2, 2))
    assert vol.spacing == (40, 8, 8)
    out = write_volume(vol, tmp_path / "binned.ome.zarr")
    back = open_volume(out)
    assert back.spacing == (40, 8, 8)
    assert back.unit == "nanometer"
    assert back.shape == (4, 20, 20)
    np.testing.assert_array_equal(back.data.compute(), vol.data.compute())


def test_tiff_is_imagej_compatible_with_calibration(tmp_path, rng):
    image = _volume(rng, (5, 32, 24), np.uint16)
    out = write_volume(image, tmp_path / "ij.tif", spacing=(0.5, 0.125, 0.125), unit="um")
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.5)
        assert tif.imagej_metadata["unit"] == "micron"
        assert len(tif.pages) == 5
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        np.testing.assert_array_equal(tif.asarray(), image)
    vol = open_volume(out)
    assert vol.unit == "micrometer"
    np.testing.assert_allclose(vol.spacing, (0.5, 0.125, 0.125))


def test_tiff_of_other_dtypes_keeps_exact_spacing_in_json_metadata(tmp_path, rng):
    image = _volume(rng, (4, 16, 16), np.int32)
    out = write_volume(image, tmp_path / "i32.tif", spacing=(45, 4.6, 4.6), unit="nm")
    with tifffile.TiffFile(out) as tif:
        assert not tif.is_imagej
        assert tif.shaped_metadata[0]["spacing"] == [45, 4.6, 4.6]
    vol = open_volume(out)
    assert vol.spacing == (45, 4.6, 4.6)
    assert vol.unit == "nanometer"
    np.testing.assert_array_equal(vol.data.compute(), image)


def test_hdf5_attributes_and_key(tmp_path, rng):
    image = _volume(rng, (4, 16, 16), np.float32)
    out = write_volume(image, tmp_path / "v.h5", key="volumes/raw", spacing=(50, 4, 4), unit="nm")
    with h5py.File(out) as f:
        ds = f["volumes/raw"]
        np.testing.assert_allclose(ds.attrs["element_size_um"], (0.05, 0.004, 0.004))
        np.testing.assert_allclose(ds.attrs["spacing"], (50, 4, 4))
    vol = open_volume(out)
    assert vol.key == "volumes/raw"
    assert vol.spacing == (50, 4, 4)


def test_mrc_header(tmp_path, rng):
    image = _volume(rng, (4, 16, 12), np.float32)
    out = write_volume(image, tmp_path / "v.mrc", spacing=(2, 1, 1), unit="nm")
    with mrcfile.open(out) as mrc:
        assert mrc.voxel_size.x == pytest.approx(10)
        assert mrc.voxel_size.z == pytest.approx(20)
        assert mrc.header.dmax == pytest.approx(image.max())
        assert mrc.header.dmean == pytest.approx(image.mean(), rel=1e-5)
        np.testing.assert_array_equal(mrc.data, image)


def test_mrc_rejects_dtypes_it_cannot_store(tmp_path):
    with pytest.raises(InvalidVolumeError, match="astype"):
        write_volume(np.zeros((2, 4, 4), np.float64), tmp_path / "v.mrc")
    assert not list(tmp_path.iterdir())


def test_bool_is_written_as_uint8(tmp_path):
    mask = np.zeros((3, 8, 8), bool)
    mask[1, 2:5, 3:6] = True
    vol = open_volume(write_volume(mask, tmp_path / "m.zarr"))
    assert vol.dtype == np.uint8
    np.testing.assert_array_equal(vol.data.compute(), mask.astype(np.uint8))


def test_ome_zarr_pyramid_levels_and_anisotropy(tmp_path, rng):
    image = _volume(rng, (8, 300, 260), np.uint8)
    out = write_volume(image, tmp_path / "p.ome.zarr", spacing=(40, 4, 4), unit="nm", chunks=64)
    vol = open_volume(out)
    assert vol.levels == 3
    level1 = open_volume(out, level=1)
    assert level1.shape == (8, 150, 130)  # thick sections: only y and x halved
    assert level1.spacing == (40, 8, 8)
    assert open_volume(out, level=2).shape == (8, 75, 65)
    capped = write_volume(image, tmp_path / "one.ome.zarr", levels=1)
    assert open_volume(capped).levels == 1


def test_ome_zarr_opens_in_ome_zarr_py(tmp_path, rng):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    image = _volume(rng, (6, 200, 180), np.uint16)
    out = write_volume(image, tmp_path / "ext.ome.zarr", spacing=(30, 5, 5), unit="nm", chunks=64)
    nodes = list(Reader(parse_url(str(out)))())
    assert nodes, "ome-zarr-py found no image"
    node = nodes[0]
    np.testing.assert_array_equal(np.asarray(node.data[0]), image)
    assert len(node.data) == 2
    axes = node.metadata["axes"]
    assert [a["name"] for a in axes] == ["z", "y", "x"]
    assert axes[0]["unit"] == "nanometer"
    scales = [t[0]["scale"] for t in node.metadata["coordinateTransformations"]]
    assert scales == [[30, 5, 5], [30, 10, 10]]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ome-zarr-py's own default Scaler
@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_reads_ome_zarr_written_by_ome_zarr_py(tmp_path, rng, version):
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image

    image = _volume(rng, (5, 64, 66), np.uint8)
    out = tmp_path / f"ext{version}.ome.zarr"
    write_image(
        image,
        str(out),
        fmt=FormatV04() if version == "0.4" else FormatV05(),
        axes="zyx",
        scale_factors=(2,),
        scale={"z": 0.5, "y": 0.1, "x": 0.1},
        axes_units={a: "micrometer" for a in "zyx"},
    )
    vol = open_volume(out)
    assert vol.format == "ome-zarr"
    assert vol.levels == 2
    assert vol.spacing == pytest.approx((0.5, 0.1, 0.1))
    assert vol.unit == "micrometer"
    np.testing.assert_array_equal(vol.data.compute(), image)
    coarse = open_volume(out, level=1)
    assert coarse.shape == (5, 32, 33)
    assert coarse.spacing == pytest.approx((0.5, 0.2, 0.2))


@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_existing_output_needs_overwrite(tmp_path, fmt):
    image = np.ones((2, 8, 8), np.uint8)
    out = write_volume(image, tmp_path / f"x{SUFFIX[fmt]}")
    with pytest.raises(OutputExistsError, match="overwrite=True") as info:
        write_volume(image * 2, out)
    assert isinstance(info.value, FileExistsError)
    np.testing.assert_array_equal(open_volume(out).data.compute(), image)
    write_volume(image * 2, out, overwrite=True)
    np.testing.assert_array_equal(open_volume(out).data.compute(), image * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left


@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_writing_over_the_input_keeps_it_readable(tmp_path, rng, fmt):
    image = _volume(rng, (9, 40, 40), np.uint16)
    path = write_volume(image, tmp_path / f"same{SUFFIX[fmt]}", chunks=(4, 16, 16))
    vol = open_volume(path, bin=(1, 2, 2))
    expected = vol.data.compute()
    write_volume(vol, path, overwrite=True)
    np.testing.assert_array_equal(open_volume(path).data.compute(), expected)


def test_overwrite_refuses_a_folder_that_is_not_a_store(tmp_path):
    folder = tmp_path / "precious.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not a zarr store"):
        write_volume(np.zeros((2, 4, 4), np.uint8), folder, overwrite=True)
    assert (folder / "notes.txt").exists()


def test_cancel_leaves_nothing_behind(tmp_path, rng):
    image = _volume(rng, (8, 64, 64), np.uint8)
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        raise CancelledError("stop")

    for name in ("c.tif", "c.zarr"):
        with pytest.raises(CancelledError):
            write_volume(image, tmp_path / name, chunks=(2, 64, 64), progress=progress)
    assert calls
    assert not list(tmp_path.iterdir())


def test_progress_reaches_total(tmp_path, rng):
    image = _volume(rng, (8, 64, 64), np.uint8)
    seen: list[tuple[int, int]] = []
    write_volume(
        image,
        tmp_path / "p.zarr",
        chunks=(2, 32, 32),
        progress=lambda d, t: seen.append((d, t)),
        scheduler="sync",
    )
    assert seen[-1] == (16, 16)


def test_bad_output_names_and_arguments(tmp_path):
    image = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(FormatNotSupportedError, match=r"\.ome\.zarr"):
        write_volume(image, tmp_path / "out.xyz")
    with pytest.raises(FormatNotSupportedError):
        write_volume(image, tmp_path / "out.tif", format="jpeg2000")
    assert write_volume(image, tmp_path / "out.xyz", format="npy").exists()
    with pytest.raises(ValueError, match="levels"):
        write_volume(image, tmp_path / "l.tif", levels=2)
    with pytest.raises(ValueError, match="key"):
        write_volume(image, tmp_path / "k.npy", key="a")
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        write_volume(np.zeros((2, 3, 4, 4), np.uint8), tmp_path / "4d.tif")
    with pytest.raises(TypeError):
        write_volume([[1, 2]], tmp_path / "list.tif")
    with pytest.raises(InvalidVolumeError, match="complex"):
        write_volume(np.zeros((2, 4, 4), np.complex64), tmp_path / "c.zarr")
    with pytest.raises(ValueError, match="voxel size"):
        write_volume(image, tmp_path / "s.tif", spacing=(0, 1, 1))


def test_volume_repr_and_describe(tmp_path):
    out = write_volume(np.zeros((3, 8, 8), np.uint8), tmp_path / "r.h5", spacing=2, unit="um")
    vol = open_volume(out)
    assert isinstance(vol, Volume)
    assert "hdf5" in repr(vol)
    assert "(3, 8, 8)" in repr(vol)
    text = vol.describe()
    assert "2 x 2 x 2 micrometer" in text
    assert "uint8" in text


@pytest.mark.slow
def test_sources_and_writers_work_on_a_process_cluster(tmp_path, rng):
    distributed = pytest.importorskip("distributed")
    image = _volume(rng, (5, 64, 48), np.uint16)
    tifffile.imwrite(tmp_path / "raw.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "zip.tif", image, photometric="minisblack", compression="zlib")
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f.create_dataset("v", data=image, chunks=(1, 32, 48))
    sources = [tmp_path / "raw.tif", tmp_path / "zip.tif", tmp_path / "v.h5"]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for i, src in enumerate(sources):
            for suffix in (".zarr", ".tif"):
                out = write_volume(open_volume(src), tmp_path / f"o{i}{suffix}", scheduler=client)
                np.testing.assert_array_equal(open_volume(out).data.compute(), image)
