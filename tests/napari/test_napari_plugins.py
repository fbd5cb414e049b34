"""The example plugin's filter and classifier through the dock widget: the Segment tab lists the
server's classifiers (plugins included), features take plugin filter specs, and training with the
plugin classifier and its parameters gives a prediction layer; the Active-learning tab offers the
plugin strategy with a form of its parameters, which the campaign keeps."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from napari_gui import click, wait_idle

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SHARPEN = "voxelwise_example_plugin.sharpen"
CENTROID = "voxelwise_example_plugin.centroid"
NOVELTY = "voxelwise_example_plugin.novelty"


@pytest.fixture
def plugin_server(example_site, tmp_path):
    """A real server whose processes (API and workers) can import the example plugin."""
    from voxelwise.server import ServerProcess

    rng = np.random.default_rng(0)
    image = rng.normal(100, 10, (8, 40, 40)).astype(np.float32)
    image[:, 10:30, 10:30] += 40
    scribbles = np.zeros(image.shape, np.uint16)
    scribbles[:, 2:6, 2:38] = 1
    scribbles[:, 15:25, 15:25] = 2
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "scribbles.tif", scribbles)
    with ServerProcess(tmp_path, workers=1, env={"PYTHONPATH": str(example_site)}) as proc:
        assert proc.token, proc.log
        yield proc


def test_plugin_filter_and_classifier_from_the_widget(widget, plugin_server, qtbot):
    from voxelwise.client import Client

    ws = widget.workspace
    ws.url.setText(plugin_server.url)
    ws.token.setText(plugin_server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    seg = widget.segment
    qtbot.waitUntil(lambda: seg.classifier.findText(CENTROID) >= 0, timeout=30_000)
    assert seg.classifier.findText("rf") >= 0  # built-in ones stay
    ws.name.setText("p")
    ws.image.setCurrentText("img.tif")
    click(qtbot, ws, "Create workspace")
    wait_idle(qtbot, widget, 120)
    assert "raw" in widget.viewer.layers, ws.status.text()
    with Client(plugin_server.url, plugin_server.token) as client:
        client.import_labels("p", "scribbles.tif", "scribbles", add_missing=True).wait(120)

    comp = widget.compute  # the plugin filter from its form, a built-in one typed
    qtbot.waitUntil(lambda: comp.filter.findText(SHARPEN) >= 0, timeout=30_000)
    comp.filter.setCurrentText("gaussian")
    assert "sigma" in comp.filter_params.fields and "spacing" not in comp.filter_params.fields
    comp.features.setCurrentText("gaussian:sigma=1")
    comp.filter.setCurrentText(SHARPEN)
    comp.filter_params.fields["amount"].setValue(2.0)
    click(qtbot, comp, "Add filter to features")
    assert comp.features.currentText() == f"gaussian:sigma=1, {SHARPEN}:amount=2.0"
    click(qtbot, comp, "Compute features")
    wait_idle(qtbot, widget, 120)
    assert "rror" not in comp.status.text(), comp.status.text()

    seg.annotations.setText("scribbles")
    seg.features.setText("sharpen_a2.0, gaussian_s1.0")
    seg.classifier.setCurrentText("rf")
    assert seg.classifier_params.fields["n_estimators"].value() == 100
    seg.classifier.setCurrentText(CENTROID)  # its form, built from the plugin's schema
    form = seg.classifier_params.fields
    assert form["temperature"].value() == 1.0 and form["metric"].currentText() == "euclidean"
    assert [form["metric"].itemText(i) for i in range(2)] == ["euclidean", "manhattan"]
    form["temperature"].setValue(0.5)
    form["metric"].setCurrentText("manhattan")
    seg.model.setText("centroid")
    click(qtbot, seg, "Train and predict")
    wait_idle(qtbot, widget, 120)
    assert "prediction" in widget.viewer.layers, seg.status.text()
    pred = np.asarray(widget.viewer.layers["prediction"].data)
    assert (pred[:, 15:25, 15:25] == 2).mean() > 0.9 and (pred[:, 2:6, 2:38] == 1).mean() > 0.9
    with Client(plugin_server.url, plugin_server.token) as client:
        (model,) = [m for m in client.models("p") if m["name"] == "centroid"]
    used = model["provenance"]["classifier_params"]
    assert used["temperature"] == 0.5 and used["metric"] == "manhattan"

    seg.params.setText("temperature")  # not key=value: a message, no traceback, no job
    click(qtbot, seg, "Train")
    assert "key=value" in seg.status.text()

    # the Active-learning tab offers the plugin strategy with its parameters' form
    act = widget.active
    qtbot.waitUntil(lambda: act.strategy.findText(NOVELTY) >= 0, timeout=30_000)
    act.strategy.setCurrentText("entropy")
    assert act.strategy_params.fields == {}  # built-in strategies take no parameters
    act.strategy.setCurrentText(NOVELTY)
    assert act.strategy_params.fields["weight"].value() == 0.5
    act.strategy_params.fields["weight"].setValue(0.8)
    act.campaign.setCurrentText("novel")
    act.patch.setText("8,8")
    act.classes.setValue(2)
    click(qtbot, act, "Create campaign")
    wait_idle(qtbot, widget, 120)
    with Client(plugin_server.url, plugin_server.token) as client:
        status = client.campaign("p", "novel")
    assert status["strategy"] == NOVELTY and status["strategy_params"] == {"weight": 0.8}
