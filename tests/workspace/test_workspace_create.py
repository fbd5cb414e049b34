"""Creating and opening workspaces: from arrays and files, atomic creation, bad input."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest

from voxelwise.errors import (
    CancelledError,
    InvalidVolumeError,
    RoiError,
    WorkspaceExistsError,
    WorkspaceNotFoundError,
)
from voxelwise.workspace import SCHEMA_VERSION, Workspace


@pytest.fixture
def image(rng):
    return rng.integers(0, 200, size=(12, 70, 90), dtype=np.uint8)


def test_create_from_numpy_roundtrip(tmp_path, image):
    ws = Workspace.create(tmp_path / "a.vw", image, spacing=(50, 4, 4), unit="nanometer")
    assert ws.shape == image.shape
    assert ws.dtype == np.uint8
    assert ws.spacing == (50.0, 4.0, 4.0)
    assert ws.unit == "nanometer"
    assert ws.name == "a"
    np.testing.assert_array_equal(ws.get("raw").compute(), image)
    raw = ws.layers["raw"]
    assert raw.kind == "image"
    assert raw.directory == ""
    assert raw.stats["max"] == int(image.max())
    # the catalog is there, WAL mode, schema version recorded
    with sqlite3.connect(tmp_path / "a.vw" / "catalog.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert not list(tmp_path.glob(".a.vw.*")), "temporary folders left behind"


def test_create_from_dask_with_roi_and_bin(tmp_path, image):
    lazy = da.from_array(image, chunks=(5, 33, 40))
    ws = Workspace.create(
        tmp_path / "b.vw", lazy, roi="2:10,10:60,:", bin=(1, 2, 2), spacing=(30, 5, 5)
    )
    expected = image[2:10, 10:60, :].reshape(8, 25, 2, 45, 2).astype(np.float32).mean((2, 4))
    assert ws.shape == (8, 25, 45)
    np.testing.assert_array_equal(ws.get("raw").compute(), np.round(expected).astype(np.uint8))
    assert ws.spacing == (30.0, 10.0, 10.0)  # spacing describes the input, times bin
    assert ws.layers["raw"].params["roi"] == "2:10,10:60,0:90"
    assert ws.layers["raw"].params["bin"] == [1, 2, 2]


def test_default_spacing_chunks_and_pyramid(tmp_path, rng):
    image = rng.random((4, 300, 520), dtype=np.float32)
    ws = Workspace.create(tmp_path / "c.vw", image)
    assert ws.spacing == (1.0, 1.0, 1.0)
    assert ws.chunks == (4, 256, 256)  # 64 x 256 x 256 capped to the shape
    assert ws.open_array("raw", mode="r").chunks == (4, 256, 256)
    raw = ws.layers["raw"]
    assert raw.levels >= 2
    assert ws.get("raw", level=1).shape == (4, 150, 260)
    assert ws.level_spacing("raw", 1) == (1.0, 2.0, 2.0)


def test_2d_image_is_one_slice(tmp_path, rng):
    image = rng.integers(0, 9, size=(40, 50), dtype=np.uint16)
    ws = Workspace.create(tmp_path / "d.vw", image, chunks=(1, 16, 16))
    assert ws.shape == (1, 40, 50)
    np.testing.assert_array_equal(ws.get("raw")[0].compute(), image)


def test_create_over_existing_requires_overwrite(tmp_path, image):
    path = tmp_path / "e.vw"
    Workspace.create(path, image)
    with pytest.raises(WorkspaceExistsError, match=r"overwrite=True.*--overwrite"):
        Workspace.create(path, image[:4])
    assert Workspace.open(path).shape == image.shape
    ws = Workspace.create(path, image[:4], overwrite=True)
    assert ws.shape == (4, *image.shape[1:])
    assert not list(tmp_path.glob(".e.vw.*"))


def test_overwrite_cancelled_midway_keeps_old_workspace(tmp_path, image):
    path = tmp_path / "f.vw"
    Workspace.create(path, image)

    def cancel(done, total):
        if done >= 2:
            raise CancelledError("stop")

    with pytest.raises(CancelledError):
        Workspace.create(path, image * 0 + 7, overwrite=True, chunks=(4, 32, 32), progress=cancel)
    ws = Workspace.open(path)
    np.testing.assert_array_equal(ws.get("raw").compute(), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.vw"]


def test_cancelled_creation_leaves_nothing_and_stale_temp_folders_are_removed(tmp_path, image):
    def cancel(done, total):
        raise CancelledError("stop")

    with pytest.raises(CancelledError):
        Workspace.create(tmp_path / "t.vw", image, chunks=(4, 32, 32), progress=cancel)
    assert list(tmp_path.iterdir()) == []
    # a creation killed earlier leaves a hidden temporary folder named after its dead process
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = tmp_path / f".t.vw.vw-tmp-{int(dead.stdout)}-0123abcd"
    (stale / "data.ome.zarr").mkdir(parents=True)
    Workspace.create(tmp_path / "t.vw", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.vw"]


def test_refuses_to_replace_a_folder_that_is_not_a_workspace(tmp_path, image):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.txt").write_text("do not delete")
    with pytest.raises(WorkspaceExistsError, match="not a voxelwise workspace"):
        Workspace.create(folder, image, overwrite=True)
    assert (folder / "thesis.txt").read_text() == "do not delete"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Workspace.create(empty, image).shape == image.shape


def test_open_a_folder_that_is_not_a_workspace(tmp_path):
    with pytest.raises(
        WorkspaceNotFoundError, match=r"not a voxelwise workspace.*Workspace\.create"
    ):
        Workspace.open(tmp_path)
    with pytest.raises(WorkspaceNotFoundError):
        Workspace.open(tmp_path / "missing.vw")
    (tmp_path / "fake.vw" / "data.ome.zarr").mkdir(parents=True)
    (tmp_path / "fake.vw" / "catalog.sqlite").write_bytes(b"not sqlite at all, just bytes" * 10)
    with pytest.raises(WorkspaceNotFoundError, match="catalog"):
        Workspace.open(tmp_path / "fake.vw")


def test_newer_schema_is_refused(tmp_path, image):
    path = tmp_path / "g.vw"
    Workspace.create(path, image)
    with sqlite3.connect(path / "catalog.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(Exception, match="newer voxelwise"):
        Workspace.open(path)


def test_roi_outside_the_volume(tmp_path, image):
    with pytest.raises(RoiError, match="outside the volume"):
        Workspace.create(tmp_path / "h.vw", image, roi="0:5,0:500,:")
    assert not (tmp_path / "h.vw").exists()


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (np.zeros((2, 3, 4, 5), np.uint8), InvalidVolumeError),
        (np.zeros((2, 3, 4), np.complex64), InvalidVolumeError),
        ([[1, 2], [3, 4]], TypeError),
    ],
)
def test_bad_images(tmp_path, bad, error):
    with pytest.raises(error):
        Workspace.create(tmp_path / "i.vw", bad)
    assert not (tmp_path / "i.vw").exists()


def test_key_with_array_is_rejected(tmp_path, image):
    with pytest.raises(TypeError, match="key="):
        Workspace.create(tmp_path / "j.vw", image, key="data")


def test_create_from_npy_file(tmp_path, image):
    np.save(tmp_path / "vol.npy", image)
    ws = Workspace.create(tmp_path / "k.vw", tmp_path / "vol.npy", roi=":,0:64,0:64", chunks=16)
    np.testing.assert_array_equal(ws.get("raw").compute(), image[:, :64, :64])
    assert ws.chunks == (12, 16, 16)
    assert ws.spacing == (1.0, 1.0, 1.0)
    params = ws.layers["raw"].params
    assert params["format"] == "npy"
    assert params["path"] == str((tmp_path / "vol.npy").resolve())


def test_create_from_file_takes_spacing_and_unit_from_it(tmp_path, image):
    from voxelwise.io import write_volume

    src = write_volume(image, tmp_path / "src.ome.zarr", spacing=(45, 5, 5), unit="nanometer")
    ws = Workspace.create(tmp_path / "n.vw", src, bin=(1, 5, 5))
    assert ws.spacing == (45.0, 25.0, 25.0)
    assert ws.unit == "nanometer"
    assert ws.shape == (12, 14, 18)
    override = Workspace.create(tmp_path / "o.vw", src, spacing=2, unit="micrometer")
    assert override.spacing == (2.0, 2.0, 2.0)
    assert override.unit == "micrometer"
    with pytest.raises(RoiError, match="outside the volume"):
        Workspace.create(tmp_path / "p.vw", src, roi="0:13,:,:")
    assert not (tmp_path / "p.vw").exists()


def test_create_from_tiff_file(tmp_path, image):
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(tmp_path / "vol.tif", image)
    ws = Workspace.create(tmp_path / "l.vw", str(tmp_path / "vol.tif"), spacing=(40, 8, 8), bin=2)
    assert ws.shape == (6, 35, 45)
    assert ws.spacing == (80.0, 16.0, 16.0)
    assert ws.layers["raw"].params["format"] == "tiff"


def test_ome_zarr_reader_sees_image_and_labels(tmp_path, image):
    reader = pytest.importorskip("ome_zarr.reader")
    from ome_zarr.io import parse_url

    ws = Workspace.create(tmp_path / "m.vw", np.tile(image, (1, 3, 3)), spacing=(50, 4, 4))
    ws.add_label("cls", "cell", color="#00ff00")
    ws.add_layer("seg", (ws.get("raw") > 100).astype("uint8"), kind="labels", label_set="cls")
    ws.add_layer("feat", ws.get("raw").astype("float32"))
    nodes = list(reader.Reader(parse_url(str(tmp_path / "m.vw" / "data.ome.zarr")))())
    image_node = nodes[0]
    assert next(d.shape for d in image_node.data) == ws.shape
    assert len(image_node.data) == ws.layers["raw"].levels
    label_nodes = [n for n in nodes if any(type(s).__name__ == "Label" for s in n.specs)]
    assert len(label_nodes) == 1
    assert label_nodes[0].data[0].shape == ws.shape
    np.testing.assert_array_equal(np.asarray(label_nodes[0].data[0]), ws.get("seg").compute())
    assert label_nodes[0].metadata["color"][1] == [0.0, 1.0, 0.0, 1.0]


def test_create_from_real_tiff_stack(tmp_path, shared_data):
    import tifffile

    folder = shared_data / "drosophila_vnc_sstem" / "stack1" / "raw"
    ws = Workspace.create(
        tmp_path / "fly.vw",
        folder,
        roi="2:6,100:356,200:456",
        spacing=(50, 4.6, 4.6),
        unit="nanometer",
        chunks=(2, 128, 128),
    )
    expected = np.stack([tifffile.imread(folder / f"{z:02d}.tif") for z in range(2, 6)])
    expected = expected[:, 100:356, 200:456]
    np.testing.assert_array_equal(ws.get("raw").compute(), expected)
    stats = ws.stats("raw")
    assert stats["percentiles"]["50"] == np.percentile(expected, 50)
    assert stats["mean"] == pytest.approx(expected.mean())
    # anisotropic voxels: y and x are halved, z is kept
    assert [ws.get("raw", level=i).shape for i in range(ws.layers["raw"].levels)] == [
        (4, 256, 256),
        (4, 128, 128),
        (4, 64, 64),
    ]
