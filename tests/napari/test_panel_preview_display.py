"""Workspace tab: ROI and binning chosen on a preview of the file; display settings of image
layers saved back to the server and restored on reopening (against the real test server)."""

from __future__ import annotations

import numpy as np
import pytest
from napari_gui import click, wait_idle

pytestmark = pytest.mark.gui


def connect(widget, server, qtbot) -> None:
    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    assert widget.session.connected, ws.status.text()


def test_roi_from_rectangle():
    from voxelwise.errors import RoiError
    from voxelwise.napari._panel_workspace import roi_from_rectangle

    rect = [[10.4, 20.0], [10.4, 90.2], [70.0, 90.2], [70.0, 20.0]]
    assert roi_from_rectangle(rect, (1, 5), (6, 128, 128)) == "1:5,10:70,20:91"
    # clipped to the volume
    big = [[-5, -5], [-5, 500], [500, 500], [500, -5]]
    assert roi_from_rectangle(big, (0, 99), (6, 128, 128)) == "0:6,0:128,0:128"
    with pytest.raises(RoiError, match="select no voxel"):
        roi_from_rectangle(rect, (4, 4), (6, 128, 128))
    with pytest.raises(RoiError, match="select no voxel"):
        roi_from_rectangle([[200, 200], [200, 300], [300, 300]], (0, 6), (6, 128, 128))


def test_stored_display_wins_over_defaults_for_every_image_kind():
    from voxelwise.napari._session import napari_kwargs

    stats = {"percentiles": {"0.1": 3.0, "99.9": 250.0}}
    display = {"contrast_limits": [10, 20], "gamma": 0.5, "opacity": 0.3, "colormap": "green"}
    info = {"kind": "probabilities", "dtype": "float32", "levels": [{}], "stats": stats}
    plain, _ = napari_kwargs({**info, "name": "p"})
    assert plain["colormap"] == "magma" and plain["contrast_limits"] == [3.0, 250.0]
    assert plain["metadata"]["voxelwise"]["display"] == []
    kwargs, kind = napari_kwargs({**info, "name": "p", "params": {"display": display}})
    assert kind == "image" and kwargs["colormap"] == "green"
    assert kwargs["contrast_limits"] == [10.0, 20.0] and kwargs["gamma"] == 0.5
    assert kwargs["metadata"]["voxelwise"]["display"] == sorted(display)
    bad = {"contrast_limits": [20, 10], "gamma": -1, "opacity": "x"}
    kwargs, _ = napari_kwargs({**info, "name": "p", "params": {"display": bad}})
    assert kwargs["contrast_limits"] == [3.0, 250.0] and "gamma" not in kwargs
    assert "opacity" not in kwargs


def test_preview_roi_and_binning_create_the_workspace(widget, server, qtbot, vnc_crop):
    from voxelwise.client import Client
    from voxelwise.napari._panel_workspace import PREVIEW_LAYER, ROI_LAYER

    viewer, ws = widget.viewer, widget.workspace
    connect(widget, server, qtbot)
    ws.image.setCurrentText("nope.tif")
    click(qtbot, ws, "Preview image")
    wait_idle(qtbot, widget)
    assert "Nothing at 'nope.tif'" in ws.status.text(), ws.status.text()

    ws.image.setCurrentText("vnc.tif")
    click(qtbot, ws, "Preview image")
    wait_idle(qtbot, widget)
    assert PREVIEW_LAYER in viewer.layers and ROI_LAYER in viewer.layers, ws.status.text()
    preview = viewer.layers[PREVIEW_LAYER]
    # the middle slice of the (6, 128, 128) file, every voxel (128 <= 256)
    np.testing.assert_array_equal(preview.data, vnc_crop[3].astype(float))
    assert "slice z=3" in ws.status.text(), ws.status.text()
    assert ws.roi.text() == "0:6,0:128,0:128"  # the initial rectangle: the whole slice

    # the user moves the rectangle and narrows the z range: the ROI follows
    shapes = viewer.layers[ROI_LAYER]
    shapes.data = [np.array([[10.0, 20.0], [10.0, 90.0], [70.0, 90.0], [70.0, 20.0]])]
    assert ws.roi.text() == "0:6,10:70,20:90"
    ws.z_from.setValue(1)
    ws.z_to.setValue(5)
    assert ws.roi.text() == "1:5,10:70,20:90"
    ws.bin.setValue(2)
    ws.name.setText("roi_ws")
    click(qtbot, ws, "Create workspace")
    wait_idle(qtbot, widget, 120)
    assert "raw" in viewer.layers, ws.status.text()
    assert PREVIEW_LAYER not in viewer.layers and ROI_LAYER not in viewer.layers
    raw_layer = viewer.layers["raw"]
    shown = raw_layer.data[0] if raw_layer.multiscale else raw_layer.data
    assert shown.shape == (2, 30, 35)
    with Client(server.url, server.token) as client:
        info = client.workspace("roi_ws")
        raw = client.get("roi_ws", "raw").compute()
    assert info["shape"] == [2, 30, 35]
    # binning 2 averages 2 x 2 x 2 blocks of the ROI
    roi = vnc_crop[1:5, 10:70, 20:90].astype(float)
    means = roi.reshape(2, 2, 30, 2, 35, 2).mean(axis=(1, 3, 5))
    assert np.abs(raw.astype(float) - means).max() <= 1.0


def test_display_settings_saved_and_restored(widget, server, qtbot, data_root):
    from napari_synthetic import synthetic_workspace

    from voxelwise.client import Client

    name = synthetic_workspace(server, data_root, "display_ws")
    viewer, ws = widget.viewer, widget.workspace
    connect(widget, server, qtbot)
    ws.open(name)
    wait_idle(qtbot, widget)
    raw = viewer.layers["raw"]
    assert raw.colormap.name == "gray"
    raw.colormap = "magma"
    raw.opacity = 0.6
    raw.contrast_limits = (20.0, 180.0)
    raw.gamma = 0.8
    qtbot.waitUntil(lambda: widget.hub.display.pending() == 0, timeout=10_000)
    wait_idle(qtbot, widget)
    assert widget.hub.display.error is None
    with Client(server.url, server.token) as client:
        stored = client.layer(name, "raw")["params"]["display"]
    assert stored["colormap"] == "magma"
    assert stored["opacity"] == pytest.approx(0.6)
    assert stored["contrast_limits"] == pytest.approx([20.0, 180.0])
    assert stored["gamma"] == pytest.approx(0.8)

    # reopen: the layer comes back the way it was left
    viewer.layers.clear()
    ws.open(name)
    wait_idle(qtbot, widget)
    raw = viewer.layers["raw"]
    assert raw.colormap.name == "magma"
    assert raw.opacity == pytest.approx(0.6)
    assert tuple(raw.contrast_limits) == pytest.approx((20.0, 180.0))
    assert raw.gamma == pytest.approx(0.8)
    # opening applied the stored settings without sending them back
    assert widget.hub.display.pending() == 0


def test_display_route_refuses_label_layers(server, data_root):
    from napari_synthetic import synthetic_workspace

    from voxelwise.client import Client, ServerError

    name = synthetic_workspace(server, data_root, "display_labels", truth=True)
    with Client(server.url, server.token) as client:
        with pytest.raises(ServerError, match="label set"):
            client.set_display(name, "truth", opacity=0.5)
        assert client.set_display(name, "raw", opacity=0.25) == {"opacity": 0.25}
        assert client.set_display(name, "raw", opacity=None) == {}
