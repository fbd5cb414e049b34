"""The Points tab: the point sets of the open workspace as a table (z, y, x, class, size),
CSV import and export, a napari Points layer, jump to a point by double-click, and ellipsoids
at the points (size, aspect, orientation) rasterised into a label layer, optionally refined by
an active contour (a server job)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from voxelwise.napari._base import Hub, Panel, follow_job
from voxelwise.napari._navigate import centre_on, layer_scale

__all__ = ["PointsPanel", "parse_triple"]

COLUMNS = ("id", "z", "y", "x", "class", "size")
REFINE = ("none", "chan_vese", "geodesic")
CLASS_COLORS = ("#ff4040", "#40c040", "#4080ff", "#ffc000", "#c040ff", "#00c0c0", "#ff80c0")


def parse_triple(text: str, what: str) -> list[float] | None:
    """``"1, 1, 2"`` -> ``[1.0, 1.0, 2.0]``; empty text -> None.

    Raises
    ------
    ValueError
        Not three numbers.
    """
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        return None
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"Expected {what} as three numbers (z, y, x), got {text!r}") from None
    if len(values) != 3 or not all(np.isfinite(values)):
        raise ValueError(f"Expected {what} as three numbers (z, y, x), got {text!r}")
    return values


def _open_csv(parent: Any) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Import points", "", "CSV (*.csv)")
    return str(path)


def _save_csv(parent: Any) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Export points", "points.csv", "CSV (*.csv)")
    return str(path)


class PointsPanel(Panel):
    """Point sets: table, CSV import/export, Points layer, go to a point, rasterise.

    ``ask_open`` and ``ask_save`` return the path chosen in a file dialog (empty: cancelled);
    replace them to choose files without a dialog (tests, scripts).
    """

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.ask_open: Callable[[Any], str] = _open_csv
        self.ask_save: Callable[[Any], str] = _save_csv
        self.point_set = QComboBox()
        self.point_set.setEditable(True)
        self.point_set.setCurrentText("points")
        self.form.addRow("Point set", self.point_set)
        self.replace = QCheckBox("replace a set of that name")
        self.form.addRow(self.replace)
        self.form.addRow(self.button("Refresh point sets", self.refresh_sets))
        self.form.addRow(self.button("Import CSV...", self.import_dialog))
        self.form.addRow(self.button("Load points", self.load))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSortingEnabled(True)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.guard(lambda: self.go_to(row)))
        self.form.addRow(self.table)
        self.form.addRow(self.button("Show as Points layer", self.show_points))
        self.form.addRow(self.button("Export CSV...", self.export_dialog))
        # rasterising
        self.diameter = QDoubleSpinBox()
        self.diameter.setRange(0.0, 1e6)
        self.diameter.setDecimals(2)
        self.diameter.setSpecialValueText("each point's size")
        self.aspect = QLineEdit("1, 1, 1")
        self.orientation = QLineEdit()
        self.orientation.setPlaceholderText("z, y, x axis of the first diameter (empty: none)")
        self.values = QComboBox()
        self.values.addItems(["class", "id"])
        self.refine = QComboBox()
        self.refine.addItems(list(REFINE))
        self.feature = QLineEdit("raw")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 1000)
        self.iterations.setValue(30)
        self.output = QLineEdit()
        self.output.setPlaceholderText("<point set>_objects")
        for label, widget in (
            ("Diameter (physical units)", self.diameter),
            ("Aspect (z, y, x)", self.aspect),
            ("Orientation (z, y, x)", self.orientation),
            ("Label values", self.values),
            ("Refine (active contour)", self.refine),
            ("Contour follows layer", self.feature),
            ("Contour iterations", self.iterations),
            ("Label layer name", self.output),
        ):
            self.form.addRow(label, widget)
        self.form.addRow(self.button("Rasterise points", self.rasterize))
        self.points: list[dict[str, Any]] = []
        self.finish_layout()

    # -- sets -----------------------------------------------------------------------------------

    @property
    def set_name(self) -> str:
        name = self.point_set.currentText().strip()
        if not name:
            raise ValueError("Choose or type a point set name first")
        return name

    def on_event(self, event: str) -> None:
        if event == "workspace":
            self.guard(lambda: self.refresh_sets(quiet=True))

    def refresh_sets(self, *, quiet: bool = False) -> None:
        client, ws = self.session.require_workspace()
        self.run(
            lambda: client.point_sets(ws), done=self._sets, what="listing point sets", quiet=quiet
        )

    def _sets(self, sets: dict[str, int]) -> None:
        current = self.point_set.currentText()
        self.point_set.blockSignals(True)
        self.point_set.clear()
        self.point_set.addItems(sorted(sets))
        self.point_set.setCurrentText(current if current in sets or not sets else sorted(sets)[0])
        self.point_set.blockSignals(False)
        self.say(f"{len(sets)} point set(s)")

    def import_dialog(self) -> None:
        path = self.ask_open(self)
        if path:
            self.import_csv(path)

    def import_csv(self, path: str | Path) -> None:
        """Send the CSV file ``path`` (columns z, y, x, class[, size]) to the open workspace as
        a point set (named as the set box, or after the file when the box is empty)."""
        client, ws = self.session.require_workspace()
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"No CSV file at {source}; choose an existing file")
        text = source.read_text(encoding="utf-8")
        name = self.point_set.currentText().strip() or source.stem
        overwrite = self.replace.isChecked()

        def send() -> tuple[dict[str, Any], list[dict[str, Any]]]:
            answer = client.import_points(ws, csv=text, name=name, overwrite=overwrite)
            return answer, client.points(ws, name)

        def done(result: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
            answer, points = result
            self.point_set.setCurrentText(name)
            self.show_table(points)
            message = str(answer.get("message") or "")
            self.say(
                f"{len(points)} points imported into {name}" + (f"; {message}" if message else "")
            )

        self.run(send, done=done, what=f"importing {source.name}")

    def load(self) -> None:
        client, ws = self.session.require_workspace()
        name = self.set_name

        def done(points: list[dict[str, Any]]) -> None:
            self.show_table(points)
            self.say(f"{len(points)} points in {name}")

        self.run(lambda: client.points(ws, name), done=done, what=f"loading points {name}")

    def show_table(self, points: list[dict[str, Any]]) -> None:
        """Fill the table (numbers sort as numbers)."""
        self.points = list(points)
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setRowCount(len(points))
        for r, p in enumerate(points):
            for c, key in enumerate(COLUMNS):
                value = p.get(key)
                item = QTableWidgetItem()
                if isinstance(value, int | float) and not isinstance(value, bool):
                    item.setData(Qt.ItemDataRole.DisplayRole, value)
                else:
                    item.setText("" if value is None else str(value))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)

    def _row_point(self, row: int) -> dict[str, Any]:
        item = self.table.item(row, COLUMNS.index("id"))
        if item is None:
            raise ValueError(f"Row {row} of the table is empty; load the points first")
        point_id = int(item.data(Qt.ItemDataRole.DisplayRole))
        for p in self.points:
            if int(p["id"]) == point_id:
                return p
        raise ValueError(f"Point {point_id} is no longer in the table; load the points again")

    def go_to(self, row: int) -> tuple[float, float, float]:
        """Centre the view on the point of table row ``row`` (as shown, after sorting)."""
        p = self._row_point(row)
        world = centre_on(self.viewer, (p["z"], p["y"], p["x"]))
        self.say(
            f"point {p['id']} (class {p['class']}) at z={p['z']:g}, y={p['y']:g}, x={p['x']:g}"
        )
        return world

    def show_points(self) -> Any:
        """Add (or replace) the loaded points as a napari Points layer, coloured by class."""
        if not self.points:
            raise ValueError("Load or import a point set first: the table is empty")
        name = self.set_name
        coords = np.array([[p["z"], p["y"], p["x"]] for p in self.points], dtype=float)
        classes = np.array([int(p["class"]) for p in self.points])
        colors = [CLASS_COLORS[c % len(CLASS_COLORS)] for c in classes]
        scale = layer_scale(self.viewer)
        sizes = np.array([float(p.get("size") or 0.0) for p in self.points])
        sizes = np.where(sizes > 0, sizes / min(scale), 5.0)
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        layer = self.viewer.add_points(
            coords,
            name=name,
            scale=scale,
            size=sizes,
            face_color=colors,
            properties={"id": [int(p["id"]) for p in self.points], "class": classes},
            metadata={"voxelwise": {"points": name}},
        )
        self.say(f"{len(coords)} points of {name} shown")
        return layer

    def export_dialog(self) -> None:
        path = self.ask_save(self)
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> None:
        """Write the point set (as stored in the workspace) to the CSV file ``path``."""
        client, ws = self.session.require_workspace()
        name, out = self.set_name, Path(path)

        def fetch() -> str:
            return str(client.export_points(ws, name))

        def done(text: str) -> None:
            out.write_text(text, encoding="utf-8")
            self.say(f"{name} written to {out}")

        self.run(fetch, done=done, what=f"exporting {name}")

    # -- rasterising ----------------------------------------------------------------------------

    def rasterize_options(self) -> dict[str, Any]:
        """The rasterise options of the form (see ``Client.rasterize_points``): the diameter
        (or each point's size) shaped by the aspect, whose largest ratio gets the diameter."""
        options: dict[str, Any] = {"values": self.values.currentText(), "overwrite": True}
        aspect = parse_triple(self.aspect.text(), "the aspect")
        if aspect is not None and min(aspect) <= 0:
            raise ValueError(f"Expected aspect ratios > 0, got {self.aspect.text()!r}")
        diameter = float(self.diameter.value())
        if diameter > 0 and aspect is not None and len(set(aspect)) > 1:
            # a fixed diameter shaped by the aspect: the largest axis gets the diameter
            options["size"] = [diameter * r / max(aspect) for r in aspect]
        elif diameter > 0:
            options["size"] = diameter
        elif aspect is not None:
            options["aspect"] = aspect
        orientation = parse_triple(self.orientation.text(), "the orientation")
        if orientation is not None:
            if not any(orientation):
                raise ValueError("Expected a non-zero orientation vector (z, y, x)")
            options["orientation"] = orientation
        refine = self.refine.currentText()
        if refine != "none":
            options["refine"] = refine
            options["feature"] = self.feature.text().strip() or "raw"
            options["iterations"] = int(self.iterations.value())
        name = self.output.text().strip()
        if name:
            options["name"] = name
        return options

    def rasterize(self) -> None:
        client, ws = self.session.require_workspace()
        point_set, options = self.set_name, self.rasterize_options()

        def submit() -> Any:
            return client.rasterize_points(ws, point_set, **options)

        what = "refining" if "refine" in options else "rasterising"
        self.run(follow_job, submit, done=self._rasterized, what=f"{what} {point_set}")

    def _rasterized(self, result: dict[str, Any]) -> None:
        self.session.refresh()
        self.hub.notify("layers")
        self.show_layers([result["layer"]], opacity=0.6, what=f"label layer {result['layer']}")
