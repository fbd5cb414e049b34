"""The Active-learning tab: create or resume a campaign of the open workspace, propose the k
most informative patches (a server job) into a table ranked by score, jump to each patch in
turn, paint its labels in the campaign's labels layer, mark it labelled (the painted patch is
sent to the server), and update (fine-tune the campaign's model, a server job)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from voxelwise.napari._base import Hub, Panel, follow_job
from voxelwise.napari._navigate import centre_on
from voxelwise.napari._panel_deep import parse_patch
from voxelwise.napari._params_form import ParamsForm

__all__ = ["ActivePanel"]

COLUMNS = ("rank", "patch", "score", "strategy", "start", "stop", "state")
STRATEGIES = (
    "entropy",
    "least_confidence",
    "margin",
    "bald",
    "random",
    "kmeans",
    "coreset",
    "hybrid",
)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


def parse_config(text: str) -> dict[str, Any] | None:
    """Training settings as JSON (``{"network": {"width": 8}, "batch_size": 4}``); empty:
    the library's defaults."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f'Expected the training settings as JSON, like {{"batch_size": 4}}: {e}'
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"Expected the training settings as a JSON object, got {text!r}")
    return value


class ActivePanel(Panel):
    """Campaign settings, proposals table, next patch, mark labelled, update."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.campaign = QComboBox()
        self.campaign.setEditable(True)
        self.campaign.setCurrentText("campaign")
        self.image = QLineEdit("raw")
        self.label_set = QLineEdit()
        self.label_set.setPlaceholderText("label set of the answers (optional)")
        self.classes = _spin(0, 255, 2)
        self.classes.setSpecialValueText("from the label set")
        self.patch = QLineEdit("64,64")
        self.axis = QComboBox()
        self.axis.addItems(["z", "y", "x", "3d"])
        self.strategy = QComboBox()
        self.strategy.addItems(list(STRATEGIES))
        self.strategy.setEditable(True)  # strategies of plugins by name
        self.strategy_params = ParamsForm()  # a plugin strategy's parameters, from its schema
        self._strategy_schemas: dict[str, dict[str, Any]] = {}
        self.strategy.currentTextChanged.connect(self._show_strategy_form)
        self.steps = _spin(1, 1_000_000, 100)
        self.initial_steps = _spin(1, 1_000_000, 300)
        self.config = QLineEdit()
        self.config.setPlaceholderText('training settings as JSON, e.g. {"batch_size": 4}')
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        for label, widget in (
            ("Campaign", self.campaign),
            ("Image layer", self.image),
            ("Label set", self.label_set),
            ("Classes", self.classes),
            ("Patch size", self.patch),
            ("Slice axis", self.axis),
            ("Strategy", self.strategy),
            ("", self.strategy_params),
            ("Steps per update", self.steps),
            ("Steps of the first model", self.initial_steps),
            ("Training settings", self.config),
            ("Device", self.device),
        ):
            self.form.addRow(label, widget)
        self.form.addRow(self.button("Create campaign", self.create_campaign))
        self.form.addRow(self.button("Resume campaign", self.resume))
        self.k = _spin(1, 10_000, 4)
        self.form.addRow("Patches to propose", self.k)
        self.form.addRow(self.button("Propose patches", self.propose))
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellDoubleClicked.connect(lambda row, _c: self.guard(lambda: self.go_to(row)))
        self.form.addRow(self.table)
        self.form.addRow(self.button("Next patch", self.next_patch))
        self.form.addRow(self.button("Mark labelled", self.mark_labelled))
        self.update_steps = _spin(0, 1_000_000, 0)
        self.update_steps.setSpecialValueText("campaign's steps")
        self.form.addRow("Update steps", self.update_steps)
        self.form.addRow(self.button("Update model", self.update_model))
        self.proposals: list[dict[str, Any]] = []
        self.labelled: set[int] = set()
        self.row = -1
        self.status_info: dict[str, Any] = {}
        self.labels_layer: Any = None
        self.finish_layout()

    @property
    def name(self) -> str:
        name = self.campaign.currentText().strip()
        if not name:
            raise ValueError("Name the campaign first (letters, digits, '_', '-', '.')")
        return name

    def on_event(self, event: str) -> None:
        if event == "workspace":
            self.guard(self.refresh_campaigns)
        if event == "connected" and self.session.client is not None:
            self.run(self.session.client.list_plugins, done=self._set_plugins, quiet=True)

    def _set_plugins(self, entries: list[dict[str, Any]]) -> None:
        """Offer the server's plugin strategies after the built-in ones, with their forms."""
        found = {
            str(e["name"]): dict(e.get("schema") or {})
            for e in entries
            if e.get("kind") == "strategy" and not e.get("error")
        }
        for name in found:
            if self.strategy.findText(name) < 0:
                self.strategy.addItem(name)
        self._strategy_schemas = found
        self._show_strategy_form(self.strategy.currentText())

    def _show_strategy_form(self, name: str) -> None:
        self.strategy_params.set_schema(self._strategy_schemas.get(name))

    def refresh_campaigns(self) -> None:
        client, ws = self.session.require_workspace()

        def done(names: list[str]) -> None:
            current = self.campaign.currentText()
            self.campaign.clear()
            self.campaign.addItems(names)
            self.campaign.setCurrentText(current if current in names or not names else names[0])

        self.run(lambda: client.campaigns(ws), done=done, quiet=True)

    # -- campaign -------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The campaign settings of the form (see ``Client.create_campaign``)."""
        patch = parse_patch(self.patch.text())
        axis = self.axis.currentText()
        out: dict[str, Any] = {
            "image": self.image.text().strip() or "raw",
            "axis": axis,
            "strategy": self.strategy.currentText(),
            "strategy_params": self.strategy_params.values() or None,
            "steps": int(self.steps.value()),
            "initial_steps": int(self.initial_steps.value()),
            "device": self.device.currentText(),
        }
        if patch is not None:
            if (axis == "3d") != (len(patch) == 3):
                raise ValueError(
                    f"Expected a 3-number patch size (z, y, x) with axis 3d and a 2-number one "
                    f"with a slice axis, got {self.patch.text()!r} with axis {axis}"
                )
            out["patch_size"] = patch
        if self.label_set.text().strip():
            out["label_set"] = self.label_set.text().strip()
        if self.classes.value() > 0:
            out["classes"] = int(self.classes.value())
        config = parse_config(self.config.text())
        if config is not None:
            out["config"] = config
        return out

    def create_campaign(self) -> None:
        client, ws = self.session.require_workspace()
        name, settings = self.name, self.settings()

        def send() -> dict[str, Any]:
            return dict(client.create_campaign(ws, name, **settings))

        self.run(send, done=self._opened, what=f"creating campaign {name}")

    def resume(self) -> None:
        client, ws = self.session.require_workspace()
        name = self.name
        self.run(lambda: dict(client.campaign(ws, name)), done=self._opened, what=f"opening {name}")

    def _opened(self, status: dict[str, Any]) -> None:
        self.status_info = status
        pending = [dict(p) for p in status.get("pending") or []]
        self.labelled = set()
        self.show_proposals(pending)
        summary = (
            f"campaign {status['name']}: round {status.get('round')}, {status.get('labelled')} "
            f"of {status.get('candidates')} patches labelled, {len(pending)} pending; paint in "
            f"layer {status['labels']}"
        )
        self.open_labels(str(status["labels"]), summary=summary)

    def open_labels(self, layer: str, *, summary: str = "") -> None:
        """Load the campaign's labels layer for painting (values: class c as c + 1)."""
        session = self.session

        def load() -> tuple[np.ndarray, tuple[Any, dict[str, Any], str]]:
            session.refresh()
            data = session.fetch_labels(layer)
            return data, session.layer_data(layer)

        def done(result: tuple[np.ndarray, tuple[Any, dict[str, Any], str]]) -> None:
            data, (_lazy, kwargs, _kind) = result
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
            kwargs.pop("multiscale", None)
            self.labels_layer = self.viewer.add_labels(data, **kwargs)
            self.labels_layer.mode = "paint"
            self.labels_layer.selected_label = 1
            self.hub.notify("layers")
            if summary:
                self.say(summary)

        self.run(load, done=done, what=f"loading labels layer {layer}")

    # -- proposals ------------------------------------------------------------------------------

    def propose(self) -> None:
        client, ws = self.session.require_workspace()
        name, k = self.name, int(self.k.value())
        strategy = self.strategy.currentText()
        params = self.strategy_params.values() or None

        def submit() -> Any:
            return client.propose_job(ws, name, k, strategy=strategy, strategy_params=params)

        self.run(follow_job, submit, done=self._proposed, what=f"proposing {k} patches")

    def _proposed(self, answer: dict[str, Any]) -> None:
        proposals = [dict(p) for p in answer.get("proposals") or []]
        self.show_proposals(proposals)
        note = f"; {answer['note']}" if answer.get("note") else ""
        stop = f"; stop: {answer['stop_reason']}" if answer.get("stop") else ""
        self.say(f"{len(proposals)} patch(es) proposed{note}{stop}")

    def show_proposals(self, proposals: list[dict[str, Any]]) -> None:
        """Fill the table, best score first, and start before the first patch."""
        self.proposals = sorted(
            proposals, key=lambda p: (-(p.get("score") or 0.0), p.get("rank", 0))
        )
        self.row = -1
        self._fill()

    def _fill(self) -> None:
        self.table.clearContents()
        self.table.setRowCount(len(self.proposals))
        for r, p in enumerate(self.proposals):
            score = p.get("score")
            values = (
                p.get("rank"),
                p["index"],
                "" if score is None else f"{float(score):.4f}",
                p.get("strategy", ""),
                ",".join(str(v) for v in p["start"]),
                ",".join(str(v) for v in p["stop"]),
                "labelled" if int(p["index"]) in self.labelled else "pending",
            )
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem("" if v is None else str(v)))

    def go_to(self, row: int) -> tuple[float, float, float]:
        """Centre the view on the patch of table row ``row`` and show its first slice."""
        if not 0 <= row < len(self.proposals):
            raise ValueError("Propose patches first, then choose one in the table")
        self.row = row
        self.table.selectRow(row)
        p = self.proposals[row]
        start, stop = np.asarray(p["start"], float), np.asarray(p["stop"], float)
        centre = (start + stop - 1) / 2
        axis = p.get("axis")
        if axis in ("z", "y", "x"):  # a 2D patch: show its plane
            a = "zyx".index(axis)
            centre[a] = start[a]
            if self.viewer.dims.ndim >= 3:
                order = [i for i in range(3) if i != a]
                self.viewer.dims.order = (a, *order)
        world = centre_on(self.viewer, centre.tolist())
        self.say(
            f"patch {p['index']} (rank {p.get('rank')}, score {p.get('score')}): paint it, then "
            "Mark labelled"
        )
        return world

    def next_patch(self) -> tuple[float, float, float]:
        """Jump to the next patch of the table not labelled yet."""
        if not self.proposals:
            raise ValueError("Propose patches first")
        n = len(self.proposals)
        for step in range(1, n + 1):
            row = (self.row + step) % n
            if int(self.proposals[row]["index"]) not in self.labelled:
                return self.go_to(row)
        raise ValueError("Every proposed patch is labelled: update the model or propose again")

    def _current(self) -> dict[str, Any]:
        if not 0 <= self.row < len(self.proposals):
            raise ValueError("Go to a patch first (Next patch, or double-click a row)")
        return self.proposals[self.row]

    def mark_labelled(self) -> None:
        """Send the labels painted in the current patch's box to the campaign."""
        client, ws = self.session.require_workspace()
        p = self._current()
        if self.labels_layer is None or self.labels_layer not in self.viewer.layers:
            raise ValueError("Open the campaign (Create or Resume) to paint in its labels layer")
        box = tuple(slice(int(a), int(b)) for a, b in zip(p["start"], p["stop"], strict=True))
        values = np.asarray(self.labels_layer.data[box])
        if not values.any():
            raise ValueError(
                f"Patch {p['index']} has no painted label yet; paint it in layer "
                f"{self.labels_layer.name} (class c as value c + 1) first"
            )
        name, index = self.name, int(p["index"])

        def send() -> dict[str, Any]:
            return dict(client.submit_labels(ws, name, values.astype(np.int64), patch=index))

        def done(record: dict[str, Any]) -> None:
            self.labelled.update(int(i) for i in record.get("answered") or [])
            self.labelled.add(index)
            self._fill()
            self.say(
                f"patch {index}: {record.get('written')} voxels recorded, "
                f"{record.get('labelled')} patch(es) labelled"
            )

        self.run(send, done=done, what=f"submitting patch {index}")

    # -- training -------------------------------------------------------------------------------

    def update_model(self) -> None:
        client, ws = self.session.require_workspace()
        name = self.name
        steps = int(self.update_steps.value()) or None

        def submit() -> Any:
            return client.update_campaign(ws, name, steps=steps)

        self.run(follow_job, submit, done=self._updated, what=f"updating {name}")

    def _updated(self, result: dict[str, Any]) -> None:
        record = result.get("round") or {}
        metrics = record.get("metrics") or {}
        shown = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in metrics.items()
            if isinstance(v, int | float)
        )
        stop = f"; stop: {result['stop_reason']}" if result.get("stop") else ""
        self.status_info = {**self.status_info, "round": record.get("round")}
        self.say(f"round {record.get('round')} trained ({shown}){stop}")
