"""Importing label volumes (scribbles or dense labels) and creating annotation layers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from voxelwise import annotate
from voxelwise.annotate import AnnotationError
from voxelwise.workspace import InvalidLayerError, LabelNotFoundError, Workspace

SHAPE = (6, 32, 40)


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "i.vw", np.zeros(SHAPE, np.uint8), chunks=(3, 16, 16))
    ws.add_label("t", "a")
    ws.add_label("t", "b")
    return ws


@pytest.fixture
def scribbles(rng):
    lab = np.zeros(SHAPE, np.uint8)
    lab[1, 5:9, 5:30] = 1
    lab[4, 20:24, 3:12] = 2
    return lab


@pytest.mark.parametrize("suffix", [".tif", ".h5", ".npy", ".zarr"])
def test_import_from_files(ws, tmp_path, scribbles, suffix):
    path = tmp_path / f"scribbles{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, scribbles)
    elif suffix == ".h5":
        with h5py.File(path, "w") as f:
            f["labels"] = scribbles
            f["other"] = scribbles
    elif suffix == ".npy":
        np.save(path, scribbles)
    else:
        from voxelwise.io import write_volume

        write_volume(scribbles, path)
    info = annotate.import_labels(
        ws,
        path,
        name="scribbles",
        label_set="t",
        key="labels" if suffix == ".h5" else None,
        author="ana",
    )
    assert (info.kind, info.dtype, info.label_set) == ("annotation", "uint16", "t")
    np.testing.assert_array_equal(ws.get("scribbles").compute(), scribbles)
    (entry,) = annotate.history(ws, "scribbles")
    assert (entry.kind, entry.author, entry.voxels) == ("import", "ana", (scribbles > 0).sum())
    assert entry.params["source"] == str(path)
    assert annotate.undo(ws, "scribbles") is None
    # painting works on the imported layer
    annotate.paint(ws, "scribbles", "b", center=(1, 7, 10), radius=1)
    assert ws.get("scribbles").compute()[1, 7, 10] == 2


def test_shape_mismatch_names_both_shapes(ws):
    with pytest.raises(InvalidLayerError, match=r"shape \(6, 32, 41\) .* shape \(6, 32, 40\)"):
        annotate.import_labels(ws, np.zeros((6, 32, 41), np.uint8), name="x")
    with pytest.raises(InvalidLayerError, match=r"shape \(1, 32, 40\)"):
        annotate.import_labels(ws, np.zeros((32, 40), np.uint8), name="x")
    assert "x" not in ws.layers


def test_roi_selects_the_matching_region(ws, scribbles):
    big = np.zeros((10, 40, 50), np.uint8)
    big[2:8, 4:36, 5:45] = scribbles
    annotate.import_labels(ws, big, name="s", roi="2:8,4:36,5:45", label_set="t")
    np.testing.assert_array_equal(ws.get("s").compute(), scribbles)


def test_values_must_be_labels_of_the_set(ws, scribbles):
    scribbles[0, 0, 0] = 7
    with pytest.raises(LabelNotFoundError, match=r"1 value\(s\) that are not labels of set 't': 7"):
        annotate.import_labels(ws, scribbles, name="s", label_set="t")
    assert "s" not in ws.layers
    with pytest.raises(LabelNotFoundError, match="No label set named 'nope'"):
        annotate.import_labels(ws, scribbles, name="s", label_set="nope")
    annotate.import_labels(ws, scribbles, name="s", label_set="t", add_missing=True)
    assert [(lab.name, lab.value) for lab in ws.label_set("t")] == [
        ("a", 1),
        ("b", 2),
        ("label_7", 7),
    ]
    annotate.import_labels(ws, scribbles, name="s2", label_set="fresh", add_missing=True)
    assert [lab.value for lab in ws.label_set("fresh")] == [1, 2, 7]


def test_dense_labels_pick_a_wide_enough_dtype(ws):
    dense = np.arange(np.prod(SHAPE), dtype=np.int64).reshape(SHAPE) * 20
    info = annotate.import_labels(ws, dense, name="dense")
    assert info.dtype == "uint32"
    np.testing.assert_array_equal(ws.get("dense").compute(), dense)
    assert annotate.history(ws, "dense")[0].params["values"] == dense.size - 1
    with pytest.raises(AnnotationError, match="does not fit dtype uint16"):
        annotate.import_labels(ws, dense, name="d2", dtype="uint16")


def test_bad_values_are_refused(ws):
    with pytest.raises(AnnotationError, match="negative"):
        annotate.import_labels(ws, np.full(SHAPE, -1, np.int16), name="neg")
    with pytest.raises(InvalidLayerError, match="integer"):
        annotate.import_labels(ws, np.zeros(SHAPE, np.float32), name="f")
    with pytest.raises(TypeError, match="path to a label volume"):
        annotate.import_labels(ws, [[1, 2]], name="f")
    info = annotate.import_labels(ws, np.zeros(SHAPE, bool), name="mask")
    assert info.dtype == "uint16"


def test_import_overwrite_and_progress(ws, scribbles):
    annotate.import_labels(ws, scribbles, name="s")
    with pytest.raises(FileExistsError):
        annotate.import_labels(ws, scribbles, name="s")
    calls = []
    annotate.import_labels(
        ws, scribbles * 2, name="s", overwrite=True, progress=lambda d, t: calls.append((d, t))
    )
    assert calls
    assert calls[-1][0] == calls[-1][1]
    np.testing.assert_array_equal(ws.get("s").compute(), scribbles * 2)
    assert [e.kind for e in annotate.history(ws, "s")] == ["import"]


def test_create_layer(ws):
    info = annotate.create_layer(ws, "empty", label_set="t", chunks=(2, 8, 8))
    assert (info.kind, info.dtype, info.chunks, info.label_set) == (
        "annotation",
        "uint16",
        (2, 8, 8),
        "t",
    )
    store = ws.path / "data.ome.zarr" / info.directory / "0"
    assert not (store / "c").exists()  # nothing stored until painted
    assert annotate.create_layer(ws, "u8", dtype="uint8").dtype == "uint8"
    with pytest.raises(InvalidLayerError, match="integers"):
        annotate.create_layer(ws, "f", dtype="float32")
    ws.add_label("big", "x", value=100_000)
    with pytest.raises(AnnotationError, match="uint32"):
        annotate.create_layer(ws, "b", label_set="big", dtype="uint16")
    with pytest.raises(LabelNotFoundError):
        annotate.create_layer(ws, "c", label_set="missing")


def test_import_real_labels(tmp_path, shared_data):
    """ISBI 2012 membranes: 0 = membrane, 255 = cell interior; a crop matching the workspace."""
    base = shared_data / "isbi2012_em_membranes"
    roi = "0:4,100:164,200:296"
    ws = Workspace.create(tmp_path / "isbi.vw", base / "train-volume_png" / "*.png", roi=roi)
    ws.add_label("isbi", "interior", value=255)
    info = annotate.import_labels(
        ws, base / "train-labels_png" / "*.png", name="gt", roi=roi, label_set="isbi"
    )
    from voxelwise.io import open_volume

    want = open_volume(base / "train-labels_png" / "*.png", roi=roi).data.compute()
    got = ws.get("gt").compute()
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(got)) == {0, 255}
    assert info.dtype == "uint16"
    # annotate on top of the imported ground truth, then undo
    annotate.paint(ws, "gt", "interior", center=(1, 30, 40), radius=6, plane="z")
    annotate.undo(ws, "gt")
    np.testing.assert_array_equal(ws.get("gt").compute(), want)
