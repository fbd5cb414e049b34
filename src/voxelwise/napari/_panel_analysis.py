"""The Analysis tab: number objects, measure them into a sortable table, a histogram of a
measurement with the rule's threshold drawn as a line, apply a splitter rule, double-click a
row to centre the view on that object, export the table as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from voxelwise.napari._base import Hub, Panel, follow_job

__all__ = ["AnalysisPanel", "Histogram"]

OPS = ("<", "<=", ">", ">=")


class Histogram(QWidget):
    """Bars of a measurement's histogram and the rule threshold as a red vertical line."""

    def __init__(self, parent: QWidget | None = None, *, bins: int = 30) -> None:
        super().__init__(parent)
        self.bins = bins
        self.counts = np.zeros(0, dtype=np.int64)
        self.edges = np.zeros(0)
        self.threshold: float | None = None
        self.setMinimumHeight(120)

    def set_values(self, values: Any) -> None:
        x = np.asarray(values, dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            self.counts, self.edges = np.zeros(0, dtype=np.int64), np.zeros(0)
        else:
            self.counts, self.edges = np.histogram(x, bins=self.bins)
        self.update()

    def set_threshold(self, value: float | None) -> None:
        self.threshold = value
        self.update()

    def line_x(self) -> float | None:
        """Horizontal pixel of the threshold line (None when it lies outside the bars)."""
        if self.threshold is None or self.edges.size < 2:
            return None
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        if hi <= lo or not lo <= self.threshold <= hi:
            return None
        return (self.threshold - lo) / (hi - lo) * (self.width() - 1)

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(38, 41, 48))
        if self.counts.size:
            w, h = self.width(), self.height()
            top = max(int(self.counts.max()), 1)
            bar = w / self.counts.size
            for i, c in enumerate(self.counts):
                bh = int((h - 4) * int(c) / top)
                painter.fillRect(
                    int(i * bar), h - bh, max(int(bar) - 1, 1), bh, QColor(150, 170, 200)
                )
            x = self.line_x()
            if x is not None:
                painter.setPen(QPen(QColor(230, 60, 60), 2))
                painter.drawLine(int(x), 0, int(x), h)
        painter.end()


class AnalysisPanel(Panel):
    """Objects, measurements, histogram and rule, splitter, jump to an object, CSV export."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.source = QLineEdit("prediction")
        self.value = QSpinBox()
        self.value.setRange(0, 1 << 30)
        self.value.setValue(1)
        self.value.setSpecialValueText("all foreground")
        self.objects = QLineEdit("objects")
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 1 << 30)
        self.min_distance = QSpinBox()
        self.min_distance.setRange(0, 1000)
        self.min_distance.setSpecialValueText("off")
        self.form.addRow("Class layer", self.source)
        self.form.addRow("Class value", self.value)
        self.form.addRow("Minimum size (voxels)", self.min_size)
        self.form.addRow("Split touching (min distance)", self.min_distance)
        self.form.addRow("Objects layer", self.objects)
        self.form.addRow(self.button("Find objects", self.find_objects))
        self.form.addRow(self.button("Measure objects", self.measure))
        self.table = QTableWidget(0, 0)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.guard(lambda: self.go_to(row)))
        self.form.addRow(self.table)
        self.measurement = QComboBox()
        self.measurement.currentTextChanged.connect(lambda *_: self._update_histogram())
        self.op = QComboBox()
        self.op.addItems(list(OPS))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-1e12, 1e12)
        self.threshold.setDecimals(3)
        self.threshold.valueChanged.connect(lambda v: self.histogram.set_threshold(float(v)))
        self.histogram = Histogram()
        self.form.addRow("Measurement", self.measurement)
        self.form.addRow(self.histogram)
        self.form.addRow("Rule", self.op)
        self.form.addRow("Threshold", self.threshold)
        self.match_class = QLineEdit("small")
        self.other_class = QLineEdit("large")
        self.split_name = QLineEdit("classes")
        self.form.addRow("Class if the rule holds", self.match_class)
        self.form.addRow("Class otherwise", self.other_class)
        self.form.addRow("Class layer name", self.split_name)
        self.form.addRow(self.button("Apply rule", self.apply_rule))
        self.form.addRow(self.button("Export table as CSV...", self.export_dialog))
        self.columns: dict[str, list[Any]] = {}
        self.table_name: str | None = None
        self.finish_layout()

    # -- objects and measurements ---------------------------------------------------------------

    def find_objects(self) -> None:
        client, ws = self.session.require_workspace()
        source, name = self.source.text().strip(), self.objects.text().strip() or "objects"
        value = int(self.value.value()) or None
        options: dict[str, Any] = {"min_size": int(self.min_size.value())}
        if self.min_distance.value() > 0:
            options["min_distance"] = int(self.min_distance.value())

        def submit() -> Any:
            return client.find_instances(
                ws, source, value=value, name=name, overwrite=True, **options
            )

        self.run(follow_job, submit, done=self._found, what="finding objects")

    def _found(self, result: dict[str, Any]) -> None:
        self.session.refresh()
        self.hub.notify("layers")
        self.show_layers([result["layer"]], opacity=0.6, what=f"{result.get('n_objects')} objects")

    def measure(self) -> None:
        client, ws = self.session.require_workspace()
        labels = self.objects.text().strip() or "objects"

        def submit() -> Any:
            return client.analyze_layer(ws, labels, intensity=["raw"])

        def measure_and_fetch() -> Any:
            result = yield from follow_job(submit)
            return result["table"], client.table(ws, result["table"])

        self.run(measure_and_fetch, done=self._measured, what="measuring objects")

    def _measured(self, result: tuple[str, dict[str, list[Any]]]) -> None:
        self.table_name, columns = result
        self.show_table(columns)
        self.say(f"{len(next(iter(columns.values()), []))} objects measured ({self.table_name})")

    def show_table(self, columns: dict[str, list[Any]]) -> None:
        """Fill the sortable table (numbers sort as numbers) and the measurement choices."""
        self.columns = columns
        names = list(columns)
        rows = len(columns[names[0]]) if names else 0
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(names))
        self.table.setRowCount(rows)
        self.table.setHorizontalHeaderLabels(names)
        for c, name in enumerate(names):
            for r, v in enumerate(columns[name]):
                item = QTableWidgetItem()
                if isinstance(v, int | float) and not isinstance(v, bool):
                    item.setData(Qt.ItemDataRole.DisplayRole, float(v))
                else:
                    item.setText(str(v))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        numeric = [
            n
            for n in names
            if n != "id" and all(isinstance(v, int | float) for v in columns[n] if v is not None)
        ]
        current = self.measurement.currentText()
        self.measurement.blockSignals(True)
        self.measurement.clear()
        self.measurement.addItems(numeric)
        self.measurement.blockSignals(False)
        if current in numeric:
            self.measurement.setCurrentText(current)
        elif "volume" in numeric:
            self.measurement.setCurrentText("volume")
        self._update_histogram()

    def _update_histogram(self) -> None:
        name = self.measurement.currentText()
        values = np.asarray(self.columns.get(name, []), dtype=float)
        self.histogram.set_values(values)
        finite = values[np.isfinite(values)] if values.size else values
        if finite.size:
            self.threshold.setValue(float(np.median(finite)))
        self.histogram.set_threshold(float(self.threshold.value()))

    # -- rules ----------------------------------------------------------------------------------

    def rules(self) -> dict[str, Any]:
        """The splitter rules of the form (``SplitRules.from_dict`` layout)."""
        measurement = self.measurement.currentText()
        if not measurement:
            raise ValueError("Measure objects first, then choose a measurement for the rule")
        rule = {
            "class": self.match_class.text().strip() or "selected",
            "measurement": measurement,
            "op": self.op.currentText(),
            "value": float(self.threshold.value()),
        }
        default = self.other_class.text().strip() or None
        return {"rules": [rule], "default": default}

    def apply_rule(self) -> None:
        client, ws = self.session.require_workspace()
        if self.table_name is None:
            raise ValueError("Measure objects first: the rule applies to a measurement table")
        table, rules = self.table_name, self.rules()
        labels = self.objects.text().strip() or "objects"
        name = self.split_name.text().strip() or "classes"

        def submit() -> Any:
            return client.split_layer(ws, table, rules, labels=labels, name=name, overwrite=True)

        self.run(follow_job, submit, done=self._split, what="applying the rule")

    def _split(self, result: dict[str, Any]) -> None:
        self.session.refresh()
        self.hub.notify("layers")
        self.show_layers([result["layer"]], opacity=0.7, what=f"class layer {result['layer']}")

    # -- navigation and export ------------------------------------------------------------------

    def _cell(self, row: int, column: str) -> float:
        names = list(self.columns)
        if column not in names:
            raise ValueError(f"The table has no column {column!r}; measure objects again")
        item = self.table.item(row, names.index(column))
        if item is None:
            raise ValueError(f"Row {row} is empty")
        value = item.data(Qt.ItemDataRole.DisplayRole)
        return float(value)

    def go_to(self, row: int) -> tuple[float, float, float]:
        """Centre the view on the object of table row ``row`` (as shown, after sorting)."""
        centroid = [self._cell(row, f"centroid_{a}") for a in "zyx"]
        scale = [1.0, 1.0, 1.0]
        name = self.objects.text().strip() or "objects"
        layer = next((lyr for lyr in self.viewer.layers if lyr.name == name), None)
        if layer is None and "raw" in self.viewer.layers:
            layer = self.viewer.layers["raw"]
        if layer is not None:
            scale = [float(s) for s in layer.scale[-3:]]
        world = (centroid[0] * scale[0], centroid[1] * scale[1], centroid[2] * scale[2])
        self.viewer.dims.set_point(range(3), world)
        self.viewer.camera.center = world
        if layer is not None and name in self.viewer.layers and "id" in self.columns:
            obj = self.viewer.layers[name]
            if hasattr(obj, "selected_label"):
                obj.selected_label = int(self._cell(row, "id"))
        self.say(f"object at z={centroid[0]:.0f}, y={centroid[1]:.0f}, x={centroid[2]:.0f}")
        return world

    def export_csv(self, path: str | Path) -> Path:
        """Write the measurement table to ``path`` as CSV."""
        if not self.columns:
            raise ValueError("Measure objects first: there is no table to export")
        out = Path(path)
        names = list(self.columns)
        with out.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(names)
            writer.writerows(zip(*(self.columns[n] for n in names), strict=True))
        self.say(f"table written to {out}")
        return out

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export table", "measurements.csv", "CSV (*.csv)"
        )
        if path:
            self.export_csv(path)
