"""The Deep tab: train a network on the scribbles with a settings form (the loss and
validation curves drawn live, epoch by epoch), predict the workspace with one network or an
ensemble of registered ones."""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import Any

from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
)

from voxelwise.napari._base import Hub, Panel, follow_job
from voxelwise.napari._plot import CurvePlot

__all__ = ["METRICS_LOG", "DeepPanel", "parse_metrics", "parse_patch"]

METRICS_LOG = "epoch metrics: "
"""Prefix of the log line a deep training job writes after each epoch (the server's
``voxelwise.server._ops_learn.METRICS_LOG``), followed by the epoch's metrics as JSON."""
CURVES = ("train_loss", "val_loss", "val_miou")


def parse_metrics(lines: list[dict[str, Any]]) -> list[dict[str, float]]:
    """The per-epoch metrics in a training job's log lines (``Job.logs()``), in epoch order."""
    rows: dict[int, dict[str, float]] = {}
    for line in lines:
        message = str(line.get("message", ""))
        if not message.startswith(METRICS_LOG):
            continue
        try:
            row = json.loads(message[len(METRICS_LOG) :])
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("epoch"), int | float):
            rows[int(row["epoch"])] = {
                str(k): float(v)
                for k, v in row.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
    return [rows[k] for k in sorted(rows)]


def parse_patch(text: str) -> list[int] | None:
    """``"128,128"`` (2D) or ``"32,64,64"`` (3D) patch size; empty: the library's default."""
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    if not parts:
        return None
    try:
        size = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"Expected a patch size like 128,128 or 32,64,64, got {text!r}") from None
    if len(size) not in (2, 3) or min(size) < 8:
        raise ValueError(f"Expected 2 or 3 sizes of at least 8 voxels, got {text!r}")
    return size


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


class DeepPanel(Panel):
    """Network, patch and training settings; progress by epoch; prediction and confidence."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.annotations = QLineEdit("scribbles")
        self.model = QLineEdit("deep")
        self.arch = QComboBox()
        self.arch.addItems(["unet2d", "unet3d", "hybrid"])
        self.net_width = _spin(2, 256, 16)
        self.net_depth = _spin(1, 6, 3)
        self.patch = QLineEdit("128,128")
        self.epochs = _spin(1, 10000, 30)
        self.steps = _spin(1, 100000, 50)
        self.batch = _spin(1, 1024, 8)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.0, 10000.0)
        self.minutes.setSpecialValueText("no limit")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.output = QLineEdit("deep_prediction")
        for label, widget in (
            ("Annotation layer", self.annotations),
            ("Model name", self.model),
            ("Network", self.arch),
            ("Width (channels)", self.net_width),
            ("Depth (levels)", self.net_depth),
            ("Patch size", self.patch),
            ("Epochs", self.epochs),
            ("Steps per epoch", self.steps),
            ("Batch size", self.batch),
            ("Time limit (minutes)", self.minutes),
            ("Device", self.device),
        ):
            self.form.addRow(label, widget)
        self.form.addRow(self.button("Train network", self.train))
        self.plot = CurvePlot(
            {"train_loss": "#5aa0f0", "val_loss": "#f0a040", "val_miou": "#60d060"},
            unit_scale=("val_miou",),
        )
        self.form.addRow("Training curves", self.plot)
        self.history: list[dict[str, float]] = []
        self.models = QListWidget()
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.models.setMaximumHeight(110)
        self.models.setToolTip(
            "Select one network, or several for an ensemble (their probabilities are "
            "averaged); none selected: the model name above"
        )
        self.top_k = _spin(0, 17, 0)
        self.top_k.setSpecialValueText("all")
        self.top_k.setToolTip("Ensemble: keep the k networks of best validation mIoU")
        self.form.addRow("Registered networks", self.models)
        self.form.addRow(self.button("Refresh networks", self.refresh_models))
        self.form.addRow("Ensemble top-k", self.top_k)
        self.form.addRow("Prediction name", self.output)
        self.form.addRow(self.button("Predict with network", self.predict))
        # a network trained in another workspace (another file, a small ROI of a big volume)
        self.source_ws = QComboBox()
        self.source_ws.setToolTip("Another workspace whose registered networks to apply here")
        self.source_model = QComboBox()
        self.source_ws.currentTextChanged.connect(self._source_changed)
        self.form.addRow("Network from workspace", self.source_ws)
        self.form.addRow("Its network", self.source_model)
        self.form.addRow(self.button("Apply network here", self.apply_other))
        self.finish_layout()

    def config(self) -> dict[str, Any]:
        """The training configuration of the form (see :class:`voxelwise.deep.DeepConfig`)."""
        config: dict[str, Any] = {
            "arch": self.arch.currentText(),
            "network": {"width": int(self.net_width.value()), "depth": int(self.net_depth.value())},
            "epochs": int(self.epochs.value()),
            "steps_per_epoch": int(self.steps.value()),
            "batch_size": int(self.batch.value()),
        }
        patch = parse_patch(self.patch.text())
        if patch is not None:
            config["patch_size"] = patch
        return config

    def train(self) -> None:
        client, ws = self.session.require_workspace()
        options: dict[str, Any] = {
            "annotations": self.annotations.text().strip(),
            "model": self.model.text().strip() or "deep",
            "config": self.config(),
            "device": self.device.currentText(),
            "overwrite": True,
        }
        if self.minutes.value() > 0:
            options["max_minutes"] = float(self.minutes.value())
        epochs = int(self.epochs.value())
        self.set_history([])

        def train_job(poll: float = 0.3) -> Generator[Any, None, Any]:
            job = client.deep_train(ws, **options)
            lines: list[dict[str, Any]] = []
            while True:
                done = job.done
                new = job.logs(after=int(lines[-1]["id"]) if lines else 0)
                lines.extend(new)
                history = parse_metrics(lines)
                epoch = int(history[-1]["epoch"]) if history else 0
                yield job.progress, f"training: epoch {epoch}/{epochs}", job.id, history
                if done:
                    break
                time.sleep(poll)
                job.refresh()
            return job.wait(timeout=60)

        self.run(train_job, done=self._trained, yielded=self._progressed, what="training network")

    def set_history(self, history: list[dict[str, float]]) -> None:
        """Draw the per-epoch training curves (rows with ``train_loss``, ``val_loss``,
        ``val_miou``)."""
        self.history = [dict(h) for h in history]
        self.plot.set_curves({k: [float(h[k]) for h in self.history if k in h] for k in CURVES})

    def _progressed(self, value: Any) -> None:
        if len(value) > 3 and len(value[3]) != len(self.history):
            self.set_history(value[3])

    def _trained(self, result: dict[str, Any]) -> None:
        if result.get("history"):
            self.set_history(list(result["history"]))
        self.refresh_models(quiet=True)
        miou = result.get("best_val_miou")
        score = f", best validation mIoU {miou:.3f}" if isinstance(miou, int | float) else ""
        self.say(
            f"network {result.get('model')}: {result.get('epochs')} epoch(s) in "
            f"{float(result.get('seconds') or 0):.0f} s{score}"
        )

    def selected_models(self) -> list[str]:
        """The networks selected in the list, in list order."""
        items = sorted(self.models.selectedItems(), key=self.models.row)
        return [item.text() for item in items]

    def refresh_models(self, *, quiet: bool = False) -> None:
        """List the workspace's deep networks (training jobs' and imported ones)."""
        client, ws = self.session.require_workspace()

        def fetch() -> list[str]:
            return [str(m["name"]) for m in client.models(ws) if m.get("kind") == "deep"]

        self.run(fetch, done=self._listed, what="listing networks", quiet=quiet)

    def _listed(self, names: list[str]) -> None:
        selected = set(self.selected_models())
        self.models.clear()
        for name in names:
            item = QListWidgetItem(name)
            self.models.addItem(item)
            item.setSelected(name in selected)

    def on_event(self, event: str) -> None:
        if event == "workspace" and self.session.workspace is not None:
            self.models.clear()
            self.refresh_models(quiet=True)
            self.refresh_sources(quiet=True)

    def refresh_sources(self, *, quiet: bool = False) -> None:
        """List the other workspaces the user can see (sources of networks to apply here)."""
        client, ws = self.session.require_workspace()

        def fetch() -> list[str]:
            return [str(w["name"]) for w in client.workspaces() if w["name"] != ws]

        self.run(fetch, done=self._sources, what="listing workspaces", quiet=quiet)

    def _sources(self, names: list[str]) -> None:
        self.source_ws.blockSignals(True)
        self.source_ws.clear()
        self.source_ws.addItems(names)
        self.source_ws.blockSignals(False)
        self._source_changed(self.source_ws.currentText())

    def _source_changed(self, name: str) -> None:
        self.source_model.clear()
        if not name or self.session.client is None:
            return
        client = self.session.client

        def fetch() -> list[str]:
            return [str(m["name"]) for m in client.models(name) if m.get("kind") == "deep"]

        self.run(fetch, done=self.source_model.addItems, what="listing its networks", quiet=True)

    def apply_other(self) -> None:
        """Apply the chosen network of another workspace to this one (a server job)."""
        client, ws = self.session.require_workspace()
        source, model = self.source_ws.currentText(), self.source_model.currentText()
        if not source or not model:
            raise ValueError(
                "Choose a workspace that holds a trained network, then one of its networks "
                "(Refresh: open the workspace again)"
            )
        name = self.output.text().strip() or f"{model}_prediction"
        device = self.device.currentText()

        def submit() -> Any:
            return client.apply_model(
                ws, model, registry=source, name=name, device=device, overwrite=True
            )

        self.run(follow_job, submit, done=self._predicted, what=f"applying {source}/{model}")

    def prediction_options(self) -> dict[str, Any]:
        """``model`` and, for several selected networks, ``ensemble`` (and ``top_k``)."""
        chosen = self.selected_models() or [self.model.text().strip() or "deep"]
        options: dict[str, Any] = {"model": chosen[0]}
        if len(chosen) > 1:
            options["ensemble"] = chosen[1:]
            k = int(self.top_k.value())
            if k > len(chosen):
                raise ValueError(
                    f"Expected an ensemble top-k of at most {len(chosen)} (the networks "
                    f"selected), got {k}; select more networks or lower top-k"
                )
            if k > 0:
                options["top_k"] = k
        return options

    def predict(self) -> None:
        client, ws = self.session.require_workspace()
        options = self.prediction_options()
        name = self.output.text().strip() or "deep_prediction"
        device = self.device.currentText()
        members = [options["model"], *options.get("ensemble", [])]
        what = "the network" if len(members) == 1 else f"an ensemble of {len(members)} networks"

        def submit() -> Any:
            return client.deep_predict(ws, name=name, device=device, overwrite=True, **options)

        self.run(follow_job, submit, done=self._predicted, what=f"predicting with {what}")

    def _predicted(self, result: dict[str, Any]) -> None:
        layers = list(result.get("layers") or [])
        shown = [n for n in layers if not n.startswith(f"{layers[0]}_p_")] if layers else []
        self.session.refresh()
        self.hub.notify("layers")
        self.show_layers(shown, opacity=0.5, what="network prediction and confidence")
