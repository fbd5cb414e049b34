"""The Points tab against a real server on a synthetic EM volume: import a CSV (file dialog
replaced), the table, double-click to centre the view, a Points layer, CSV export, and
ellipsoids rasterised (and refined by an active contour) into a label layer shown in napari."""

from __future__ import annotations

import numpy as np
import pytest
from napari_gui import click, wait_idle
from napari_synthetic import open_workspace, synthetic_workspace

pytestmark = pytest.mark.gui

CSV = "z,y,x,class,size\n2,20,16,1,6\n5,40,44,2,8\n6,12,50,1,6\n99,1,1,1,6\n"


@pytest.fixture(scope="module")
def pts(server, data_root):
    """Workspace 'pts' of the synthetic volume on the shared test server."""
    return synthetic_workspace(server, data_root, "pts")


def test_points_table_navigation_layers_and_rasterising(widget, server, pts, qtbot, tmp_path):
    from voxelwise.client import Client

    viewer, panel = widget.viewer, widget.points
    click(qtbot, panel, "Load points")  # no connection yet: a message, no traceback
    assert "Not connected" in panel.status.text()
    open_workspace(widget, server, qtbot, "pts")

    source = tmp_path / "centres.csv"
    source.write_text(CSV)
    panel.ask_open = lambda _parent: str(source)
    panel.point_set.setCurrentText("mito")
    click(qtbot, panel, "Import CSV...")
    wait_idle(qtbot, widget)
    assert panel.table.rowCount() == 3, panel.status.text()
    assert "3 points imported into mito" in panel.status.text()
    assert "1 point(s) of the CSV text lie outside the volume" in panel.status.text()
    assert [p["class"] for p in panel.points] == [1, 2, 1]
    with Client(server.url, server.token) as client:
        assert client.point_sets("pts") == {"mito": 3}

    # double-click a row: the camera centres on the point and the slice is its z
    panel.table.sortItems(0)
    panel.table.cellDoubleClicked.emit(1, 0)
    assert viewer.dims.current_step[0] == 5
    assert np.allclose(viewer.camera.center[-2:], (40, 44))
    assert "point 2" in panel.status.text()
    panel.table.cellDoubleClicked.emit(2, 0)
    assert viewer.dims.current_step[0] == 6
    assert np.allclose(viewer.camera.center[-2:], (12, 50))

    click(qtbot, panel, "Show as Points layer")
    layer = viewer.layers["mito"]
    assert layer.data.shape == (3, 3)
    np.testing.assert_allclose(layer.data[1], (5, 40, 44))
    assert list(layer.properties["class"]) == [1, 2, 1]

    out = tmp_path / "exported.csv"
    panel.ask_save = lambda _parent: str(out)
    click(qtbot, panel, "Export CSV...")
    wait_idle(qtbot, widget)
    lines = out.read_text().strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("id,z,y,x,class"), lines

    # ellipsoids at the points, values = class
    click(qtbot, panel, "Rasterise points")
    wait_idle(qtbot, widget, 120)
    assert "mito_objects" in viewer.layers, panel.status.text()
    labels = np.asarray(viewer.layers["mito_objects"].data)
    assert labels[2, 20, 16] == 1 and labels[5, 40, 44] == 2 and labels[6, 12, 50] == 1
    assert labels[0, 60, 2] == 0
    # a fixed diameter stretched along y, point ids as values
    panel.diameter.setValue(9)
    panel.aspect.setText("1, 3, 1")
    panel.values.setCurrentText("id")
    panel.output.setText("long")
    click(qtbot, panel, "Rasterise points")
    wait_idle(qtbot, widget, 120)
    assert "long" in viewer.layers, panel.status.text()
    long = np.asarray(viewer.layers["long"].data)
    second = np.argwhere(long == 2)
    extent = second.max(axis=0) - second.min(axis=0) + 1
    assert extent[1] >= 2 * extent[2], extent  # diameters 3, 9, 3 voxels
    assert long[5, 40, 44] == 2
    # refined by a Chan-Vese active contour on raw
    panel.refine.setCurrentText("chan_vese")
    panel.iterations.setValue(3)
    panel.output.setText("refined")
    click(qtbot, panel, "Rasterise points")
    wait_idle(qtbot, widget, 120)
    assert "refined" in viewer.layers, panel.status.text()
    refined = np.asarray(viewer.layers["refined"].data)
    assert set(np.unique(refined)) <= {0, 1, 2, 3} and (refined > 0).any()
    with Client(server.url, server.token) as client:
        info = client.layer("pts", "refined")
    assert info["kind"] == "labels"

    # bad input in the form: a message, no job
    panel.aspect.setText("1, 2")
    click(qtbot, panel, "Rasterise points")
    assert "three numbers" in panel.status.text()
