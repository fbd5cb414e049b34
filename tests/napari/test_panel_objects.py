"""The Objects tab against a real server on a synthetic EM volume: split the truth's cytoplasm
and mitochondria into objects, label random unlabelled objects one after another by class
buttons (the view centred on each), pick and skip ids, train a random forest (a job), predict,
and check the class layer and the table of class and confidence."""

from __future__ import annotations

import numpy as np
import pytest
from napari_gui import click, wait_idle
from napari_synthetic import open_workspace, synthetic_volume, synthetic_workspace

pytestmark = pytest.mark.gui

NAMES = {1: "cytoplasm", 3: "mito"}


@pytest.fixture(scope="module")
def objs(server, data_root):
    """Workspace 'objs' of the synthetic volume, with its classes as layer 'truth'."""
    return synthetic_workspace(server, data_root, "objs", truth=True)


def test_label_objects_train_and_predict(widget, server, objs, qtbot):
    from voxelwise.client import Client

    viewer, panel = widget.viewer, widget.objects
    open_workspace(widget, server, qtbot, "objs")
    panel.source.setCurrentText("truth")
    panel.values.setText("1, 3")
    click(qtbot, panel, "Find objects")
    wait_idle(qtbot, widget, 120)
    assert panel.layer.currentText() == "truth_objects", panel.status.text()
    assert panel.layer.findText("truth") >= 0  # the label layers are offered
    assert "truth_objects" in viewer.layers
    ids = np.asarray(viewer.layers["truth_objects"].data)
    truth = synthetic_volume().labels + 1
    true_class, centroid = {}, {}
    for i in np.unique(ids[ids > 0]):
        values, counts = np.unique(truth[ids == i], return_counts=True)
        true_class[int(i)] = NAMES[int(values[np.argmax(counts)])]
        centroid[int(i)] = np.argwhere(ids == i).mean(axis=0)
    assert len(true_class) == 9 and set(true_class.values()) == set(NAMES.values())

    click(qtbot, panel, "Next object")  # no class buttons until the classes are given
    wait_idle(qtbot, widget)
    panel.classes.setText("cytoplasm, mito")
    panel.classes.editingFinished.emit()
    assert set(panel.class_buttons) == {"cytoplasm", "mito"}
    seen: list[int] = []
    while min(list(panel.labelled.values()).count(c) for c in NAMES.values()) < 2:
        assert len(seen) < len(true_class), panel.status.text()
        current = int(panel.current.text())
        assert current not in seen, "an object was shown twice"
        seen.append(current)
        z = round(centroid[current][0])
        assert abs(viewer.dims.current_step[0] - z) <= 1
        assert np.allclose(viewer.camera.center[-2:], centroid[current][1:], atol=0.5)
        click(qtbot, panel, true_class[current])  # labels it and shows the next object
        wait_idle(qtbot, widget)
        assert panel.labelled[current] == true_class[current]
    with Client(server.url, server.token) as client:
        stored = client.object_labels("objs", "truth_objects")
    assert stored["labels"] == panel.labelled

    # picked ids: shown in the order given; skipping records the id as seen
    unlabelled = [i for i in sorted(true_class) if i not in panel.labelled]
    panel.ids.setText(f"{unlabelled[-1]}, {unlabelled[0]}")
    click(qtbot, panel, "Next object")
    wait_idle(qtbot, widget)
    assert panel.current.text() == str(unlabelled[-1])
    click(qtbot, panel, "Skip object")
    wait_idle(qtbot, widget)
    assert panel.current.text() == str(unlabelled[0])
    with Client(server.url, server.token) as client:
        assert client.object_labels("objs", "truth_objects")["skipped"] == [unlabelled[-1]]

    panel.method.setCurrentText("forest")
    click(qtbot, panel, "Train classifier")
    wait_idle(qtbot, widget, 120)
    assert "trained on" in panel.status.text(), panel.status.text()
    click(qtbot, panel, "Predict classes")
    wait_idle(qtbot, widget, 120)
    assert "truth_objects_classes" in viewer.layers, panel.status.text()
    assert panel.table.rowCount() == 9
    predicted = dict(zip(panel.predictions["id"], panel.predictions["class_name"], strict=True))
    assert set(predicted) == set(true_class)
    assert all(predicted[i] == c for i, c in panel.labelled.items())
    accuracy = np.mean([predicted[i] == c for i, c in true_class.items()])
    assert accuracy >= 0.75, (predicted, true_class)
    confidence = np.asarray(panel.predictions["confidence"], dtype=float)
    assert np.all((confidence >= 0) & (confidence <= 1))
    classes = np.asarray(viewer.layers["truth_objects_classes"].data)
    assert classes.shape == ids.shape and np.all((classes > 0) == (ids > 0))
