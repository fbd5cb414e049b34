"""Screenshots of the napari plugin for ``docs/napari.md``, made by driving the real widgets.

A real server (``voxelwise serve`` on 127.0.0.1) serves a 10 x 384 x 384 crop of the VNC ssTEM
stack (``../shared/data``; a synthetic EM volume when the data is missing). The script connects
the dock widget, creates a workspace, computes features and supervoxels, paints scribbles,
trains and predicts, finds and measures objects and applies a splitter rule, saving a PNG of the
whole viewer window after each step into ``docs/images/napari/``.

Needs a display; run from the repository root under Xvfb::

    xvfb-run -a python docs/scripts/napari_screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "images" / "napari"
DATA = ROOT.parent / "shared" / "data" / "drosophila_vnc_sstem" / "stack1" / "raw"


def crop() -> np.ndarray:
    if DATA.is_dir():
        return np.stack(
            [tifffile.imread(DATA / f"{i:02d}.tif")[256:640, 256:640] for i in range(10)]
        )
    from voxelwise.data import synthetic_em

    return synthetic_em((10, 384, 384), rng=0).image


def wait(app, widget, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while widget.busy and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    if widget.busy:
        raise TimeoutError("the widget is still busy")


def shot(viewer, tab: str, name: str, widget) -> None:
    """Show the dock widget's tab titled ``tab`` and save the whole window as ``name``.png."""
    titles = [widget.tabs.tabText(i) for i in range(widget.tabs.count())]
    if tab not in titles:
        raise ValueError(f"No tab titled {tab!r}; the tabs are {titles}")
    widget.tabs.setCurrentIndex(titles.index(tab))
    path = OUT / f"{name}.png"
    viewer.screenshot(str(path), canvas_only=False)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    from qtpy.QtWidgets import QApplication

    import napari
    from voxelwise.napari import VoxelwiseWidget
    from voxelwise.server import ServerProcess

    OUT.mkdir(parents=True, exist_ok=True)
    image = crop()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tifffile.imwrite(root / "vnc_crop.tif", image)
        with ServerProcess(root, workers=1) as server:
            viewer = napari.Viewer(show=True)
            viewer.window._qt_window.resize(1500, 950)
            app = QApplication.instance()
            widget = VoxelwiseWidget(viewer)
            viewer.window.add_dock_widget(widget, name="voxelwise", area="right")

            ws = widget.workspace
            ws.url.setText(server.url)
            ws.token.setText(server.token or "")
            ws.connect_server()
            wait(app, widget)
            ws.name.setText("vnc")
            ws.image.setCurrentText("vnc_crop.tif")
            ws.create_workspace()
            wait(app, widget)
            viewer.dims.set_point(0, 5)
            shot(viewer, "Workspace", "workspace", widget)

            widget.compute.compute_features()
            wait(app, widget)
            widget.compute.sv_size.setValue(12)
            widget.compute.compute_supervoxels()
            wait(app, widget)
            shot(viewer, "Compute", "supervoxels", widget)
            viewer.layers["supervoxels"].visible = False

            ann = widget.annotate
            for label, color in (("membrane", "#ff3030"), ("cell", "#30c0ff")):
                ann.new_name.setText(label)
                ann.new_color.setText(color)
                ann.add_label()
                wait(app, widget)
            ann.open_layer()
            wait(app, widget)
            layer = viewer.layers["scribbles"]
            smooth = image[5].astype(float)
            order = np.argsort(smooth, axis=None)
            for value, picks in ((1, order[:3000:150]), (2, order[-3000::150])):
                layer.selected_label = value
                for flat in picks:
                    y, x = np.unravel_index(flat, smooth.shape)
                    ann.send_stroke([(5, y, x - 3), (5, y, x + 3)])
                wait(app, widget)
            shot(viewer, "Annotate", "annotate", widget)

            seg = widget.segment
            seg.train_and_predict()
            wait(app, widget)
            for lyr in viewer.layers:
                lyr.visible = lyr.name in ("raw", "prediction", "scribbles")
            shot(viewer, "Segment", "prediction", widget)

            an = widget.analysis
            an.source.setText("prediction")
            an.value.setValue(2)
            an.min_size.setValue(200)
            an.min_distance.setValue(10)
            an.find_objects()
            wait(app, widget)
            an.measure()
            wait(app, widget)
            an.measurement.setCurrentText("volume_voxels")
            an.op.setCurrentText("<")
            an.apply_rule()
            wait(app, widget)
            for lyr in viewer.layers:
                lyr.visible = lyr.name in ("raw", "classes")
            an.table.sortItems(list(an.columns).index("volume_voxels"))
            an.go_to(an.table.rowCount() - 1)
            shot(viewer, "Analysis", "analysis", widget)

            widget.jobs.refresh()
            wait(app, widget)
            shot(viewer, "Jobs", "jobs", widget)
            widget.close_session()
            viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
