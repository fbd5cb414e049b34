"""Helpers of the GUI tests: wait until the widget is idle, click a panel's button by its text."""

from __future__ import annotations


def wait_idle(qtbot, widget, timeout: float = 60) -> None:
    qtbot.waitUntil(lambda: widget.busy == 0, timeout=int(timeout * 1000))


def click(qtbot, panel, text: str) -> None:
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QPushButton

    buttons = [b for b in panel.findChildren(QPushButton) if b.text() == text]
    assert buttons, f"no button {text!r}"
    qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
