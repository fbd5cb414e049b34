"""The Annotate tab: a label-set editor and painting in a napari Labels layer, synced to the
workspace as stroke edits (a few points and a radius, never the whole volume), with undo/redo
and interpolation between slices."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from voxelwise.napari._base import Hub, Panel
from voxelwise.napari._errors import NoLabelSetError, NotConnectedError

__all__ = ["MAX_STROKE_POINTS", "AnnotatePanel", "stroke_points"]

MAX_STROKE_POINTS = 4096


def stroke_points(points: Sequence[Sequence[float]], plane_axis: int | None) -> list[list[int]]:
    """Voxel coordinates of a drawn polyline: rounded, consecutive repeats dropped, on one slice
    when drawn in 2D, and at most :data:`MAX_STROKE_POINTS` (evenly thinned)."""
    arr = np.rint(np.asarray(points, dtype=float)[:, -3:]).astype(np.int64)
    if plane_axis is not None:
        arr[:, plane_axis] = arr[0, plane_axis]
    keep = np.ones(len(arr), dtype=bool)
    keep[1:] = np.any(arr[1:] != arr[:-1], axis=1)
    arr = arr[keep]
    if len(arr) > MAX_STROKE_POINTS:
        idx = np.linspace(0, len(arr) - 1, MAX_STROKE_POINTS).round().astype(int)
        arr = arr[idx]
    return [[int(v) for v in p] for p in arr]


class AnnotatePanel(Panel):
    """Label set editor, annotation layer, brush (voxel or supervoxel), undo/redo, interpolate."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.label_set = QLineEdit("tissue")
        self.layer_name = QLineEdit("scribbles")
        self.form.addRow("Label set", self.label_set)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["name", "value", "colour", "parent"])
        self.form.addRow(self.table)
        self.new_name = QLineEdit()
        self.new_color = QLineEdit()
        self.new_color.setPlaceholderText("#rrggbb (empty: automatic)")
        self.new_parent = QComboBox()
        self.new_parent.setEditable(True)
        self.form.addRow("New label", self.new_name)
        self.form.addRow("Colour", self.new_color)
        self.form.addRow("Parent", self.new_parent)
        self.form.addRow(self.button("Add label", self.add_label))
        self.form.addRow(self.button("Set colour of selected label", self.recolor_selected))
        self.form.addRow(self.button("Delete selected label", self.delete_selected))
        self.form.addRow("Annotation layer", self.layer_name)
        self.brush = QComboBox()
        self.brush.addItems(["voxel", "supervoxel"])
        self.supervoxels = QLineEdit("supervoxels")
        self.form.addRow("Brush", self.brush)
        self.form.addRow("Supervoxel layer", self.supervoxels)
        self.form.addRow(self.button("Open annotation layer for painting", self.open_layer))
        self.form.addRow(self.button("Undo", self.undo))
        self.form.addRow(self.button("Redo", self.redo))
        self.start = QSpinBox()
        self.stop = QSpinBox()
        for box in (self.start, self.stop):
            box.setRange(0, 1 << 20)
        self.form.addRow("Interpolate from slice", self.start)
        self.form.addRow("to slice", self.stop)
        self.form.addRow(self.button("Interpolate selected label", self.interpolate))
        self.labels: list[dict[str, Any]] = []
        self.layer: Any = None
        self.finish_layout()

    # -- label set ------------------------------------------------------------------------------

    def on_event(self, event: str) -> None:
        if event == "workspace":
            self.layer = None
            self.refresh_labels()

    def refresh_labels(self) -> None:
        client, ws = self.session.require_workspace()
        name = self.label_set.text().strip()
        self.run(lambda: client.label_sets(ws).get(name, []), done=self._show_labels)

    def _show_labels(self, labels: list[dict[str, Any]]) -> None:
        self.labels = list(labels)
        self.table.setRowCount(len(labels))
        for row, lab in enumerate(labels):
            color = "#" + "".join(f"{int(c):02x}" for c in lab["color"][:3])
            values = [lab["name"], str(lab["value"]), color, lab.get("parent") or ""]
            for col, text in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(text))
        current = self.new_parent.currentText()
        self.new_parent.clear()
        self.new_parent.addItems([""] + [lab["name"] for lab in labels])
        self.new_parent.setCurrentText(current)
        if self.layer is not None:
            colors = {
                int(lab["value"]): tuple(float(c) / 255 for c in lab["color"]) for lab in labels
            }
            self.layer.colormap = {**colors, None: (0.0, 0.0, 0.0, 0.0)}

    def add_label(self) -> None:
        client, ws = self.session.require_workspace()
        name, label_set = self.new_name.text().strip(), self.label_set.text().strip()
        if not name or not label_set:
            self.say("Give the label set and the new label a name", error=True)
            return
        color = self.new_color.text().strip() or None
        parent = self.new_parent.currentText().strip() or None

        def add() -> Any:
            client.add_label(ws, label_set, name, color=color, parent=parent)
            return client.label_sets(ws).get(label_set, [])

        self.run(add, done=self._show_labels, what=f"adding label {name}")

    def _selected_label(self) -> str:
        row = self.table.currentRow()
        if row < 0 or row >= len(self.labels):
            raise NoLabelSetError("Select a label in the table first")
        return str(self.labels[row]["name"])

    def recolor_selected(self) -> None:
        client, ws = self.session.require_workspace()
        label, label_set = self._selected_label(), self.label_set.text().strip()
        color = self.new_color.text().strip()
        if not color:
            self.say("Type the new colour (#rrggbb) in the Colour field", error=True)
            return

        def update() -> Any:
            client.update_label(ws, label_set, label, color=color)
            return client.label_sets(ws).get(label_set, [])

        self.run(update, done=self._show_labels, what=f"recolouring {label}")

    def delete_selected(self) -> None:
        client, ws = self.session.require_workspace()
        label, label_set = self._selected_label(), self.label_set.text().strip()

        def delete() -> Any:
            client.delete_label(ws, label_set, label)
            return client.label_sets(ws).get(label_set, [])

        self.run(delete, done=self._show_labels, what=f"deleting {label}")

    # -- the painted layer ----------------------------------------------------------------------

    def open_layer(self) -> None:
        """Create the annotation layer if needed and show it as a paintable Labels layer."""
        client, ws = self.session.require_workspace()
        session = self.session
        name, label_set = self.layer_name.text().strip(), self.label_set.text().strip()

        def load() -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
            labels = session.labels_of(label_set)
            if name not in client.layers(ws):
                client.create_annotation_layer(ws, name, label_set=label_set)
            return session.fetch_labels(name), labels, client.layer(ws, name)

        self.run(load, done=self._opened, what=f"loading annotation layer {name}")

    def _opened(self, result: tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]) -> None:
        from voxelwise.napari._session import napari_kwargs

        data, labels, info = result
        colors = {int(lab["value"]): tuple(float(c) / 255 for c in lab["color"]) for lab in labels}
        kwargs, _ = napari_kwargs(info, colors=colors)
        name = kwargs["name"]
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        layer = self.viewer.add_labels(data, **kwargs)
        layer.mouse_drag_callbacks.append(self._record_stroke)
        layer.selected_label = int(labels[0]["value"])
        layer.brush_size = 4
        layer.mode = "paint"
        self.layer = layer
        self._show_labels(labels)
        self.hub.session.refresh()
        self.hub.notify("layers")
        self.say(f"paint in layer {name}: each stroke is saved in the workspace")

    def _plane_axis(self) -> int | None:
        dims = self.viewer.dims
        if dims.ndisplay != 2:
            return None
        hidden = [a for a in range(dims.ndim) if a not in dims.displayed]
        return int(hidden[-1]) if hidden else None

    def _record_stroke(self, layer: Any, event: Any) -> Iterator[None]:
        """napari drag callback: collect the stroke's points, send them when the mouse is up."""
        if layer.mode not in ("paint", "erase"):
            return
        points = [layer.world_to_data(event.position)]
        yield
        while event.type == "mouse_move":
            points.append(layer.world_to_data(event.position))
            yield
        self.send_stroke(points, erase=layer.mode == "erase")

    def send_stroke(self, points: Sequence[Sequence[float]], *, erase: bool = False) -> None:
        """Save a drawn stroke in the workspace and show the stored result in its box.

        The request carries the polyline and the brush radius; the server rasterises it,
        records it as one undoable edit and answers with the edited box, which is fetched back
        so the layer shows exactly what the workspace holds.
        """
        try:
            client, ws = self.session.require_workspace()
            if self.layer is None:
                raise NotConnectedError("Open an annotation layer for painting first")
        except Exception as e:
            from voxelwise.napari._errors import describe_error

            self.say(describe_error(e), error=True)
            return
        layer, name = self.layer, self.layer.name
        value = int(layer.selected_label)
        axis = self._plane_axis()
        plane = None if axis is None else "zyx"[axis]
        pts = stroke_points(points, axis)
        radius = max(float(layer.brush_size) / 2.0, 0.0)
        known = {int(lab["value"]) for lab in self.labels}
        brush = self.brush.currentText()
        supervoxels = self.supervoxels.text().strip()
        label_set = self.label_set.text().strip()

        def sync() -> Any:
            if not erase and value not in known:
                raise NoLabelSetError(
                    f"No label with value {value} in label set {label_set!r}; add a label, "
                    "then pick it in the layer"
                )
            if erase:
                edit = client.erase(ws, name, pts, radius, plane=plane)
            elif brush == "supervoxel":
                edit = client.paint_supervoxels(
                    ws, name, value, supervoxels, pts, radius=radius, plane=plane
                )
            else:
                edit = client.paint_stroke(ws, name, value, pts, radius, plane=plane)
            return edit, self._region(client, ws, name, edit)

        self.run(sync, done=self._synced, failed=lambda _e: self.reload(), what="saving stroke")

    @staticmethod
    def _region(client: Any, ws: str, name: str, edit: Any) -> tuple[Any, np.ndarray] | None:
        if not edit or not edit.get("bbox"):
            return None
        box = edit["bbox"]
        roi = ",".join(f"{a}:{b}" for a, b in box)
        return tuple(slice(a, b) for a, b in box), client.region(ws, name, roi)

    def _synced(self, result: tuple[dict[str, Any] | None, Any]) -> None:
        edit, region = result
        if region is not None and self.layer is not None:
            where, values = region
            self.layer.data[where] = values
            self.layer.refresh()
        if edit:
            self.say(f"{edit['kind']}: {edit['voxels']} voxel(s) saved (edit {edit['id']})")
            self.hub.notify("strokes")

    def reload(self) -> None:
        """Show the annotation layer as the workspace holds it (after an error or undo)."""
        if self.layer is None:
            return
        session, name = self.session, self.layer.name
        message = self.status.text()

        def reloaded(data: np.ndarray) -> None:
            if self.layer is not None:
                self.layer.data = data
            self.say(message, error=True)

        self.run(session.fetch_labels, name, done=reloaded, what=message)

    def _history_step(self, redo: bool) -> None:
        client, ws = self.session.require_workspace()
        if self.layer is None:
            raise NotConnectedError("Open an annotation layer first")
        name = self.layer.name

        def step() -> Any:
            edit = client.redo(ws, name) if redo else client.undo(ws, name)
            return edit, self._region(client, ws, name, edit)

        def done(result: Any) -> None:
            self._synced(result)
            if result[0] is None:
                self.say(f"nothing to {'redo' if redo else 'undo'}")

        self.run(step, done=done, what="redo" if redo else "undo")

    def undo(self) -> None:
        self._history_step(redo=False)

    def redo(self) -> None:
        self._history_step(redo=True)

    def interpolate(self) -> None:
        client, ws = self.session.require_workspace()
        if self.layer is None:
            raise NotConnectedError("Open an annotation layer first")
        name, value = self.layer.name, int(self.layer.selected_label)
        start, stop = int(self.start.value()), int(self.stop.value())

        def interp() -> Any:
            edit = client.interpolate(ws, name, value, start, stop)
            return edit, self._region(client, ws, name, edit)

        self.run(interp, done=self._synced, what="interpolating")
