"""The Compute tab (features, supervoxels) and the Segment tab (shallow train and predict):
each button submits a job, follows its progress in a worker thread and shows the new layers."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from voxelwise.napari._base import Hub, Panel, follow_job
from voxelwise.napari._params_form import ParamsForm, format_spec

__all__ = ["ComputePanel", "SegmentPanel", "parse_features", "parse_params"]

PRESETS = ("small", "default")


def _split_top(text: str) -> list[str]:
    """Split at the commas outside brackets (``"a:s=[1,2], b"`` -> ``["a:s=[1,2]", " b"]``)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_features(text: str) -> str | list[str]:
    """``"small"`` (a preset) or ``"raw, gaussian:sigma=1,truncate=3"`` (layers or filter specs;
    a ``key=value`` after a spec is one more parameter of that spec)."""
    parts: list[str] = []
    for part in (p.strip() for p in _split_top(text)):
        if not part:
            continue
        if parts and ":" in parts[-1] and ":" not in part and "=" in part:
            parts[-1] += "," + part
        else:
            parts.append(part)
    if not parts:
        raise ValueError("Expected a feature preset (small, default) or a list of features")
    return parts[0] if len(parts) == 1 and ":" not in parts[0] else parts


def parse_params(text: str) -> dict[str, Any]:
    """``"temperature=2, n_estimators=50"`` -> ``{"temperature": 2, "n_estimators": 50}``.

    Values that read as JSON numbers, booleans or null become those; the rest stay text.
    """
    import json

    params: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"Classifier parameter {part!r} is not key=value (e.g. n_estimators=50)"
            )
        try:
            params[key.strip()] = json.loads(value.strip())
        except ValueError:
            params[key.strip()] = value.strip()
    return params


class ComputePanel(Panel):
    """Feature layers from a preset or filter specs; supervoxels with a boundary overlay."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.features = QComboBox()
        self.features.setEditable(True)
        self.features.addItems(list(PRESETS))
        self.form.addRow("Features (preset or specs)", self.features)
        self.filter = QComboBox()  # filled from the server's registry (plugins included)
        self.filter_params = ParamsForm(skip=("spacing",))
        self.filter.currentTextChanged.connect(self._show_filter_form)
        self._filter_schemas: dict[str, dict[str, Any]] = {}
        self.form.addRow("Filter", self.filter)
        self.form.addRow(self.filter_params)
        self.form.addRow(self.button("Add filter to features", self.add_filter))
        self.form.addRow(self.button("Compute features", self.compute_features))
        self.sv_size = QSpinBox()
        self.sv_size.setRange(2, 200)
        self.sv_size.setValue(10)
        self.sv_compactness = QDoubleSpinBox()
        self.sv_compactness.setRange(0.0, 1000.0)
        self.sv_compactness.setDecimals(3)
        self.sv_compactness.setSpecialValueText("auto")
        self.form.addRow("Supervoxel size (voxels)", self.sv_size)
        self.form.addRow("Compactness", self.sv_compactness)
        self.form.addRow(self.button("Compute supervoxels", self.compute_supervoxels))
        self.finish_layout()

    def on_event(self, event: str) -> None:
        if event == "connected" and self.session.client is not None:
            client = self.session.client
            self.run(client.list_filters, done=self._set_filters, quiet=True)

    def _set_filters(self, entries: list[dict[str, Any]]) -> None:
        """Offer the server's filters (built-in and plugin ones) with their parameter forms."""
        self._filter_schemas = {str(e["name"]): dict(e.get("schema") or {}) for e in entries}
        current = self.filter.currentText()
        self.filter.clear()
        self.filter.addItems(list(self._filter_schemas))
        for i, e in enumerate(entries):
            self.filter.setItemData(i, str(e.get("summary") or ""), Qt.ItemDataRole.ToolTipRole)
        if current in self._filter_schemas:
            self.filter.setCurrentText(current)
        self._show_filter_form(self.filter.currentText())

    def _show_filter_form(self, name: str) -> None:
        self.filter_params.set_schema(self._filter_schemas.get(name))

    def add_filter(self) -> None:
        """Append the chosen filter and its form's values as a ``name:key=value`` spec to the
        features (a preset there is replaced by ``raw`` and the filter)."""
        name = self.filter.currentText().strip()
        if not name:
            self.say("Connect to a server to list its filters first", error=True)
            return
        spec = format_spec(name, self.filter_params.values())
        text = self.features.currentText().strip()
        if not text or text in PRESETS:
            text = "raw"
        self.features.setCurrentText(f"{text}, {spec}")
        self.say(f"added {spec}")

    def compute_features(self) -> None:
        client, ws = self.session.require_workspace()
        features = parse_features(self.features.currentText())
        self.run(
            follow_job,
            lambda: client.compute_features(ws, features),
            done=self._features_done,
            what="computing features",
        )

    def _features_done(self, result: dict[str, Any]) -> None:
        names = list(result.get("layers") or [])
        self.hub.session.refresh()
        self.hub.notify("layers")
        self.show_layers(names, visible=False, what=f"{len(names)} feature layer(s)")

    def compute_supervoxels(self) -> None:
        client, ws = self.session.require_workspace()
        options: dict[str, Any] = {"size": int(self.sv_size.value())}
        if self.sv_compactness.value() > 0:
            options["compactness"] = float(self.sv_compactness.value())
        self.run(
            follow_job,
            lambda: client.compute_supervoxels(ws, overwrite=True, **options),
            done=self._supervoxels_done,
            what="computing supervoxels",
        )

    def _supervoxels_done(self, result: dict[str, Any]) -> None:
        self.hub.session.refresh()
        self.hub.notify("layers")
        self.show_layers([result["layer"]], contour=1, opacity=0.6, what="supervoxel boundaries")


class SegmentPanel(Panel):
    """Train a shallow classifier on the scribbles and show prediction and confidence."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.annotations = QLineEdit("scribbles")
        self.features = QLineEdit("small")
        self.mode = QComboBox()
        self.mode.addItems(["voxel", "supervoxel"])
        self.classifier = QComboBox()  # filled from the server's registry (plugins included)
        self.classifier.addItems(["rf", "extra_trees", "hgb", "svm", "logistic"])
        self.classifier_params = ParamsForm()  # from the classifier's parameter schema
        self._classifier_schemas: dict[str, dict[str, Any]] = {}
        self.classifier.currentTextChanged.connect(self._show_classifier_form)
        self.params = QLineEdit()
        self.params.setPlaceholderText("key=value, ... (optional; overrides the form)")
        self.model = QLineEdit("shallow")
        self.output = QLineEdit("prediction")
        self.form.addRow("Annotation layer", self.annotations)
        self.form.addRow("Features", self.features)
        self.form.addRow("Mode", self.mode)
        self.form.addRow("Classifier", self.classifier)
        self.form.addRow(self.classifier_params)
        self.form.addRow("Classifier parameters", self.params)
        self.form.addRow("Model name", self.model)
        self.form.addRow("Prediction name", self.output)
        self.form.addRow(self.button("Train", self.train))
        self.form.addRow(self.button("Predict", self.predict))
        self.form.addRow(self.button("Train and predict", self.train_and_predict))
        self.live = QCheckBox("train and predict again after each stroke")
        self.form.addRow(self.live)
        self._training = False
        self._again = False
        self.finish_layout()

    def on_event(self, event: str) -> None:
        if event == "connected" and self.session.client is not None:
            client = self.session.client
            self.run(client.list_classifiers, done=self._set_classifiers, quiet=True)
        if event == "strokes" and self.live.isChecked() and self.session.workspace is not None:
            if self._training:
                self._again = True  # strokes came in meanwhile: go again when this run ends
            else:
                self.guard(self.train_and_predict)

    def _set_classifiers(self, entries: list[dict[str, Any]]) -> None:
        """Offer the server's classifiers (built-in and plugin ones), keeping the choice."""
        names = [str(e["name"]) for e in entries if not e.get("error")]
        if not names:
            return
        self._classifier_schemas = {str(e["name"]): dict(e.get("schema") or {}) for e in entries}
        current = self.classifier.currentText()
        self.classifier.clear()
        self.classifier.addItems(names)
        if current in names:
            self.classifier.setCurrentText(current)
        tips = {str(e["name"]): str(e.get("summary") or "") for e in entries}
        for i, name in enumerate(names):
            self.classifier.setItemData(i, tips.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self._show_classifier_form(self.classifier.currentText())

    def _show_classifier_form(self, name: str) -> None:
        self.classifier_params.set_schema(self._classifier_schemas.get(name))

    def _train_job(self) -> Any:
        client, ws = self.session.require_workspace()
        options: dict[str, Any] = {
            "annotations": self.annotations.text().strip(),
            "features": parse_features(self.features.text()),
            "mode": self.mode.currentText(),
            "classifier": self.classifier.currentText(),
            "model": self.model.text().strip() or "shallow",
        }
        params = {**self.classifier_params.values(), **parse_params(self.params.text())}
        if params:
            options["params"] = params
        return lambda: client.train(ws, **options)

    def _predict_job(self) -> Any:
        client, ws = self.session.require_workspace()
        model = self.model.text().strip() or None
        name = self.output.text().strip() or "prediction"
        return lambda: client.predict(ws, model=model, name=name, overwrite=True)

    def train(self) -> None:
        self.run(follow_job, self._train_job(), done=self._trained, what="training")

    def _trained(self, result: dict[str, Any]) -> None:
        self.say(f"model {result.get('model')} trained ({result.get('mode')} mode)")

    def predict(self) -> None:
        self.run(follow_job, self._predict_job(), done=self._predicted, what="predicting")

    def train_and_predict(self) -> None:
        train, predict = self._train_job(), self._predict_job()

        def both() -> Any:
            result = yield from follow_job(train)
            del result
            return (yield from follow_job(predict))

        self._training = True
        self._again = False

        def finished(*_: Any) -> None:
            self._training = False
            if self._again:
                self.on_event("strokes")

        worker = self.run(both, done=self._predicted, what="training, then predicting")
        worker.finished.connect(finished)

    def _predicted(self, result: dict[str, Any]) -> None:
        labels = str(result["labels"])
        names = [labels] + [n for n in result.get("layers") or [] if "confidence" in n]
        self.hub.session.refresh()
        self.hub.notify("layers")
        self.show_layers(names, opacity=0.5, what="prediction and confidence")
        self.hub.notify("prediction")
