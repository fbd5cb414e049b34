"""Reader, writer, sample data, manifest and the Qt-free session of the napari plugin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from voxelwise.napari._errors import (
    LocalServerError,
    NoLabelSetError,
    NotConnectedError,
    describe_error,
)
from voxelwise.napari._reader import get_reader
from voxelwise.napari._sample import make_sample_data
from voxelwise.napari._session import IMAGE_COLORMAPS, Session, napari_kwargs
from voxelwise.napari._writer import write_image, write_labels

MANIFEST = Path(__file__).parents[2] / "src" / "voxelwise" / "napari" / "napari.yaml"


def test_reader_opens_tiff_lazily_and_declines_other_files(tmp_path, vnc_crop):
    tifffile.imwrite(tmp_path / "crop.tif", vnc_crop)
    reader = get_reader(str(tmp_path / "crop.tif"))
    assert reader is not None
    [(data, kwargs, kind)] = reader(str(tmp_path / "crop.tif"))
    assert kind == "image" and kwargs["name"] == "crop.tif"
    assert hasattr(data, "dask") and data.shape == vnc_crop.shape
    np.testing.assert_array_equal(np.asarray(data[2]), vnc_crop[2])
    (tmp_path / "notes.txt").write_text("not an image")
    assert get_reader(str(tmp_path / "notes.txt")) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader([str(tmp_path / "crop.tif"), str(tmp_path / "crop.tif")]) is None
    (tmp_path / "fake.vw").mkdir()
    assert get_reader(str(tmp_path / "fake.vw")) is None


def test_reader_opens_workspace_and_ome_zarr_pyramids(tmp_path, vnc_crop):
    from voxelwise.io import write_volume
    from voxelwise.workspace import Workspace, add_image

    ws = Workspace.create(tmp_path / "cells.vw", vnc_crop, spacing=(50, 4, 4))
    ws.add_label("tissue", "membrane", color="#ff0000")
    ws.add_layer("marks", np.zeros(vnc_crop.shape, np.uint8), kind="annotation", label_set="tissue")
    add_image(ws, "fluo", 255 - vnc_crop)
    layers = get_reader(str(tmp_path / "cells.vw"))(str(tmp_path / "cells.vw"))
    by_name = {kw["name"]: (data, kw, kind) for data, kw, kind in layers}
    assert set(by_name) == {"raw", "marks", "fluo"}
    fluo = by_name["fluo"][1]  # a second modality: shown, in its own colormap, additive
    assert fluo["visible"] and fluo["colormap"] == "magenta" and fluo["blending"] == "additive"
    assert "colormap" not in by_name["raw"][1]
    data, kw, kind = by_name["raw"]
    assert kind == "image" and kw["scale"] == [50, 4, 4]
    levels = data if kw.get("multiscale") else [data]
    np.testing.assert_array_equal(np.asarray(levels[0][1]), vnc_crop[1])
    assert by_name["marks"][2] == "labels"
    assert tuple(by_name["marks"][1]["colormap"][1]) == (1.0, 0.0, 0.0, 1.0)

    big = np.tile(vnc_crop, (1, 4, 4))
    write_volume(big, tmp_path / "big.ome.zarr", levels=3)
    [(pyramid, kw, kind)] = get_reader(str(tmp_path / "big.ome.zarr"))(
        str(tmp_path / "big.ome.zarr")
    )
    assert kw["multiscale"] and len(pyramid) == 3
    assert pyramid[0].shape == big.shape and pyramid[1].shape[-1] < big.shape[-1]


@pytest.mark.parametrize("suffix", [".tif", ".zarr", ".npy"])
def test_writer_round_trip(tmp_path, vnc_crop, suffix):
    path = str(tmp_path / f"out{suffix}")
    [written] = write_image(path, vnc_crop, {"scale": (1.0, 1.0, 1.0)})
    reader = get_reader(written)
    assert reader is not None
    [(data, _, _)] = reader(written)
    np.testing.assert_array_equal(np.asarray(data), vnc_crop)
    labels = (vnc_crop > 128).astype(np.uint8)
    [written] = write_labels(str(tmp_path / f"labels{suffix}"), [labels, labels[:, ::2, ::2]], {})
    [(data, _, _)] = get_reader(written)(written)
    np.testing.assert_array_equal(np.asarray(data), labels)


def test_sample_data_is_seeded():
    a, b = make_sample_data(), make_sample_data()
    assert [t[2] for t in a] == ["image", "labels"]
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert a[0][0].shape == a[1][0].shape == (48, 128, 128)
    assert set(np.unique(a[1][0])) >= {1, 2}


def test_manifest_declares_every_contribution():
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "voxelwise"
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    import importlib

    for python_name in commands.values():
        module, _, attr = python_name.partition(":")
        if module.endswith("_widget"):
            pytest.importorskip("napari")
        assert callable(getattr(importlib.import_module(module), attr))
    assert manifest.contributions.readers and manifest.contributions.writers
    assert manifest.contributions.sample_data and manifest.contributions.widgets


def test_session_errors_and_layer_kwargs(server, tmp_path):
    from voxelwise.client import AuthenticationError

    s = Session()
    with pytest.raises(NotConnectedError, match="connect"):
        s.require()
    with pytest.raises(ValueError, match="server URL"):
        s.connect("127.0.0.1:8130", "x")
    with pytest.raises(AuthenticationError) as info:
        s.connect(server.url, "vw_00000000_wrongwrongwrongwrongwrong")
    assert "refused the token" in describe_error(info.value)
    with pytest.raises(Exception) as info:
        s.connect("http://127.0.0.1:9", "x", timeout=2)
    assert "Cannot reach the server" in describe_error(info.value)
    assert not s.connected
    assert s.connect(server.url, server.token)["name"] == "admin"
    with pytest.raises(NotConnectedError, match="workspace"):
        s.require_workspace()
    with pytest.raises(LocalServerError, match="existing folder"):
        s.start_local(tmp_path / "nowhere")
    s.disconnect()

    kwargs, kind = napari_kwargs(
        {"name": "p", "kind": "prediction", "dtype": "uint8", "levels": [{"spacing": [2, 1, 1]}]},
        colors={1: (1.0, 0.0, 0.0, 1.0)},
    )
    assert kind == "labels" and kwargs["scale"] == [2.0, 1.0, 1.0] and kwargs["colormap"][1]
    stats = {"percentiles": {"0.1": 3.0, "99.9": 250.0}}
    kwargs, kind = napari_kwargs(
        {"name": "raw", "kind": "image", "dtype": "uint8", "levels": [{}], "stats": stats}
    )
    assert kind == "image" and kwargs["contrast_limits"] == [3.0, 250.0]
    assert "colormap" not in kwargs and "blending" not in kwargs
    assert NoLabelSetError.__mro__[1].__name__ == "PluginError"


def test_extra_image_layers_get_their_own_colormaps_unless_metadata_says_otherwise():
    base = {"kind": "image", "dtype": "float32", "levels": [{}]}
    raw, _ = napari_kwargs({**base, "name": "raw"}, image_index=0)
    fluo, _ = napari_kwargs({**base, "name": "fluo"}, image_index=1)
    sim, _ = napari_kwargs({**base, "name": "sim"}, image_index=2)
    assert "colormap" not in raw and raw.get("blending") is None
    assert fluo["colormap"] == IMAGE_COLORMAPS[0] and sim["colormap"] == IMAGE_COLORMAPS[1]
    assert fluo["blending"] == "additive" and 0 < fluo["opacity"] < 1
    display = {"colormap": "red", "opacity": 3, "blending": "bogus"}
    meta, _ = napari_kwargs({**base, "name": "x", "params": {"display": display}}, image_index=1)
    assert meta["colormap"] == "red" and meta["opacity"] == 1.0 and meta["blending"] == "additive"
