"""A small line plot drawn with QPainter (no plotting library needed): the loss and validation
curves of a training job, one point per epoch."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QWidget

__all__ = ["CurvePlot"]

_MARGIN = 6
_LEGEND = 16


class CurvePlot(QWidget):
    """Curves against the epoch: each curve scaled to its own group's range (the losses share
    one axis from 0 to their maximum; ``unit_scale`` curves, e.g. mIoU, run from 0 to 1).

    Parameters
    ----------
    colors : dict
        Curve name -> colour (``"#rrggbb"``), in legend order.
    unit_scale : sequence of str
        Curves drawn on a fixed 0-1 axis.
    """

    def __init__(
        self,
        colors: dict[str, str],
        *,
        unit_scale: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.colors = dict(colors)
        self.unit_scale = set(unit_scale)
        self.curves: dict[str, list[float]] = {name: [] for name in colors}
        self.setMinimumHeight(140)

    def set_curves(self, curves: dict[str, Sequence[float]]) -> None:
        """Replace the curves (name -> one value per epoch) and redraw."""
        self.curves = {name: [float(v) for v in curves.get(name, [])] for name in self.colors}
        self.update()

    def points(self) -> int:
        """Epochs drawn (the length of the longest curve)."""
        return max((len(v) for v in self.curves.values()), default=0)

    def pixel(self, name: str, index: int) -> tuple[float, float]:
        """Widget coordinates of point ``index`` of curve ``name``."""
        values = self.curves[name]
        n = self.points()
        left, top = _MARGIN, _MARGIN + _LEGEND
        width = max(self.width() - 2 * _MARGIN, 1)
        height = max(self.height() - top - _MARGIN, 1)
        x = left + (width * index / (n - 1) if n > 1 else width / 2)
        if name in self.unit_scale:
            low, high = 0.0, 1.0
        else:
            finite = [v for k, vs in self.curves.items() if k not in self.unit_scale for v in vs]
            finite = [v for v in finite if np.isfinite(v)]
            low, high = 0.0, max(finite, default=1.0)
            if high <= low:
                high = low + 1.0
        share = (values[index] - low) / (high - low) if np.isfinite(values[index]) else 0.0
        return x, top + height * (1.0 - min(max(share, 0.0), 1.0))

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(38, 41, 48))
        x = _MARGIN
        for name, color in self.colors.items():
            painter.setPen(QPen(QColor(color), 2))
            painter.drawText(x, _MARGIN + 10, name)
            x += painter.fontMetrics().horizontalAdvance(name) + 12
        if self.points() == 0:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no epochs yet")
        for name, color in self.colors.items():
            values = self.curves[name]
            painter.setPen(QPen(QColor(color), 2))
            points = [QPointF(*self.pixel(name, i)) for i in range(len(values))]
            for a, b in itertools.pairwise(points):
                painter.drawLine(a, b)
            for p in points:
                painter.drawEllipse(p, 2.5, 2.5)
        painter.end()
