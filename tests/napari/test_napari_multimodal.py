"""A multimodal workspace in the dock widget: every image layer opens with its own colormap."""

from __future__ import annotations

import pytest
from napari_gui import click, wait_idle

pytestmark = pytest.mark.gui


def test_two_image_workspace_opens_with_two_colormaps(widget, server, data_root, qtbot, vnc_crop):
    from voxelwise.client import Client
    from voxelwise.workspace import Workspace, add_image

    with Client(server.url, server.token) as client:
        client.create_workspace("modal", "vnc.tif").wait(120)
    add_image(Workspace.open(data_root / "workspaces" / "modal.vw"), "fluo", 255 - vnc_crop)

    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    ws.open("modal")
    wait_idle(qtbot, widget)
    layers = widget.viewer.layers
    assert "raw" in layers and "fluo" in layers, ws.status.text()
    raw, fluo = layers["raw"], layers["fluo"]
    assert raw.colormap.name == "gray" and fluo.colormap.name == "magenta"
    assert fluo.blending == "additive" and fluo.opacity == pytest.approx(0.7)
    assert fluo.data[0].shape == vnc_crop.shape  # lazy pyramid of the second modality
