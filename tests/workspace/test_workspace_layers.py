"""Adding, reading, replacing, editing, exporting and deleting layers."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest

from voxelwise.errors import (
    CancelledError,
    InvalidVolumeError,
    LayerExistsError,
    LayerNotFoundError,
)
from voxelwise.workspace import (
    KINDS,
    LABEL_KINDS,
    InvalidLayerError,
    LabelNotFoundError,
    LayerInfo,
    Workspace,
)


@pytest.fixture
def image(rng):
    return rng.integers(0, 250, size=(10, 48, 64), dtype=np.uint8)


@pytest.fixture
def ws(tmp_path, image):
    return Workspace.create(tmp_path / "ws.vw", image, chunks=(4, 16, 32), spacing=(40, 4, 4))


def _labels_list(ws):
    text = (ws.path / "data.ome.zarr" / "labels" / "zarr.json").read_text()
    return json.loads(text)["attributes"]["ome"]["labels"]


def _dirs(ws, parent):
    return sorted(p.name for p in (ws.path / "data.ome.zarr" / parent).iterdir() if p.is_dir())


def test_add_numpy_and_dask_layers(ws, image):
    smooth = da.from_array(image, chunks=(3, 20, 20)).astype(np.float32) / 2
    info = ws.add_layer("half", smooth, sources="raw", params={"factor": np.float32(0.5)})
    assert isinstance(info, LayerInfo)
    assert info.kind == "feature"
    assert info.dtype == "float32"
    assert info.chunks == ws.chunks  # the workspace's chunks by default
    assert info.sources == ("raw",)
    assert info.params == {"factor": 0.5}
    assert info.directory.startswith("layers/half-")
    assert ws.open_array("half", mode="r").chunks == (4, 16, 32)
    np.testing.assert_allclose(ws.get("half").compute(), image / 2)
    ws.add_layer("copy", image.astype(np.int16), chunks=8)
    assert ws.layers["copy"].chunks == (8, 8, 8)
    assert list(ws.layers) == ["raw", "half", "copy"]
    assert "copy" in ws
    assert "nope" not in ws
    reopened = Workspace.open(ws.path)
    assert reopened.layers["half"] == info
    assert ws.layers["half"].created.tzinfo is not None


@pytest.mark.parametrize("kind", sorted(LABEL_KINDS))
def test_label_like_kinds_go_under_labels(ws, image, kind):
    info = ws.add_layer("lab", (image > 100).astype(np.uint32), kind=kind)
    assert info.directory.startswith("labels/lab-")
    assert info.is_label
    assert _labels_list(ws) == [info.directory.split("/")[1]]


@pytest.mark.parametrize("kind", sorted(set(KINDS) - LABEL_KINDS))
def test_other_kinds_go_under_layers(ws, image, kind):
    info = ws.add_layer("x", image.astype(np.float32), kind=kind)
    assert info.directory.startswith("layers/x-")
    assert _labels_list(ws) == []


def test_bool_labels_are_stored_as_uint8_and_float_labels_are_refused(ws, image):
    assert ws.add_layer("mask", image > 10, kind="labels").dtype == "uint8"
    with pytest.raises(InvalidLayerError, match=r"integer values.*probabilities"):
        ws.add_layer("bad", image.astype(np.float32), kind="prediction")


def test_label_layer_metadata_follows_the_label_set(ws, image):
    ws.add_label("tissue", "membrane", color=(255, 0, 0))
    ws.add_label("tissue", "mito")
    info = ws.add_layer("annot", np.zeros_like(image), kind="annotation", label_set="tissue")
    assert info.label_set == "tissue"
    zarr_json = ws.path / "data.ome.zarr" / info.directory / "zarr.json"

    def image_label():
        return json.loads(zarr_json.read_text())["attributes"]["ome"]["image-label"]

    assert [p["name"] for p in image_label()["properties"]] == ["membrane", "mito"]
    assert image_label()["colors"][0] == {"label-value": 1, "rgba": [255, 0, 0, 255]}
    ws.add_label("tissue", "synapse", color="#0000ff")
    ws.update_label("tissue", "mito", name="mitochondria")
    assert [p["name"] for p in image_label()["properties"]] == [
        "membrane",
        "mitochondria",
        "synapse",
    ]
    assert image_label()["colors"][2]["rgba"] == [0, 0, 255, 255]
    with pytest.raises(LabelNotFoundError, match=r"ws\.add_label\('other'"):
        ws.add_layer("a2", np.zeros_like(image), kind="annotation", label_set="other")
    with pytest.raises(InvalidLayerError, match="label_set applies to label-like layers"):
        ws.add_layer("a3", np.zeros_like(image), kind="feature", label_set="tissue")


def test_pyramid_levels(tmp_path, rng):
    image = rng.integers(0, 250, size=(3, 160, 136), dtype=np.uint8)
    ws = Workspace.create(tmp_path / "p.vw", image, chunks=(3, 64, 64), spacing=(10, 2, 2))
    assert ws.layers["raw"].levels == 2
    info = ws.add_layer("p", image.astype(np.float32), pyramid=True)
    lab = ws.add_layer("l", image // 100, kind="labels", pyramid=True)
    assert info.levels == lab.levels == 2
    for level in range(info.levels):
        assert ws.get("p", level=level).shape == ws.get("raw", level=level).shape
    np.testing.assert_array_equal(ws.get("l", level=1).compute(), image[:, ::2, ::2] // 100)
    assert ws.level_spacing("p", 1) == (10.0, 4.0, 4.0)
    assert ws.add_layer("flat", image).levels == 1
    with pytest.raises(InvalidLayerError, match=r"1 pyramid level\(s\), 0 to 0"):
        ws.get("flat", level=1)
    out = ws.export("p", tmp_path / "p1.npy", level=1)
    np.testing.assert_array_equal(np.load(out), ws.get("p", level=1).compute())


def test_existing_name_needs_overwrite(ws, image):
    first = ws.add_layer("a", image)
    old_dir = ws.path / "data.ome.zarr" / first.directory
    with pytest.raises(LayerExistsError, match="overwrite=True"):
        ws.add_layer("a", image + 1)
    np.testing.assert_array_equal(ws.get("a").compute(), image)
    second = ws.add_layer("a", image // 2, overwrite=True, kind="labels")
    np.testing.assert_array_equal(ws.get("a").compute(), image // 2)
    assert second.directory != first.directory
    assert not old_dir.exists()
    assert list(ws.layers) == ["raw", "a"]
    assert _dirs(ws, "layers") == []
    assert _labels_list(ws) == _dirs(ws, "labels") == [second.directory.split("/")[1]]
    ws.add_layer("a", image, overwrite=True)  # back to a non-label kind
    assert _labels_list(ws) == _dirs(ws, "labels") == []
    # a replacement may be computed from the layer it replaces
    ws.add_layer("a", ws.get("a") // 2 + 1, overwrite=True, params={"shape": (1, 2)})
    np.testing.assert_array_equal(ws.get("a").compute(), image // 2 + 1)
    assert ws.layers["a"].params == {"shape": [1, 2]}
    assert len(_dirs(ws, "layers")) == 1


def test_unknown_layer_lists_existing_names(ws, image):
    ws.add_layer("alpha", image)
    with pytest.raises(LayerNotFoundError, match=r"'beta'.*existing layers: raw, alpha"):
        ws.get("beta")
    with pytest.raises(KeyError):
        ws.stats("beta")
    with pytest.raises(LayerNotFoundError):
        ws.delete_layer("beta")
    with pytest.raises(LayerNotFoundError, match="existing layers"):
        ws.add_layer("gamma", image, sources=["raw", "beta"])


def test_wrong_shape_gives_both_shapes(ws, image):
    with pytest.raises(InvalidLayerError, match=r"shape \(10, 48, 63\).*\(10, 48, 64\)") as info:
        ws.add_layer("cut", image[:, :, :63])
    assert isinstance(info.value, InvalidVolumeError)
    assert isinstance(info.value, ValueError)
    assert list(ws.layers) == ["raw"]


@pytest.mark.parametrize("name", ["", "with space", "a/b", "ü", "x" * 129, "..", 7])
def test_invalid_layer_names(ws, image, name):
    with pytest.raises((InvalidLayerError, TypeError)):
        ws.add_layer(name, image)


def test_raw_is_reserved(ws, image):
    with pytest.raises(InvalidLayerError, match="reserved"):
        ws.add_layer("raw", image, overwrite=True)
    with pytest.raises(InvalidLayerError, match="cannot be deleted"):
        ws.delete_layer("raw")
    with pytest.raises(InvalidLayerError, match="read-only"):
        ws.open_array("raw")
    assert ws.add_layer("raw.v2-final_1", image).name == "raw.v2-final_1"


def test_unknown_kind_and_unserialisable_params(ws, image):
    with pytest.raises(InvalidLayerError, match="Expected kind as one of"):
        ws.add_layer("k", image, kind="segmentation")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        ws.add_layer("k", image, params={"f": object()})
    with pytest.raises(TypeError, match="params as a dict"):
        ws.add_layer("k", image, params=[1, 2])
    assert list(ws.layers) == ["raw"]
    assert _dirs(ws, "layers") == []


def test_delete_layer_removes_row_data_and_label_entry(ws, image):
    feat = ws.add_layer("f", image)
    lab = ws.add_layer("l", image % 3, kind="labels")
    ws.delete_layer("f")
    ws.delete_layer("l")
    assert list(ws.layers) == ["raw"]
    assert not (ws.path / "data.ome.zarr" / feat.directory).exists()
    assert not (ws.path / "data.ome.zarr" / lab.directory).exists()
    assert _labels_list(ws) == []


def test_open_array_in_place_edits(ws, image):
    ws.add_layer("annot", np.zeros_like(image), kind="annotation")
    arr = ws.open_array("annot")
    arr[2:4, 0:16, 0:32] = 5
    expected = np.zeros_like(image)
    expected[2:4, 0:16, 0:32] = 5
    np.testing.assert_array_equal(ws.get("annot").compute(), expected)
    assert ws.stats("annot")["max"] == 0  # stored at write time
    assert ws.stats("annot", recompute=True)["max"] == 5
    assert ws.layers["annot"].stats["max"] == 5
    with pytest.raises(ValueError, match="mode"):
        ws.open_array("annot", mode="w")


def test_cancelled_write_leaves_nothing(ws, image):
    def cancel(done, total):
        assert 0 < done <= total
        if done == 2:
            raise CancelledError("user pressed stop")

    with pytest.raises(CancelledError):
        ws.add_layer("c", da.from_array(image), progress=cancel, kind="labels")
    assert list(ws.layers) == ["raw"]
    assert _dirs(ws, "labels") == []
    assert _labels_list(ws) == []


def test_progress_reaches_total(ws, image):
    calls = []
    ws.add_layer("p", image.astype(np.float32), progress=lambda d, t: calls.append((d, t)))
    totals = {t for _, t in calls}
    assert len(totals) == 1
    assert calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_export_through_io(ws, image, tmp_path):
    ws.add_layer("f", image.astype(np.float32) / 4)
    out = ws.export("f", tmp_path / "f.npy")
    np.testing.assert_allclose(np.load(out), image / 4)
    out = ws.export("f", tmp_path / "f.ome.zarr", chunks=(5, 24, 32))
    from voxelwise.io import open_volume

    vol = open_volume(out)
    assert vol.spacing == ws.spacing
    np.testing.assert_allclose(vol.data.compute(), image / 4)


def test_info_summarises_layers(ws, image):
    ws.add_layer("f", image.astype(np.float32))
    ws.add_label("s", "a")
    info = ws.info()
    json.dumps(info)
    assert info["shape"] == [10, 48, 64]
    assert info["spacing"] == [40.0, 4.0, 4.0]
    assert set(info["layers"]) == {"raw", "f"}
    assert info["layers"]["f"]["sources"] == []
    assert info["label_sets"] == {"s": 1}
    assert info["nonfinite"] == {}
    assert "Workspace(" in repr(ws)
    assert "raw, f" in repr(ws)


def test_distributed_scheduler(tmp_path, image):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as client:
        ws = Workspace.create(tmp_path / "d.vw", image, chunks=(5, 24, 32), scheduler=client)
        calls = []
        info = ws.add_layer(
            "twice",
            ws.get("raw").astype(np.float32) * 2,
            scheduler=client,
            progress=lambda d, t: calls.append((d, t)),
        )
    np.testing.assert_array_equal(ws.get("twice").compute(), image * 2.0)
    assert info.stats["max"] == 2.0 * image.max()
    assert calls[-1][0] == calls[-1][1]
