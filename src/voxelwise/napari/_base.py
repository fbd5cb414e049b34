"""What every panel of the dock widget shares: the session, a status line, a progress bar, and
running requests and jobs in worker threads so the GUI never freezes."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Generator
from typing import Any

from napari.qt.threading import create_worker
from qtpy.QtWidgets import (
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from voxelwise.napari._display import DisplaySync
from voxelwise.napari._errors import describe_error
from voxelwise.napari._session import Session

__all__ = ["Hub", "Panel", "follow_job"]


def follow_job(submit: Callable[[], Any], poll: float = 0.2) -> Generator[Any, None, Any]:
    """Submit a job and follow it: yields ``(fraction, message)`` and finally returns its result.

    Runs in a worker thread; raises the job's error (JobFailedError, CancelledError) at the end.
    """
    job = submit()
    yield (job.progress, f"{job.kind}: {job.state}", job.id)
    while not job.done:
        time.sleep(poll)
        job.refresh()
        yield (job.progress, f"{job.kind}: {job.message or job.state}", job.id)
    return job.wait(timeout=60)


class _Failure:
    """An error a worker returns instead of raising: superqt drops RuntimeError subclasses raised
    in generator workers (it takes them for a deleted Qt object) without ending the worker."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class Hub:
    """State shared by the panels of one dock widget: the viewer, the session, and the number of
    requests in flight (``busy``; tests wait until it is 0)."""

    def __init__(self, viewer: Any, session: Session) -> None:
        self.viewer = viewer
        self.session = session
        self.busy = 0
        self.workers: list[Any] = []
        self.listeners: list[Callable[[str], None]] = []
        self.display = DisplaySync(self)

    def notify(self, event: str) -> None:
        """Tell every panel that something changed (``"connected"``, ``"workspace"``, ...)."""
        for listener in list(self.listeners):
            listener(event)


class Panel(QWidget):
    """A tab of the dock widget: a form, a status line and a progress bar."""

    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self._layout = QVBoxLayout(self)
        self.form = QFormLayout()
        self._layout.addLayout(self.form)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.cancel = QPushButton("Cancel job")
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(lambda *_: self.guard(self.cancel_job))
        self.job_id: str | None = None
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("status")
        hub.listeners.append(self.on_event)

    def finish_layout(self) -> None:
        self._layout.addWidget(self.progress)
        self._layout.addWidget(self.cancel)
        self._layout.addWidget(self.status)
        self._layout.addStretch(1)

    @property
    def viewer(self) -> Any:
        return self.hub.viewer

    @property
    def session(self) -> Session:
        return self.hub.session

    def on_event(self, event: str) -> None:
        """React to a change announced by another panel (override)."""

    def button(self, text: str, slot: Callable[[], Any]) -> QPushButton:
        b = QPushButton(text)
        b.clicked.connect(lambda *_: self.guard(slot))
        return b

    def say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e05050;" if error else "")

    def guard(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` on the GUI thread; an error becomes a message, never a traceback."""
        try:
            fn()
        except Exception as e:
            self.say(describe_error(e), error=True)

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        yielded: Callable[[Any], None] | None = None,
        what: str = "",
        quiet: bool = False,
    ) -> Any:
        """Run ``fn(*args)`` in a worker thread; ``done(result)`` runs on the GUI thread.

        ``fn`` may be a generator yielding ``(fraction, message, ...)`` (e.g. :func:`follow_job`):
        the progress bar follows it, and ``yielded(value)`` sees every value on the GUI thread.
        An error becomes a message in the status line (and calls ``failed(error)``), never a
        traceback. ``quiet``: leave the status line and progress bar
        alone unless there is an error (background refreshes).
        """
        if inspect.isgeneratorfunction(fn):

            def task(*a: Any) -> Any:
                try:
                    return (yield from fn(*a))
                except Exception as e:  # returned, not raised: see _Failure
                    return _Failure(e)

        else:

            def task(*a: Any) -> Any:
                try:
                    return fn(*a)
                except Exception as e:
                    return _Failure(e)

        worker = create_worker(task, *args, _start_thread=False, _ignore_errors=True)
        self.hub.busy += 1
        self.hub.workers.append(worker)
        if not quiet:
            self.say(what or "working...")
            self.progress.setValue(0)
            self.progress.setVisible(True)

        def on_yield(value: Any) -> None:
            fraction, message = value[0], value[1]
            self.progress.setValue(round(100 * float(fraction)))
            self.say(str(message))
            if len(value) > 2:  # a job: it can be cancelled from here
                self.job_id = str(value[2])
                self.cancel.setVisible(True)
            if yielded is not None:
                self.guard(lambda: yielded(value))

        def on_error(exc: BaseException) -> None:
            self.say(describe_error(exc), error=True)
            if failed is not None:
                self.guard(lambda: failed(exc))

        def on_return(result: Any) -> None:
            if isinstance(result, _Failure):
                on_error(result.error)
                return
            if not quiet:
                self.say(f"{what}: done" if what else "done")
            if done is not None:
                self.guard(lambda: done(result))

        def on_finish() -> None:
            if not quiet:
                self.progress.setVisible(False)
            self.cancel.setVisible(False)
            self.job_id = None
            self.hub.busy -= 1
            if worker in self.hub.workers:
                self.hub.workers.remove(worker)

        if hasattr(worker, "yielded"):
            worker.yielded.connect(on_yield)
        worker.returned.connect(on_return)
        worker.errored.connect(on_error)
        worker.finished.connect(on_finish)
        worker.start()
        return worker

    def cancel_job(self) -> None:
        """Ask the server to cancel the job this panel follows."""
        if self.job_id is None:
            return
        client, job_id = self.session.require(), self.job_id
        self.cancel.setEnabled(False)

        def cancel() -> Any:
            return client.job(job_id).cancel()

        def done(_job: Any) -> None:
            self.cancel.setEnabled(True)

        self.run(cancel, done=done, failed=lambda _e: self.cancel.setEnabled(True), quiet=True)

    def show_layers(self, names: list[str], *, what: str = "", **extra: Any) -> Any:
        """Add (or replace) layers of the open workspace in the viewer, lazily: their metadata
        is fetched in a worker thread, their chunks when napari draws them."""
        session = self.session

        def fetch() -> list[tuple[Any, dict[str, Any], str]]:
            return [session.layer_data(n) for n in names]

        return self.run(fetch, done=lambda tuples: self.add_tuples(tuples, **extra), what=what)

    def add_tuples(self, tuples: list[tuple[Any, dict[str, Any], str]], **extra: Any) -> None:
        """Add the layers; ``extra`` attributes (e.g. visible, opacity, contour) apply where the
        layer has no display setting of that name stored on the server. Display changes the
        user makes to image layers are saved back (see :class:`DisplaySync`)."""
        workspace = self.session.workspace
        for data, kwargs, kind in tuples:
            name = kwargs["name"]
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            add = self.viewer.add_labels if kind == "labels" else self.viewer.add_image
            layer = add(data, **kwargs)
            stored = set(kwargs.get("metadata", {}).get("voxelwise", {}).get("display") or ())
            for key, value in extra.items():
                if key not in stored:
                    setattr(layer, key, value)
            if kind == "image" and workspace is not None:
                self.hub.display.watch(layer, workspace)
