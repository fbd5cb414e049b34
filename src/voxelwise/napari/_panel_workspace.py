"""The Workspace tab: connect (URL and token, or a local server), list, create and open
workspaces, and show their layers lazily. A new workspace's ROI and binning are chosen on a
preview of the file: a downsampled middle slice, a rectangle drawn on it and a z range."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QLineEdit, QListWidget, QSpinBox

from voxelwise.errors import RoiError
from voxelwise.napari._base import Hub, Panel, follow_job

__all__ = ["PREVIEW_LAYER", "ROI_LAYER", "WorkspacePanel", "roi_from_rectangle"]

PREVIEW_LAYER = "preview"
ROI_LAYER = "preview ROI"


def roi_from_rectangle(
    points: Any, z_range: tuple[int, int], shape: tuple[int, int, int] | list[int]
) -> str:
    """The ROI ``"z0:z1,y0:y1,x0:x1"`` of a rectangle drawn on a z slice (``points``: its
    (N, 2) corners as (y, x) voxel coordinates) and a z range, clipped to the volume ``shape``.

    Raises
    ------
    RoiError
        The rectangle or the z range holds no voxel of the volume.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)[:, -2:]
    z, y, x = (int(s) for s in shape)
    z0, z1 = max(0, int(z_range[0])), min(z, int(z_range[1]))
    y0, x0 = (max(0, math.floor(v)) for v in pts.min(axis=0))
    y1, x1 = min(y, math.ceil(pts[:, 0].max())), min(x, math.ceil(pts[:, 1].max()))
    if z1 <= z0 or y1 <= y0 or x1 <= x0:
        raise RoiError(
            f"The rectangle and z range select no voxel of the {z} x {y} x {x} volume "
            f"(z {z0}:{z1}, y {y0}:{y1}, x {x0}:{x1}); draw the rectangle over the preview "
            "and give z from < z to"
        )
    return f"{z0}:{z1},{y0}:{y1},{x0}:{x1}"


class WorkspacePanel(Panel):
    """Connect, list, create and open workspaces; the raw image streams in as a multiscale layer."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.url = QLineEdit("http://127.0.0.1:8130")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("vw_... (voxelwise users add NAME)")
        self.form.addRow("Server URL", self.url)
        self.form.addRow("Token", self.token)
        self.form.addRow(self.button("Connect", self.connect_server))
        self.data_root = QLineEdit()
        self.data_root.setPlaceholderText("folder with your volumes")
        self.form.addRow("Local data folder", self.data_root)
        self.form.addRow(self.button("Start local server", self.start_local))
        self.workspaces = QListWidget()
        self.workspaces.itemDoubleClicked.connect(lambda *_: self.guard(self.open_selected))
        self.form.addRow("Workspaces", self.workspaces)
        self.form.addRow(self.button("Refresh list", self.refresh))
        self.form.addRow(self.button("Open selected", self.open_selected))
        self.name = QLineEdit()
        self.image = QComboBox()
        self.image.setEditable(True)
        self.roi = QLineEdit()
        self.roi.setPlaceholderText("z0:z1,y0:y1,x0:x1 (empty: whole volume)")
        self.bin = QSpinBox()
        self.bin.setRange(1, 16)
        self.z_from = QSpinBox()
        self.z_to = QSpinBox()
        for box in (self.z_from, self.z_to):
            box.setRange(0, 1 << 30)
            box.valueChanged.connect(lambda *_: self.guard(self.update_roi))
        self.preview_info: dict[str, Any] | None = None
        self.form.addRow("New workspace", self.name)
        self.form.addRow("Image (on the server)", self.image)
        self.form.addRow(self.button("Preview image", self.preview))
        self.form.addRow("ROI z from", self.z_from)
        self.form.addRow("ROI z to", self.z_to)
        self.form.addRow("ROI", self.roi)
        self.form.addRow("Binning", self.bin)
        self.form.addRow(self.button("Create workspace", self.create_workspace))
        self.layers = QListWidget()
        self.layers.itemDoubleClicked.connect(lambda *_: self.guard(self.show_selected))
        self.form.addRow("Layers", self.layers)
        self.form.addRow(self.button("Show selected layer", self.show_selected))
        self.finish_layout()

    # -- connection -----------------------------------------------------------------------------

    def connect_server(self) -> None:
        url, token = self.url.text().strip(), self.token.text().strip()
        self.run(
            self.session.connect, url, token, done=self._connected, what=f"connecting to {url}"
        )

    def start_local(self) -> None:
        root = self.data_root.text().strip()
        if not root:
            self.say("Choose the folder with your volumes first (Local data folder)", error=True)
            return
        self.run(
            self.session.start_local, root, done=self._connected, what="starting a local server"
        )

    def _connected(self, me: dict[str, Any]) -> None:
        if self.session.local is not None:
            self.url.setText(self.session.local.url)
            self.token.setText(self.session.local.token or "")
        self.hub.notify("connected")
        self.refresh(quiet=True)
        self.say(f"connected as {me.get('name')} to {self.session.require().url}")

    def refresh(self, *, quiet: bool = False) -> None:
        """List the workspaces and the files of the server's data root."""
        client = self.session.require()

        def fetch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return client.workspaces(), client.files()

        done = self._listed_quietly if quiet else self._listed
        self.run(fetch, done=done, what="listing workspaces", quiet=quiet)

    def _listed(self, result: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        self._listed_quietly(result)
        self.say(f"{len(result[0])} workspace(s) on {self.session.require().url}")

    def _listed_quietly(self, result: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        workspaces, files = result
        self.workspaces.clear()
        for w in workspaces:
            self.workspaces.addItem(w["name"])
        current = self.image.currentText()
        self.image.clear()
        for f in files:
            if f.get("name") not in ("workspaces", "exports", ".voxelwise"):
                self.image.addItem(str(f.get("path") or f.get("name")))
        if current:
            self.image.setCurrentText(current)

    # -- workspaces -----------------------------------------------------------------------------

    def create_workspace(self) -> None:
        client = self.session.require()
        name, image = self.name.text().strip(), self.image.currentText().strip()
        if not name or not image:
            self.say("Give the new workspace a name and an image", error=True)
            return
        roi = self.roi.text().strip() or None
        binning = int(self.bin.value())

        def submit() -> Any:
            return client.create_workspace(name, image, roi=roi, bin=binning)

        self.run(
            follow_job,
            submit,
            done=lambda _result: self.open(name),
            what=f"creating workspace {name}",
        )

    # -- ROI and binning on a preview -----------------------------------------------------------

    def preview(self) -> None:
        """Show a downsampled middle slice of the chosen file and a rectangle to draw the ROI
        on (every edit of the rectangle or the z range updates the ROI field)."""
        client = self.session.require()
        image = self.image.currentText().strip()
        if not image:
            self.say("Choose an image (a file on the server) to preview", error=True)
            return
        self.run(client.preview, image, done=self._previewed, what=f"previewing {image}")

    def _previewed(self, info: dict[str, Any]) -> None:
        for name in (ROI_LAYER, PREVIEW_LAYER):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        z, y, x = (int(s) for s in info["shape"])
        step = float(info["step"])
        image = np.asarray(info["image"])
        finite = image[np.isfinite(image)]
        limits = [float(finite.min()), float(finite.max())] if finite.size else [0.0, 1.0]
        if limits[1] <= limits[0]:
            limits[1] = limits[0] + 1.0
        self.viewer.add_image(
            image,
            name=PREVIEW_LAYER,
            scale=(step, step),
            translate=(0.0, 0.0),
            contrast_limits=limits,
            metadata={"voxelwise": {"preview": info["path"]}},
        )
        rect = np.array([[0.0, 0.0], [0.0, x], [y, x], [y, 0.0]])
        shapes = self.viewer.add_shapes(
            [rect],
            shape_type="rectangle",
            name=ROI_LAYER,
            edge_color="yellow",
            face_color="transparent",
            edge_width=max(2.0, step * 2),
        )
        shapes.events.data.connect(lambda *_: self.guard(self.update_roi))
        shapes.mode = "select"
        self.viewer.reset_view()
        self.preview_info = {**info, "image": None}
        self.z_to.setRange(1, z)
        self.z_from.setRange(0, z - 1)
        self.z_from.setValue(0)
        self.z_to.setValue(z)
        self.update_roi()
        self.say(
            f"{info['path']}: {z} x {y} x {x} {info['dtype']}, slice z={info['index']} shown "
            f"every {info['step']} voxel(s); draw the rectangle (layer {ROI_LAYER!r}) and set "
            "the z range and binning"
        )

    def update_roi(self) -> None:
        """Write the ROI of the preview's last rectangle and the z range into the ROI field."""
        if self.preview_info is None or ROI_LAYER not in self.viewer.layers:
            return
        shapes = self.viewer.layers[ROI_LAYER]
        if not len(shapes.data):
            self.roi.setText("")
            return
        self.roi.setText(
            roi_from_rectangle(
                shapes.data[-1],
                (int(self.z_from.value()), int(self.z_to.value())),
                self.preview_info["shape"],
            )
        )

    # -- opening ----------------------------------------------------------------------------------

    def open_selected(self) -> None:
        item = self.workspaces.currentItem()
        if item is None:
            self.say("Select a workspace in the list first", error=True)
            return
        self.open(item.text())

    def open(self, name: str) -> None:
        """Open workspace ``name``: list its layers and show the raw image."""
        self.run(self.session.open_workspace, name, done=self._opened, what=f"opening {name}")

    def _opened(self, summary: dict[str, Any]) -> None:
        for name in (ROI_LAYER, PREVIEW_LAYER):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        self.preview_info = None
        self.update_layers(summary)
        self.hub.notify("workspace")
        shape = " x ".join(str(s) for s in summary.get("shape", []))
        images = self.session.image_layers() or ["raw"]
        what = "raw image" if len(images) == 1 else f"{len(images)} image layers"
        self.show_layers(images, what=f"workspace {summary.get('name')} ({shape}), {what}")
        self.refresh(quiet=True)

    def update_layers(self, summary: dict[str, Any]) -> None:
        self.layers.clear()
        for layer in summary.get("layers", {}):
            self.layers.addItem(layer)

    def on_event(self, event: str) -> None:
        if event == "layers" and self.session.summary:
            self.update_layers(self.session.summary)
        if event == "display" and self.hub.display.error:
            self.say(self.hub.display.error, error=True)

    def show_selected(self) -> None:
        item = self.layers.currentItem()
        if item is None:
            self.say("Select a layer in the list first", error=True)
            return
        self.show_layers([item.text()], what=f"loading {item.text()}")
