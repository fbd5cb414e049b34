"""The whole workflow through the dock widget against a real server, on a real EM crop."""

from __future__ import annotations

import time

import numpy as np
import pytest
from napari_gui import click, wait_idle

pytestmark = pytest.mark.gui


def colored_fraction(image: np.ndarray) -> float:
    """Fraction of pixels that are not gray (labels and colormaps over a grayscale image)."""
    rgb = image[..., :3].astype(int)
    return float((np.ptp(rgb, axis=-1) > 30).mean())


@pytest.mark.slow
def test_full_workflow(widget, server, qtbot, vnc_crop):
    t0 = time.monotonic()
    viewer = widget.viewer
    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    assert "connected as admin" in ws.status.text() or "workspace" in ws.status.text(), (
        ws.status.text()
    )
    ws.name.setText("crop")
    ws.image.setCurrentText("vnc.tif")
    click(qtbot, ws, "Create workspace")
    wait_idle(qtbot, widget, 120)
    assert "raw" in viewer.layers, ws.status.text()
    raw = viewer.layers["raw"]
    assert raw.data.shape == vnc_crop.shape
    print("created", time.monotonic() - t0)

    comp = widget.compute
    comp.features.setCurrentText("small")
    click(qtbot, comp, "Compute features")
    wait_idle(qtbot, widget, 120)
    assert comp.status.text() and "rror" not in comp.status.text(), comp.status.text()
    print("features", time.monotonic() - t0, comp.status.text())
    click(qtbot, comp, "Compute supervoxels")
    wait_idle(qtbot, widget, 120)
    assert "supervoxels" in viewer.layers, comp.status.text()
    print("supervoxels", time.monotonic() - t0)

    ann = widget.annotate
    for name, color in (("membrane", "#ff0000"), ("cell", "#00ff00")):
        ann.new_name.setText(name)
        ann.new_color.setText(color)
        click(qtbot, ann, "Add label")
        wait_idle(qtbot, widget)
    assert ann.table.rowCount() == 2, ann.status.text()
    click(qtbot, ann, "Open annotation layer for painting")
    wait_idle(qtbot, widget)
    assert "scribbles" in viewer.layers, ann.status.text()
    layer = viewer.layers["scribbles"]
    print("annotate", time.monotonic() - t0)
    # paint: dark membrane pixels get label 1, bright cell interior label 2, as short strokes
    viewer.dims.set_point(0, 2)
    sl = vnc_crop[2].astype(float)
    order = np.argsort(sl, axis=None)
    dark = np.column_stack(np.unravel_index(order[:400:40], sl.shape))
    bright = np.column_stack(np.unravel_index(order[-400::40], sl.shape))
    for value, pts in ((1, dark), (2, bright)):
        layer.selected_label = value
        for y, x in pts:
            ann.send_stroke([(2, y, x), (2, y, x + 1)])
    wait_idle(qtbot, widget)
    assert "rror" not in ann.status.text(), ann.status.text()
    print("painted", time.monotonic() - t0, ann.status.text(), int((layer.data > 0).sum()))
    from voxelwise.client import Client

    with Client(server.url, server.token) as client:
        np.testing.assert_array_equal(client.get("crop", "scribbles").compute(), layer.data)
    # supervoxel brush: a stroke labels every supervoxel it touches, whole
    supervoxels = np.asarray(viewer.layers["supervoxels"].data)
    y, x = bright[0]
    ann.brush.setCurrentText("supervoxel")
    ann.send_stroke([(2, y, x)])
    wait_idle(qtbot, widget)
    ann.brush.setCurrentText("voxel")
    assert "supervoxels" in ann.status.text(), ann.status.text()
    assert np.all(layer.data[supervoxels == supervoxels[2, y, x]] == 2)
    before = layer.data.copy()
    click(qtbot, ann, "Undo")
    wait_idle(qtbot, widget)
    assert (layer.data > 0).sum() < (before > 0).sum(), ann.status.text()
    click(qtbot, ann, "Redo")
    wait_idle(qtbot, widget)
    np.testing.assert_array_equal(layer.data, before)

    seg = widget.segment
    seg.features.setText("small")
    click(qtbot, seg, "Train and predict")
    wait_idle(qtbot, widget, 120)
    assert "prediction" in viewer.layers, seg.status.text()
    confidence = [lyr.name for lyr in viewer.layers if "confidence" in lyr.name]
    assert confidence, [lyr.name for lyr in viewer.layers]
    pred = np.asarray(viewer.layers["prediction"].data)
    assert set(np.unique(pred)) <= {1, 2} and (pred == 1).any() and (pred == 2).any()
    # membranes are dark: the mean raw intensity of class 1 is below that of class 2
    assert vnc_crop[pred == 1].mean() < vnc_crop[pred == 2].mean()
    print("predicted", time.monotonic() - t0)

    # with live retraining, a new stroke trains and predicts again by itself
    first = viewer.layers["prediction"].data.name  # a new version has a new dask name
    seg.live.setChecked(True)
    layer.selected_label = 2
    y, x = bright[1]
    ann.send_stroke([(2, y, x), (2, y, x + 2)])
    wait_idle(qtbot, widget, 120)
    qtbot.waitUntil(lambda: not seg._training, timeout=120_000)
    wait_idle(qtbot, widget, 120)
    assert viewer.layers["prediction"].data.name != first, seg.status.text()
    seg.live.setChecked(False)

    for lyr in viewer.layers:
        lyr.visible = lyr.name in ("raw", "prediction")
    shot = viewer.screenshot(canvas_only=True)
    viewer.layers["prediction"].visible = False
    plain = viewer.screenshot(canvas_only=True)
    assert colored_fraction(shot) > 0.2 > colored_fraction(plain) + 0.1, (
        colored_fraction(shot),
        colored_fraction(plain),
    )
    viewer.layers["prediction"].visible = True

    an = widget.analysis
    an.source.setText("prediction")
    an.value.setValue(2)
    click(qtbot, an, "Find objects")
    wait_idle(qtbot, widget, 120)
    assert "objects" in viewer.layers, an.status.text()
    click(qtbot, an, "Measure objects")
    wait_idle(qtbot, widget, 120)
    n = an.table.rowCount()
    assert n >= 2, an.status.text()
    an.measurement.setCurrentText("volume_voxels")
    assert an.histogram.counts.sum() == n
    an.op.setCurrentText("<")
    volumes = np.asarray(an.columns["volume_voxels"], dtype=float)
    an.threshold.setValue(float(np.median(volumes)))
    assert an.histogram.line_x() is not None
    click(qtbot, an, "Apply rule")
    wait_idle(qtbot, widget, 120)
    assert "classes" in viewer.layers, an.status.text()
    classes = np.asarray(viewer.layers["classes"].data)
    objects = np.asarray(viewer.layers["objects"].data)
    ids = np.asarray(an.columns["id"], dtype=int)
    small = ids[volumes < np.median(volumes)]
    assert np.all(classes[np.isin(objects, small)] == 1)
    assert np.all(classes[(objects > 0) & ~np.isin(objects, small)] == 2)
    print("analysis", time.monotonic() - t0)

    # double-click a row (sorted by volume): the view centres on that object
    an.table.sortItems(list(an.columns).index("volume_voxels"))
    row = n - 1
    item = an.table.item(row, 0)
    an.table.cellDoubleClicked.emit(row, 0)
    del item
    z, y, x = (an._cell(row, f"centroid_{a}") for a in "zyx")
    big = int(an._cell(row, "id"))
    assert an._cell(row, "volume_voxels") == volumes.max()
    assert viewer.dims.point[0] == pytest.approx(round(z), abs=0.51)
    assert tuple(viewer.camera.center[-2:]) == pytest.approx((y, x), abs=1e-6)
    assert viewer.layers["objects"].selected_label == big
    print("total", time.monotonic() - t0)


@pytest.mark.slow
def test_deep_tab_trains_and_predicts(widget, server, qtbot):
    """A tiny network trained on the scribbles of the workflow test's workspace."""
    pytest.importorskip("torch")
    from voxelwise.client import Client

    with Client(server.url, server.token) as client:
        if "crop" not in [w["name"] for w in client.workspaces()]:
            pytest.skip("needs the workspace of test_full_workflow")
    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    ws.open("crop")
    wait_idle(qtbot, widget)
    deep = widget.deep
    deep.net_width.setValue(4)
    deep.net_depth.setValue(2)
    deep.patch.setText("32,32")
    deep.epochs.setValue(2)
    deep.steps.setValue(2)
    deep.batch.setValue(2)
    deep.device.setCurrentText("cpu")
    assert deep.config()["patch_size"] == [32, 32]
    click(qtbot, deep, "Train network")
    wait_idle(qtbot, widget, 120)
    assert "2 epoch(s)" in deep.status.text(), deep.status.text()
    click(qtbot, deep, "Predict with network")
    wait_idle(qtbot, widget, 120)
    layers = [lyr.name for lyr in widget.viewer.layers]
    assert "deep_prediction" in layers and "deep_prediction_confidence" in layers, (
        deep.status.text()
    )
    pred = np.asarray(widget.viewer.layers["deep_prediction"].data)
    assert set(np.unique(pred)) <= {1, 2}
    deep.patch.setText("abc")
    click(qtbot, deep, "Train network")
    assert "Expected a patch size" in deep.status.text()
