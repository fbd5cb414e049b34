"""The Jobs tab: the user's jobs with state and progress, their logs, and cancel."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox, QPlainTextEdit, QTableWidget, QTableWidgetItem

from voxelwise.napari._base import Hub, Panel

__all__ = ["JobsPanel"]

COLUMNS = ("id", "kind", "state", "progress", "message")


class JobsPanel(Panel):
    """Jobs of the open workspace (or all the user's jobs), refreshed on demand or every 2 s."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.form.addRow(self.table)
        self.form.addRow(self.button("Refresh", self.refresh))
        self.form.addRow(self.button("Cancel selected job", self.cancel_selected))
        self.form.addRow(self.button("Show log of selected job", self.show_log))
        self.auto = QCheckBox("refresh every 2 s")
        self.auto.toggled.connect(self._toggle)
        self.form.addRow(self.auto)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.form.addRow(self.log)
        self.jobs: list[Any] = []
        self._timer = QTimer(self)
        self._timer.setInterval(2000)
        self._timer.timeout.connect(self._tick)
        self.finish_layout()

    def _toggle(self, on: bool) -> None:
        if on:
            self._timer.start()
        else:
            self._timer.stop()

    def _tick(self) -> None:
        if self.session.connected:
            self.guard(lambda: self.refresh(quiet=True))

    def on_event(self, event: str) -> None:
        if event in ("connected", "workspace"):
            self.guard(lambda: self.refresh(quiet=True))

    def refresh(self, *, quiet: bool = False) -> None:
        client = self.session.require()
        ws = self.session.workspace
        self.run(
            lambda: client.jobs(workspace=ws, limit=100),
            done=self._show,
            what="listing jobs",
            quiet=quiet,
        )

    def _show(self, jobs: list[Any]) -> None:
        self.jobs = list(jobs)
        self.table.setRowCount(len(jobs))
        for r, job in enumerate(jobs):
            values = (job.id, job.kind, job.state, f"{job.progress:.0%}", job.message)
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(v)))
        self.say(f"{len(jobs)} job(s)")

    def _selected(self) -> Any:
        row = self.table.currentRow()
        if row < 0 or row >= len(self.jobs):
            raise ValueError("Select a job in the table first")
        return self.jobs[row]

    def cancel_selected(self) -> None:
        job = self._selected()

        def cancel() -> Any:
            job.cancel()
            return self.session.require().jobs(workspace=self.session.workspace, limit=100)

        self.run(cancel, done=self._show, what=f"cancelling job {job.id}")

    def show_log(self) -> None:
        job = self._selected()

        def fetch() -> str:
            lines = job.logs()
            text = "\n".join(f"{ln['time']} {ln['level']}: {ln['message']}" for ln in lines)
            error = job.refresh().error
            return text + (f"\nerror: {error}" if error else "")

        self.run(fetch, done=self.log.setPlainText, what=f"log of job {job.id}")
