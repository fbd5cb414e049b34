"""The Active-learning tab against a real server on a synthetic EM volume: create a campaign
with tiny training settings, propose patches (a job) into the ranked table, jump to each patch,
paint it, mark it labelled (the server records the painted labels), update the model (a job),
propose again with the model, and resume the campaign in a new session."""

from __future__ import annotations

import json

import numpy as np
import pytest
from napari_gui import click, wait_idle
from napari_synthetic import open_workspace, synthetic_volume, synthetic_workspace

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TINY = {"network": {"depth": 2, "width": 4, "blocks": 1, "dropout": 0.1}, "batch_size": 2}


@pytest.fixture(scope="module")
def al(server, data_root):
    """Workspace 'al' of the synthetic volume."""
    pytest.importorskip("torch")
    return synthetic_workspace(server, data_root, "al")


def test_campaign_propose_label_update(widget, server, al, qtbot):
    from voxelwise.client import Client

    viewer, panel = widget.viewer, widget.active
    open_workspace(widget, server, qtbot, "al")
    panel.campaign.setCurrentText("mito")
    panel.patch.setText("32,32")
    panel.classes.setValue(2)
    panel.steps.setValue(2)
    panel.initial_steps.setValue(4)
    panel.device.setCurrentText("cpu")
    panel.config.setText("{not json")
    click(qtbot, panel, "Create campaign")
    assert "as JSON" in panel.status.text()
    panel.config.setText(json.dumps(TINY))
    click(qtbot, panel, "Create campaign")
    wait_idle(qtbot, widget)
    assert "mito_labels" in viewer.layers, panel.status.text()
    assert "0 of 32 patches labelled" in panel.status.text(), panel.status.text()

    panel.k.setValue(2)
    click(qtbot, panel, "Propose patches")
    wait_idle(qtbot, widget, 120)
    assert panel.table.rowCount() == 2, panel.status.text()
    assert [panel.table.item(r, 6).text() for r in range(2)] == ["pending", "pending"]
    truth = ((synthetic_volume().labels == 2) + 1).astype(np.uint8)  # class c as c + 1
    layer = viewer.layers["mito_labels"]
    seen = np.zeros(0, dtype=np.uint8)  # what the expert painted so far
    with Client(server.url, server.token) as client:
        for r in range(2):
            click(qtbot, panel, "Next patch")
            assert panel.row == r
            p = panel.proposals[r]
            start, stop = np.asarray(p["start"]), np.asarray(p["stop"])
            assert viewer.dims.current_step[0] == start[0]
            centre = (start[1:] + stop[1:] - 1) / 2
            assert np.allclose(viewer.camera.center[-2:], centre)
            box = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
            click(qtbot, panel, "Mark labelled")  # nothing painted yet: a message
            assert "no painted label" in panel.status.text()
            painted = truth[box].copy()  # the expert paints the patch
            if r == 1 and np.unique(np.concatenate([seen, painted.ravel()])).size < 2:
                # both proposals fell on one class (proposals of an untrained model): the
                # expert also marks one voxel of the other class, as training needs two
                painted.flat[0] = 3 - painted.flat[0]
            seen = np.concatenate([seen, painted.ravel()])
            layer.data[box] = painted
            click(qtbot, panel, "Mark labelled")
            wait_idle(qtbot, widget)
            assert panel.table.item(r, 6).text() == "labelled", panel.status.text()
            stored = np.asarray(client.get("al", "mito_labels"))
            np.testing.assert_array_equal(stored[box], painted)
        status = client.campaign("al", "mito")
        assert status["labelled"] == 2 and status["pending"] == []
    click(qtbot, panel, "Next patch")
    assert "Every proposed patch is labelled" in panel.status.text()

    click(qtbot, panel, "Update model")
    wait_idle(qtbot, widget, 300)
    assert "round 1 trained" in panel.status.text(), panel.status.text()
    click(qtbot, panel, "Propose patches")
    wait_idle(qtbot, widget, 120)
    assert panel.table.rowCount() == 2, panel.status.text()
    assert {p["strategy"] for p in panel.proposals} == {"entropy"}
    scores = [float(p["score"]) for p in panel.proposals]
    assert scores == sorted(scores, reverse=True)

    # resume: the pending proposals come back into the table
    panel.proposals = []
    panel.table.setRowCount(0)
    click(qtbot, panel, "Resume campaign")
    wait_idle(qtbot, widget)
    assert panel.table.rowCount() == 2, panel.status.text()
    assert "2 of 32 patches labelled, 2 pending" in panel.status.text()
