"""The Deep tab: train a network on the scribbles with a settings form, predict the workspace."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from voxelwise.napari._base import Hub, Panel, follow_job

__all__ = ["DeepPanel", "parse_patch"]


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
            ("Prediction name", self.output),
        ):
            self.form.addRow(label, widget)
        self.form.addRow(self.button("Train network", self.train))
        self.form.addRow(self.button("Predict with network", self.predict))
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

        def train_job() -> Any:
            for fraction, _message, job_id in follow_job(lambda: client.deep_train(ws, **options)):
                yield fraction, f"training: epoch {round(fraction * epochs)}/{epochs}", job_id
            return client.job(job_id).wait(timeout=60)

        self.run(train_job, done=self._trained, what="training network")

    def _trained(self, result: dict[str, Any]) -> None:
        miou = result.get("best_val_miou")
        score = f", best validation mIoU {miou:.3f}" if isinstance(miou, int | float) else ""
        self.say(
            f"network {result.get('model')}: {result.get('epochs')} epoch(s) in "
            f"{float(result.get('seconds') or 0):.0f} s{score}"
        )

    def predict(self) -> None:
        client, ws = self.session.require_workspace()
        model = self.model.text().strip() or "deep"
        name = self.output.text().strip() or "deep_prediction"
        device = self.device.currentText()

        def submit() -> Any:
            return client.deep_predict(ws, model=model, name=name, device=device, overwrite=True)

        self.run(follow_job, submit, done=self._predicted, what="predicting with the network")

    def _predicted(self, result: dict[str, Any]) -> None:
        layers = list(result.get("layers") or [])
        shown = [n for n in layers if not n.startswith(f"{layers[0]}_p_")] if layers else []
        self.session.refresh()
        self.hub.notify("layers")
        self.show_layers(shown, opacity=0.5, what="network prediction and confidence")
