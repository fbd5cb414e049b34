"""The npe2 manifest inside napari: reader, writer, sample data and dock widget by plugin name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.gui


def test_contributions_work_in_napari(make_napari_viewer, plugin, tmp_path, vnc_crop):
    from voxelwise.napari import VoxelwiseWidget

    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget(plugin, "voxelwise")
    assert isinstance(widget, VoxelwiseWidget)
    assert widget.viewer.layers is viewer.layers or len(widget.viewer.layers) == 0

    tifffile.imwrite(tmp_path / "crop.tif", vnc_crop)
    [layer] = viewer.open(str(tmp_path / "crop.tif"), plugin=plugin)
    assert layer.data.shape == vnc_crop.shape
    np.testing.assert_array_equal(np.asarray(layer.data[3]), vnc_crop[3])

    layers = viewer.open_sample(plugin, "synthetic_em")
    assert [type(lyr).__name__ for lyr in layers] == ["Image", "Labels"]

    out = tmp_path / "saved.zarr"
    written = layer.save(str(out), plugin=plugin)
    assert written and Path(written[0]).exists()
    from voxelwise.io import open_volume

    np.testing.assert_array_equal(open_volume(written[0]).data.compute(), vnc_crop)

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(Exception, match=r"(?i)reader|plugin"):
        viewer.open(str(tmp_path / "notes.txt"), plugin=plugin)
