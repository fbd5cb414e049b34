"""Saving display settings back: when the user changes the colormap, opacity, contrast limits,
blending or gamma of a workspace image layer in napari, they are stored in the layer's metadata
on the server (after a short pause, so dragging a slider sends one request), and the next time
the workspace opens the layer looks the same."""

from __future__ import annotations

import re
from typing import Any

from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer

from voxelwise.napari._errors import describe_error

__all__ = ["DISPLAY_EVENTS", "DisplaySync", "display_of"]

DISPLAY_EVENTS = ("colormap", "opacity", "contrast_limits", "blending", "gamma")
DEBOUNCE_MS = 400
_NAMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\- ]{0,63}$")


def display_of(layer: Any) -> dict[str, Any]:
    """The display settings of a napari image layer, as the server stores them (a colormap
    napari made up without a name, e.g. from a colour array, is left out)."""
    out: dict[str, Any] = {
        "opacity": float(layer.opacity),
        "contrast_limits": [float(v) for v in layer.contrast_limits],
        "blending": str(layer.blending),
        "gamma": float(layer.gamma),
    }
    name = str(layer.colormap.name)
    if _NAMED.match(name):
        out["colormap"] = name
    return out


class DisplaySync:
    """Watches the workspace image layers shown in the viewer and stores their display
    settings on the server when the user changes them.

    Parameters
    ----------
    hub : Hub
        The dock widget's shared state (session, busy counter, workers).
    delay_ms : int
        Quiet time after the last change before the settings are sent.
    """

    def __init__(self, hub: Any, *, delay_ms: int = DEBOUNCE_MS) -> None:
        self.hub = hub
        self.delay_ms = delay_ms
        self.saved: dict[tuple[str, str], dict[str, Any]] = {}
        self.error: str | None = None
        self._timers: dict[int, tuple[QTimer, Any]] = {}

    def watch(self, layer: Any, workspace: str) -> None:
        """Store ``layer``'s display settings whenever the user changes them (``layer`` is a
        napari image layer showing a layer of ``workspace``)."""
        meta = (getattr(layer, "metadata", None) or {}).get("voxelwise") or {}
        name = meta.get("layer")
        if not name:
            return
        shown = list(self.hub.viewer.layers)
        for key, (old, old_layer) in list(self._timers.items()):
            if not any(old_layer is lyr for lyr in shown):  # removed from the viewer
                old.stop()
                del self._timers[key]
        timer = QTimer()
        timer.setSingleShot(True)
        timer.setInterval(self.delay_ms)
        timer.timeout.connect(lambda: self._send(layer, workspace, str(name)))
        self._timers[id(layer)] = (timer, layer)
        for event in DISPLAY_EVENTS:
            emitter = getattr(layer.events, event, None)
            if emitter is not None:
                emitter.connect(lambda _e, t=timer: t.start())

    def pending(self) -> int:
        """Changes waiting for their quiet time."""
        return sum(1 for t, _ in self._timers.values() if t.isActive())

    def _send(self, layer: Any, workspace: str, name: str) -> None:
        session = self.hub.session
        if session.workspace != workspace or not session.connected:
            return  # another workspace is open now; its layers are not this one's
        settings = display_of(layer)

        def save() -> dict[str, Any]:
            return session.save_display(workspace, name, settings)

        worker = create_worker(save, _start_thread=False, _ignore_errors=True)
        self.hub.busy += 1
        self.hub.workers.append(worker)

        def done(stored: dict[str, Any]) -> None:
            self.saved[(workspace, name)] = stored
            self.error = None

        def failed(exc: BaseException) -> None:
            self.error = f"display settings of {name!r} not saved: {describe_error(exc)}"
            self.hub.notify("display")

        def finished() -> None:
            self.hub.busy -= 1
            if worker in self.hub.workers:
                self.hub.workers.remove(worker)

        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.finished.connect(finished)
        worker.start()
