"""The Workspace tab: connect (URL and token, or a local server), list, create and open
workspaces, and show their layers lazily."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QComboBox, QLineEdit, QListWidget, QSpinBox

from voxelwise.napari._base import Hub, Panel, follow_job

__all__ = ["WorkspacePanel"]


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
        self.form.addRow("New workspace", self.name)
        self.form.addRow("Image (on the server)", self.image)
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

    def show_selected(self) -> None:
        item = self.layers.currentItem()
        if item is None:
            self.say("Select a layer in the list first", error=True)
            return
        self.show_layers([item.text()], what=f"loading {item.text()}")
