"""Deep tab: the loss and validation curves drawn live from a real training job's per-epoch log
lines, and prediction with an ensemble of registered networks (against the real test server)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from napari_gui import click, wait_idle
from napari_synthetic import open_workspace, synthetic_workspace

pytestmark = pytest.mark.gui


def test_parse_metrics_reads_the_servers_log_lines():
    from voxelwise.napari._panel_deep import METRICS_LOG, parse_metrics

    pytest.importorskip("fastapi")
    from voxelwise.server._ops_learn import METRICS_LOG as SERVER_PREFIX

    assert METRICS_LOG == SERVER_PREFIX
    lines = [
        {"id": 1, "message": "started on worker"},
        {"id": 3, "message": METRICS_LOG + '{"epoch": 2, "train_loss": 0.5, "val_miou": 0.7}'},
        {"id": 2, "message": METRICS_LOG + '{"epoch": 1, "train_loss": 0.9, "val_miou": 0.4}'},
        {"id": 4, "message": METRICS_LOG + "{broken"},
    ]
    rows = parse_metrics(lines)
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    assert [r["train_loss"] for r in rows] == [0.9, 0.5]


def test_curve_plot_draws_points(qtbot):
    from voxelwise.napari._plot import CurvePlot

    plot = CurvePlot({"train_loss": "#5aa0f0", "val_miou": "#60d060"}, unit_scale=("val_miou",))
    qtbot.addWidget(plot)
    plot.resize(300, 160)
    blank = plot.grab().toImage()
    plot.set_curves({"train_loss": [1.0, 0.5, 0.25], "val_miou": [0.2, 0.6, 0.9]})
    assert plot.points() == 3
    # losses share 0..max: the first (largest) loss is at the top, mIoU 0.9 near the top
    assert plot.pixel("train_loss", 0)[1] < plot.pixel("train_loss", 2)[1]
    assert plot.pixel("val_miou", 2)[1] < plot.pixel("val_miou", 0)[1]
    drawn = plot.grab().toImage()

    def green(image) -> int:
        return sum(
            1
            for y in range(0, image.height(), 2)
            for x in range(0, image.width(), 2)
            if image.pixelColor(x, y).green() > 150 and image.pixelColor(x, y).red() < 150
        )

    assert green(drawn) > green(blank) + 10


@pytest.fixture(scope="module")
def deep_ws(server, data_root):
    pytest.importorskip("torch")
    return synthetic_workspace(server, data_root, "deep_curves", truth=True)


def train(qtbot, widget, deep, model: str) -> list[int]:
    """Train a tiny network named ``model``; returns the number of curve points each progress
    update carried while the job ran."""
    seen: list[int] = []
    original = deep._progressed

    def spy(value):
        seen.append(len(value[3]) if len(value) > 3 else -1)
        original(value)

    deep._progressed = spy
    deep.model.setText(model)
    click(qtbot, deep, "Train network")
    wait_idle(qtbot, widget, 180)
    deep._progressed = original
    return seen


@pytest.mark.slow
def test_live_curves_and_ensemble_prediction(widget, server, qtbot, deep_ws):
    from voxelwise.client import Client

    open_workspace(widget, server, qtbot, deep_ws)
    deep = widget.deep
    deep.annotations.setText("truth")
    deep.net_width.setValue(4)
    deep.net_depth.setValue(2)
    deep.patch.setText("32,32")
    deep.epochs.setValue(2)
    deep.steps.setValue(2)
    deep.batch.setValue(2)
    deep.device.setCurrentText("cpu")

    seen = train(qtbot, widget, deep, "net_a")
    assert "2 epoch(s)" in deep.status.text(), deep.status.text()
    # the curves grew from the job's log lines while it ran, before its result came
    assert max(seen) >= 1, seen
    assert deep.plot.points() == 2
    for key in ("train_loss", "val_loss", "val_miou"):
        values = deep.plot.curves[key]
        assert len(values) == 2 and all(math.isfinite(v) for v in values), (key, values)
    assert all(0.0 <= v <= 1.0 for v in deep.plot.curves["val_miou"])

    drawn: list[int] = []
    original = deep.set_history

    def record(history):
        drawn.append(len(history))
        original(history)

    deep.set_history = record
    train(qtbot, widget, deep, "net_b")
    deep.set_history = original
    assert "2 epoch(s)" in deep.status.text(), deep.status.text()
    assert drawn[0] == 0 and drawn[-1] == 2, drawn  # a fresh plot per training, then 2 epochs
    assert deep.plot.points() == 2
    wait_idle(qtbot, widget)
    names = [deep.models.item(i).text() for i in range(deep.models.count())]
    assert {"net_a", "net_b"} <= set(names), names

    for i in range(deep.models.count()):
        deep.models.item(i).setSelected(deep.models.item(i).text() in ("net_a", "net_b"))
    deep.top_k.setValue(3)
    click(qtbot, deep, "Predict with network")
    assert "at most 2" in deep.status.text(), deep.status.text()
    deep.top_k.setValue(2)
    assert deep.prediction_options() == {"model": "net_a", "ensemble": ["net_b"], "top_k": 2}
    deep.output.setText("ens")
    click(qtbot, deep, "Predict with network")
    wait_idle(qtbot, widget, 180)
    assert "ens" in widget.viewer.layers, deep.status.text()
    pred = np.asarray(widget.viewer.layers["ens"].data)
    assert set(np.unique(pred)) <= {1, 2, 3}
    with Client(server.url, server.token) as client:
        job = client.jobs(workspace=deep_ws, limit=1)[0]
        assert job.kind == "deep_predict"
        assert job.result["models"] == ["net_a", "net_b"]
        assert client.layer(deep_ws, "ens")["params"]["model"] == ["net_a", "net_b"]
        assert any("ensemble of 2 models" in line["message"] for line in job.logs())


@pytest.mark.slow
def test_apply_a_network_from_another_workspace(widget, server, qtbot, deep_ws, data_root):
    """A network trained in one workspace segments another (the model stays in its registry)."""
    from voxelwise.client import Client

    other = synthetic_workspace(server, data_root, "deep_apply_target")
    with Client(server.url, server.token) as client:
        if not any(m["name"] == "net_a" for m in client.models(deep_ws)):
            pytest.skip("needs net_a from test_live_curves_and_ensemble_prediction")
    open_workspace(widget, server, qtbot, other)
    deep = widget.deep
    wait_idle(qtbot, widget)
    sources = [deep.source_ws.itemText(i) for i in range(deep.source_ws.count())]
    assert deep_ws in sources and other not in sources, sources
    deep.source_ws.setCurrentText(deep_ws)
    wait_idle(qtbot, widget)
    models = [deep.source_model.itemText(i) for i in range(deep.source_model.count())]
    assert "net_a" in models, models
    deep.source_model.setCurrentText("net_a")
    deep.device.setCurrentText("cpu")
    deep.output.setText("from_other")
    click(qtbot, deep, "Apply network here")
    wait_idle(qtbot, widget, 180)
    assert "from_other" in widget.viewer.layers, deep.status.text()
    pred = np.asarray(widget.viewer.layers["from_other"].data)
    assert pred.shape == tuple(widget.viewer.layers["raw"].data.shape[-3:])
    assert set(np.unique(pred)) <= {1, 2, 3}
    with Client(server.url, server.token) as client:
        assert "from_other" in client.layers(other)

    deep.source_model.clear()  # nothing chosen: a message, no job
    click(qtbot, deep, "Apply network here")
    assert "Choose a workspace" in deep.status.text()
