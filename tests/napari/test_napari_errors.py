"""Bad input in the dock widget: messages, never tracebacks; painting by mouse drag."""

from __future__ import annotations

import numpy as np
import pytest
from napari_gui import click, wait_idle

pytestmark = pytest.mark.gui


def mouse(kind: str, position, dragging: bool):
    from napari.utils._proxies import ReadOnlyWrapper
    from vispy.util.event import Event

    return ReadOnlyWrapper(
        Event(
            type=kind,
            is_dragging=dragging,
            modifiers=[],
            position=position,
            view_direction=None,
            up_direction=None,
            dims_displayed=[1, 2],
            dims_point=[position[0], 0, 0],
            pos=np.zeros(2),
            button=1,
            buttons=[1],
        ),
        exceptions=("handled",),
    )


@pytest.fixture(scope="module")
def blank(server):
    """Workspace 'blank' (the crop, no labels yet)."""
    from voxelwise.client import Client

    with Client(server.url, server.token) as client:
        client.create_workspace("blank", "vnc.tif", chunks=[6, 64, 64]).wait(timeout=120)
    return "blank"


def test_connection_errors_are_messages(widget, server, qtbot):
    ws = widget.workspace
    ws.url.setText("http://127.0.0.1:9")
    ws.token.setText("vw_whatever")
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    assert "Cannot reach the server" in ws.status.text()
    assert not widget.session.connected
    ws.url.setText(server.url)
    ws.token.setText("vw_00000000_wrongwrongwrongwrongwrong")
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    assert "refused the token" in ws.status.text()
    ws.url.setText("not a url")
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    assert "Expected a server URL" in ws.status.text()
    # actions that need a connection say so
    click(qtbot, widget.compute, "Compute features")
    assert "Not connected" in widget.compute.status.text()
    click(qtbot, widget.annotate, "Undo")
    assert "Not connected" in widget.annotate.status.text()


def test_no_label_set_job_failure_and_drag_painting(widget, server, blank, qtbot):
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    from voxelwise.client import Client

    viewer = widget.viewer
    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    ws.open(blank)
    wait_idle(qtbot, widget)
    assert "raw" in viewer.layers

    ann = widget.annotate
    ann.label_set.setText("empty")
    click(qtbot, ann, "Open annotation layer for painting")
    wait_idle(qtbot, widget)
    assert "has no labels" in ann.status.text() and "scribbles" not in viewer.layers

    ann.label_set.setText("tissue")
    ann.new_name.setText("membrane")
    click(qtbot, ann, "Add label")
    wait_idle(qtbot, widget)
    click(qtbot, ann, "Open annotation layer for painting")
    wait_idle(qtbot, widget)
    layer = viewer.layers["scribbles"]

    # a job that fails (training on an empty layer) shows its error
    seg = widget.segment
    seg.features.setText("raw")
    click(qtbot, seg, "Train")
    wait_idle(qtbot, widget, 120)
    assert "failed" in seg.status.text() and "annotat" in seg.status.text()

    # painting a value that no label has is refused and the layer shows the workspace again
    layer.selected_label = 7
    ann.send_stroke([(1, 10, 10), (1, 10, 20)])
    wait_idle(qtbot, widget)
    assert "No label with value 7" in ann.status.text()
    assert not layer.data.any()

    # a mouse drag in paint mode becomes one stroke edit of the workspace
    layer.selected_label = 1
    layer.mode = "paint"
    viewer.dims.set_point(0, 3)
    path = [(3.0, 20.0, 20.0 + 5 * i) for i in range(8)]
    mouse_press_callbacks(layer, mouse("mouse_press", path[0], False))
    for p in path[1:]:
        mouse_move_callbacks(layer, mouse("mouse_move", p, True))
    mouse_release_callbacks(layer, mouse("mouse_release", path[-1], False))
    wait_idle(qtbot, widget)
    assert "paint" in ann.status.text(), ann.status.text()
    with Client(server.url, server.token) as client:
        stored = client.get(blank, "scribbles").compute()
        history = client.history(blank, "scribbles")
    assert [e["kind"] for e in history] == ["paint"]
    assert stored[3, 20, 20:56].all() and not stored[:3].any() and not stored[4:].any()
    np.testing.assert_array_equal(stored, layer.data)

    # interpolation fills the slices between two annotated slices
    viewer.dims.set_point(0, 1)
    ann.send_stroke([(1.0, 20.0, 20.0), (1.0, 20.0, 55.0)])
    wait_idle(qtbot, widget)
    assert layer.data[1].any() and not layer.data[2].any()
    ann.start.setValue(1)
    ann.stop.setValue(3)
    click(qtbot, ann, "Interpolate selected label")
    wait_idle(qtbot, widget)
    assert layer.data[2, 20, 25:50].all(), ann.status.text()


@pytest.mark.slow
def test_local_server_button_starts_a_server(widget, qtbot, tmp_path, vnc_crop):
    import tifffile

    tifffile.imwrite(tmp_path / "vnc.tif", vnc_crop)
    ws = widget.workspace
    click(qtbot, ws, "Start local server")
    assert "Choose the folder" in ws.status.text()
    ws.data_root.setText(str(tmp_path))
    click(qtbot, ws, "Start local server")
    wait_idle(qtbot, widget, 120)
    assert "connected as admin" in ws.status.text(), ws.status.text()
    local = widget.session.local
    assert local.running and ws.url.text() == local.url
    assert ws.image.findText("vnc.tif") >= 0
    # on a later start the server prints no token: the plugin issues a fresh admin token
    from voxelwise.client import Client

    with Client(local.url, local._issue_token()) as client:
        assert client.me()["admin"] is True
    widget.close_session()
    assert not local.running and not widget.session.connected


def test_jobs_list_cancel_and_panel_cancel_button(widget, server, qtbot):
    from voxelwise.client import Client
    from voxelwise.napari._base import follow_job

    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    with Client(server.url, server.token) as client:
        slow = client.probe(seconds=30)
        jobs = widget.jobs
        click(qtbot, jobs, "Refresh")
        wait_idle(qtbot, widget)
        ids = [jobs.table.item(r, 0).text() for r in range(jobs.table.rowCount())]
        assert slow.id in ids
        jobs.table.selectRow(ids.index(slow.id))
        click(qtbot, jobs, "Cancel selected job")
        wait_idle(qtbot, widget)
        qtbot.waitUntil(lambda: slow.refresh().state == "cancelled", timeout=30_000)
        click(qtbot, jobs, "Show log of selected job")
        wait_idle(qtbot, widget)

        # a panel following a job shows a cancel button while it runs
        panel = widget.compute
        widget.tabs.setCurrentIndex(1)
        panel.run(follow_job, lambda: client.probe(seconds=30), what="probing")
        qtbot.waitUntil(panel.cancel.isVisible, timeout=30_000)
        click(qtbot, panel, "Cancel job")
        wait_idle(qtbot, widget)
        assert "cancelled" in panel.status.text(), panel.status.text()
        assert not panel.cancel.isVisible()
