"""Helpers of the Points, Objects and Active-learning tab tests: a small synthetic EM volume
(and its truth) written into the shared test server's data root, and opening a workspace from
the dock widget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from napari_gui import click, wait_idle

SHAPE = (8, 64, 64)


def synthetic_volume():
    from voxelwise.data import synthetic_em

    return synthetic_em(SHAPE, rng=0)


def synthetic_workspace(server, data_root: Path, name: str, *, truth: bool = False) -> str:
    """Create workspace ``name`` from the synthetic volume (``truth``: with layer ``truth``,
    the classes as values 1, 2, 3) on the running test server."""
    from voxelwise.client import Client

    vol = synthetic_volume()
    image, labels = data_root / "synthetic_em.tif", data_root / "synthetic_truth.tif"
    if not image.exists():
        tifffile.imwrite(image, vol.image)
    if truth and not labels.exists():
        tifffile.imwrite(labels, (vol.labels + 1).astype(np.uint8))
    with Client(server.url, server.token, timeout=120) as client:
        client.create_workspace(name, image.name, chunks=[8, 32, 32]).wait(timeout=120)
        if truth:
            client.import_labels(name, labels.name, "truth", add_missing=True).wait(timeout=120)
    return name


def open_workspace(widget, server, qtbot, name: str) -> None:
    """Connect the dock widget to ``server`` and open workspace ``name`` (raw shown)."""
    ws = widget.workspace
    ws.url.setText(server.url)
    ws.token.setText(server.token)
    click(qtbot, ws, "Connect")
    wait_idle(qtbot, widget)
    assert widget.session.connected, ws.status.text()
    ws.open(name)
    wait_idle(qtbot, widget)
    assert "raw" in widget.viewer.layers, ws.status.text()
