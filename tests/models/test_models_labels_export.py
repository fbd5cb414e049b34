"""Label export for other software, each format read back (NRRD parsed by hand)."""

from __future__ import annotations

import csv
import gzip
import json

import h5py
import mrcfile
import numpy as np
import pytest
import tifffile
import zarr

from voxelwise.errors import FormatNotSupportedError, InvalidVolumeError, OutputExistsError
from voxelwise.models import export_labels
from voxelwise.workspace import Workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    image = np.random.default_rng(0).integers(0, 200, (10, 24, 32), dtype=np.uint8)
    ws = Workspace.create(
        tmp_path_factory.mktemp("labels") / "ws.vw",
        image,
        chunks=(4, 16, 16),
        spacing=(50, 4, 4),
        unit="nanometer",
    )
    ws.add_label("tissue", "cell", color="#ff0000")
    ws.add_label("tissue", "mito", value=3, color="#00ff00")
    labels = np.zeros(image.shape, np.uint8)
    labels[1:4, 2:10, 3:9] = 1
    labels[6:9, 12:20, 20:30] = 3
    ws.add_layer("seg", labels, kind="prediction", label_set="tissue")
    ws.add_layer("prob", image.astype(np.float32), kind="probabilities")
    return ws


def _expected(ws):
    return np.asarray(ws.get("seg"))


def test_tiff_with_label_names(ws, tmp_path):
    out = export_labels(ws, "seg", tmp_path / "seg.tif")
    with tifffile.TiffFile(out) as tif:
        data = tif.asarray()
        meta = tif.imagej_metadata
    np.testing.assert_array_equal(data, _expected(ws))
    entry = json.loads(meta["Labels"])
    assert entry["label_set"] == "tissue"
    assert [(lab["value"], lab["name"]) for lab in entry["labels"]] == [(1, "cell"), (3, "mito")]
    assert meta["spacing"] == pytest.approx(50.0)  # the calibration stays


def test_hdf5_with_label_attributes(ws, tmp_path):
    out = export_labels(ws, "seg", tmp_path / "seg.h5")
    with h5py.File(out, "r") as f:
        ds = f["labels"]
        np.testing.assert_array_equal(ds[:], _expected(ws))
        assert json.loads(ds.attrs["label_names"]) == {"1": "cell", "3": "mito"}
        assert ds.attrs["label_values"].tolist() == [1, 3]
        assert ds.attrs["label_colors"].tolist()[0] == [255, 0, 0, 255]
        assert ds.attrs["label_set"] == "tissue"


def test_ome_zarr_labels_with_colors(ws, tmp_path):
    out = export_labels(ws, "seg", tmp_path / "seg.ome.zarr", with_image=True)
    root = zarr.open_group(out, mode="r")
    assert root["labels"].attrs["ome"]["labels"] == ["seg"]
    image_label = root["labels/seg"].attrs["ome"]["image-label"]
    assert {p["label-value"]: p["name"] for p in image_label["properties"]} == {
        1: "cell",
        3: "mito",
    }
    assert image_label["colors"][1] == {"label-value": 3, "rgba": [0, 255, 0, 255]}
    np.testing.assert_array_equal(root["labels/seg/0"][:], _expected(ws))
    np.testing.assert_array_equal(root["0"][:], np.asarray(ws.get("raw")))
    scale = root["labels/seg"].attrs["ome"]["multiscales"][0]["datasets"][0]
    assert scale["coordinateTransformations"][0]["scale"] == [50.0, 4.0, 4.0]


def _read_nrrd(path):
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode("ascii").splitlines()
    assert lines[0] == "NRRD0004"
    fields, keys = {}, {}
    for line in lines[1:]:
        if line.startswith("#"):
            continue
        if ":=" in line:
            k, v = line.split(":=", 1)
            keys[k] = v
        else:
            k, v = line.split(": ", 1)
            fields[k] = v
    return fields, keys, body


def test_nrrd_header_and_data(ws, tmp_path):
    out = export_labels(ws, "seg", tmp_path / "seg.seg.nrrd")
    fields, keys, body = _read_nrrd(out)
    assert fields["type"] == "uint8" and fields["dimension"] == "3"
    assert fields["sizes"] == "32 24 10"  # x y z: the fastest axis first
    assert fields["encoding"] == "gzip" and fields["endian"] == "little"
    assert fields["space directions"] == "(4e-06,0,0) (0,4e-06,0) (0,0,5e-05)"  # millimetres
    data = np.frombuffer(gzip.decompress(body), np.uint8).reshape(10, 24, 32)
    np.testing.assert_array_equal(data, _expected(ws))
    assert keys["Segment0_Name"] == "cell" and keys["Segment0_LabelValue"] == "1"
    assert keys["Segment1_Name"] == "mito" and keys["Segment1_LabelValue"] == "3"
    assert keys["Segment1_Color"] == "0 1 0"


def test_mrc_for_imod(ws, tmp_path):
    out = export_labels(ws, "seg", tmp_path / "seg.mrc")
    with mrcfile.open(out, permissive=False) as mrc:
        np.testing.assert_array_equal(mrc.data, _expected(ws))
        labels = [bytes(t).decode().strip() for t in mrc.header.label[: mrc.header.nlabl]]
        assert float(mrc.voxel_size.x) == pytest.approx(40.0)  # angstrom
    assert labels[-2:] == ["voxelwise labels seg set=tissue", "1=cell 3=mito"]


def test_csv_object_table(ws, tmp_path):
    out = export_labels(ws, "seg", tmp_path / "objects.csv")
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["id"], r["label_name"]) for r in rows] == [("1", "cell"), ("3", "mito")]
    assert [int(r["volume_voxels"]) for r in rows] == [144, 240]
    assert float(rows[0]["volume"]) == pytest.approx(144 * 50 * 4 * 4)
    assert (int(rows[1]["bbox_z0"]), int(rows[1]["bbox_x1"])) == (6, 30)


def test_bad_input(ws, tmp_path):
    with pytest.raises(InvalidVolumeError, match=r"ws\.export"):
        export_labels(ws, "prob", tmp_path / "p.tif")
    with pytest.raises(FormatNotSupportedError, match="suffix"):
        export_labels(ws, "seg", tmp_path / "seg.xyz")
    with pytest.raises(FormatNotSupportedError, match="nrrd"):
        export_labels(ws, "seg", tmp_path / "seg.out", format="vtk")
    out = export_labels(ws, "seg", tmp_path / "seg.nrrd")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        export_labels(ws, "seg", out)
    assert export_labels(ws, "seg", out, overwrite=True) == out
    big = ws.get("seg").astype(np.uint32) * 40000
    ws.add_layer("big", big, kind="instances")
    with pytest.raises(InvalidVolumeError, match="0-65535"):
        export_labels(ws, "big", tmp_path / "big.mrc")
    assert not list(tmp_path.glob("*.vw-tmp-*"))
