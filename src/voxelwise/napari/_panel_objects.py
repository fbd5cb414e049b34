"""The Objects tab (as SVETLANA): split a class layer into objects or take an instance layer,
show unlabelled objects one after another in a seeded random order (or the ids picked) with the
view centred on each, give each a class with one click, train a classifier (CNN or random
forest, a server job), classify every object, and show the class layer and a table of class and
confidence."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from voxelwise.napari._base import Hub, Panel, follow_job
from voxelwise.napari._navigate import centre_on
from voxelwise.napari._session import LABEL_KINDS

__all__ = ["ObjectsPanel", "parse_classes", "parse_ids"]

PREDICTION_COLUMNS = ("id", "class_name", "confidence")


def parse_ids(text: str, what: str = "object ids") -> list[int]:
    """``"12, 40 7"`` -> ``[12, 40, 7]`` (object ids or class values, in the order given)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"Expected {what} as whole numbers, like 12, 40; got {text!r}") from None
    if any(i < 1 for i in ids):
        raise ValueError(f"Expected {what} >= 1 (0 is background), got {text!r}")
    return ids


def parse_classes(text: str) -> list[str]:
    """``"mito, synapse"`` -> ``["mito", "synapse"]`` (letters, digits, ``_``, ``-``, ``.``)."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [n for n in names if not all(ch.isalnum() or ch in "_-." for ch in n)]
    if bad:
        raise ValueError(
            f"Expected class names of letters, digits, '_', '-' or '.', got {bad!r}; "
            "separate classes with commas"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Class names repeat in {text!r}; give each class once")
    return names


def _layer_box(text: str) -> QComboBox:
    box = QComboBox()
    box.setEditable(True)
    box.setCurrentText(text)
    return box


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


class ObjectsPanel(Panel):
    """Label objects one at a time by class buttons, train, predict, class layer and table."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.source = _layer_box("prediction")
        self.values = QLineEdit()
        self.values.setPlaceholderText("class values, e.g. 2, 3 (empty: all foreground)")
        self.min_size = _spin(0, 1 << 30, 0)
        self.form.addRow("Class layer (semantic)", self.source)
        self.form.addRow("Values to split", self.values)
        self.form.addRow("Minimum size (voxels)", self.min_size)
        self.form.addRow(self.button("Find objects", self.find_objects))
        self.layer = _layer_box("prediction_objects")
        self.form.addRow("Objects layer (instances)", self.layer)
        self.form.addRow(self.button("Show objects layer", self.show_objects))
        # labelling
        self.seed = _spin(0, 2**31 - 1, 0)
        self.ids = QLineEdit()
        self.ids.setPlaceholderText("ids to label, e.g. 12, 40 (empty: random unlabelled)")
        self.ids.textChanged.connect(self._forget_queue)
        self.classes = QLineEdit("class_a, class_b")
        self.classes.editingFinished.connect(lambda: self.guard(self.build_class_buttons))
        self.form.addRow("Random order seed", self.seed)
        self.form.addRow("Pick ids", self.ids)
        self.form.addRow("Classes", self.classes)
        self.class_row = QWidget()
        self.class_layout = QHBoxLayout(self.class_row)
        self.class_layout.setContentsMargins(0, 0, 0, 0)
        self.class_buttons: dict[str, QPushButton] = {}
        self.form.addRow(self.class_row)
        self.form.addRow(self.button("Next object", self.next_object))
        self.form.addRow(self.button("Skip object", self.skip))
        self.current = QLineEdit()
        self.current.setReadOnly(True)
        self.form.addRow("Current object", self.current)
        # training and prediction
        self.model = QLineEdit("objects")
        self.method = QComboBox()
        self.method.addItems(["forest", "cnn"])
        self.epochs = _spin(1, 10_000, 60)
        self.device = QComboBox()
        self.device.addItems(["cpu", "auto", "cuda"])
        self.output = QLineEdit()
        self.output.setPlaceholderText("<objects layer>_classes")
        for label, widget in (
            ("Model name", self.model),
            ("Method", self.method),
            ("CNN epochs", self.epochs),
            ("Device", self.device),
            ("Class layer name", self.output),
        ):
            self.form.addRow(label, widget)
        self.form.addRow(self.button("Train classifier", self.train))
        self.form.addRow(self.button("Predict classes", self.predict))
        self.table = QTableWidget(0, len(PREDICTION_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(PREDICTION_COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.form.addRow(self.table)
        self.object: dict[str, Any] | None = None
        self.queue: list[int] | None = None
        self.labelled: dict[int, str] = {}
        self.predictions: dict[str, list[Any]] = {}
        self.build_class_buttons()
        self.finish_layout()

    @property
    def layer_name(self) -> str:
        name = self.layer.currentText().strip()
        if not name:
            raise ValueError("Name the objects layer (an instance layer of the workspace) first")
        return name

    def on_event(self, event: str) -> None:
        if event in ("workspace", "layers"):
            self.guard(self.list_layers)

    def list_layers(self) -> None:
        """Offer the label layers of the open workspace in the two layer boxes."""
        layers = self.session.summary.get("layers") or {}
        names = [
            str(n)
            for n, d in layers.items()
            if isinstance(d, dict) and d.get("kind") in LABEL_KINDS
        ]
        for box in (self.source, self.layer):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentText(current)
            box.blockSignals(False)

    def _forget_queue(self, *_: Any) -> None:
        self.queue = None

    # -- objects --------------------------------------------------------------------------------

    def find_objects(self) -> None:
        client, ws = self.session.require_workspace()
        source = self.source.currentText().strip()
        if not source:
            raise ValueError("Name the class layer whose regions become objects")
        values = parse_ids(self.values.text(), "class values") or None
        min_size = int(self.min_size.value())

        def submit() -> Any:
            return client.find_objects(ws, source, value=values, min_size=min_size, overwrite=True)

        self.run(follow_job, submit, done=self._found, what=f"finding the objects of {source}")

    def _found(self, result: dict[str, Any]) -> None:
        self.layer.setCurrentText(str(result["layer"]))
        self.queue, self.object = None, None
        self.session.refresh()
        self.hub.notify("layers")
        self.show_layers([result["layer"]], opacity=0.5, what=f"{result.get('n_objects')} objects")

    def show_objects(self) -> None:
        self.session.require_workspace()
        self.show_layers([self.layer_name], opacity=0.5, what=f"objects {self.layer_name}")

    # -- labelling ------------------------------------------------------------------------------

    def build_class_buttons(self) -> None:
        """One button per class of the Classes box: click it to give the current object that
        class (and go on to the next object)."""
        names = parse_classes(self.classes.text())
        for button in self.class_buttons.values():
            self.class_layout.removeWidget(button)
            button.deleteLater()
        self.class_buttons = {}
        for name in names:
            button = QPushButton(name)
            button.clicked.connect(lambda *_, n=name: self.guard(lambda: self.assign(n)))
            self.class_layout.addWidget(button)
            self.class_buttons[name] = button

    def next_object(self) -> None:
        """Fetch the next object to label (the next picked id, or the next unlabelled one in
        the seeded random order) and centre the view on it."""
        client, ws = self.session.require_workspace()
        layer, seed = self.layer_name, int(self.seed.value())
        picked = parse_ids(self.ids.text())
        if picked and self.queue is None:
            self.queue = list(picked)
        ids: list[int] | None = None
        if self.queue is not None:
            if not self.queue:
                self.queue = None
                self.ids.clear()
                self.object = None
                self.current.clear()
                self.say("every picked object is labelled; clear the ids for random ones")
                return
            ids = [self.queue[0]]

        def fetch() -> dict[str, Any]:
            return dict(client.next_objects(ws, layer, n=1, seed=seed, ids=ids))

        self.run(fetch, done=self._show_next, what="next object")

    def _show_next(self, answer: dict[str, Any]) -> None:
        objects = list(answer.get("objects") or [])
        if self.queue:
            self.queue.pop(0)
        if not objects:
            self.object = None
            self.current.clear()
            if self.queue:  # a picked id that is labelled already: go on
                self.next_object()
                return
            self.say("no unlabelled object is left; train the classifier")
            return
        obj = objects[0]
        self.object = obj
        centre_on(self.viewer, obj["centroid"])
        layer = self.layer_name
        if layer in self.viewer.layers and hasattr(self.viewer.layers[layer], "selected_label"):
            self.viewer.layers[layer].selected_label = int(obj["id"])
        z, y, x = (float(v) for v in obj["centroid"])
        self.current.setText(str(obj["id"]))
        self.say(
            f"object {obj['id']} ({obj['voxels']} voxels) at z={z:.0f}, y={y:.0f}, x={x:.0f}: "
            "click its class"
        )

    def _current_id(self) -> int:
        if self.object is None:
            raise ValueError("No object shown: click Next object first")
        return int(self.object["id"])

    def assign(self, class_name: str) -> None:
        """Give the current object ``class_name`` and show the next object."""
        client, ws = self.session.require_workspace()
        layer, object_id = self.layer_name, self._current_id()

        def send() -> dict[str, Any]:
            return dict(client.label_objects(ws, layer, {object_id: class_name}))

        def done(counts: dict[str, Any]) -> None:
            self.labelled[object_id] = class_name
            self.say(f"object {object_id}: {class_name} ({counts.get('labelled')} labelled)")
            self.next_object()

        self.run(send, done=done, what=f"labelling object {object_id}")

    def skip(self) -> None:
        """Mark the current object as seen without a class and show the next one."""
        client, ws = self.session.require_workspace()
        layer, object_id = self.layer_name, self._current_id()

        def send() -> dict[str, Any]:
            return dict(client.label_objects(ws, layer, skip=[object_id]))

        self.run(send, done=lambda _c: self.next_object(), what=f"skipping object {object_id}")

    # -- training and prediction ----------------------------------------------------------------

    def train(self) -> None:
        client, ws = self.session.require_workspace()
        layer = self.layer_name
        options: dict[str, Any] = {
            "model": self.model.text().strip() or "objects",
            "method": self.method.currentText(),
            "device": self.device.currentText(),
            "overwrite": True,
        }
        if options["method"] == "cnn":
            options["epochs"] = int(self.epochs.value())

        def submit() -> Any:
            return client.train_objects(ws, layer, **options)

        self.run(follow_job, submit, done=self._trained, what=f"training a {options['method']}")

    def _trained(self, result: dict[str, Any]) -> None:
        training = result.get("training") or {}
        objects = training.get("objects") if isinstance(training, dict) else None
        self.say(f"classifier {result.get('model')} trained on {objects} object(s)")

    def predict(self) -> None:
        client, ws = self.session.require_workspace()
        layer = self.layer_name
        model = self.model.text().strip() or "objects"
        name = self.output.text().strip() or f"{layer}_classes"

        def submit() -> Any:
            return client.predict_objects(ws, layer, model=model, name=name, overwrite=True)

        def predict_and_fetch() -> Any:
            result = yield from follow_job(submit)
            return result, client.object_predictions(ws, layer, name=result["layer"])

        self.run(predict_and_fetch, done=self._predicted, what="classifying the objects")

    def _predicted(self, answer: tuple[dict[str, Any], dict[str, Any]]) -> None:
        result, table = answer
        self.show_predictions(dict(table.get("columns") or {}))
        self.session.refresh()
        self.hub.notify("layers")
        counts = ", ".join(f"{k}: {v}" for k, v in (result.get("counts") or {}).items())
        self.show_layers([result["layer"]], opacity=0.6, what=f"classes ({counts})")

    def show_predictions(self, columns: dict[str, list[Any]]) -> None:
        """The prediction table: id, class name and confidence, one row per object."""
        self.predictions = columns
        rows = len(columns.get("id", []))
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setRowCount(rows)
        for c, key in enumerate(PREDICTION_COLUMNS):
            for r, value in enumerate(columns.get(key, [None] * rows)):
                item = QTableWidgetItem()
                if isinstance(value, int | float) and not isinstance(value, bool):
                    item.setData(Qt.ItemDataRole.DisplayRole, value)
                else:
                    item.setText("" if value is None else str(value))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
