"""Tiny line plots written with Pillow (matplotlib is not a dependency)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

__all__ = ["line_plot"]

_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


def line_plot(
    path: str | Path,
    x: Sequence[float],
    series: dict[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "",
    log_x: bool = False,
    size: tuple[int, int] = (640, 420),
) -> Path:
    """Draw ``series`` (name -> y values) against ``x`` with simple axes and a legend; PNG."""
    w, h = size
    left, right, top, bottom = 60, 20, 30, 40
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    xs = [math.log10(v) if log_x else float(v) for v in x]
    ys = [float(v) for s in series.values() for v in s if math.isfinite(float(v))]
    if not xs or not ys:
        img.save(path)
        return Path(path)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(xv: float, yv: float) -> tuple[float, float]:
        return (
            left + (xv - x0) / (x1 - x0) * (w - left - right),
            h - bottom - (yv - y0) / (y1 - y0) * (h - top - bottom),
        )

    draw.line([(left, top), (left, h - bottom), (w - right, h - bottom)], fill="black")
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        _, yp = px(x0, yv)
        draw.text((4, yp - 6), f"{yv:.3g}", fill="black")
        xv = x0 + frac * (x1 - x0)
        xp, _ = px(xv, y0)
        draw.text((xp - 12, h - bottom + 6), f"{10**xv if log_x else xv:.3g}", fill="black")
    draw.text((w // 2 - 40, h - 16), xlabel, fill="black")
    draw.text((left, 8), title, fill="black")
    for i, (name, values) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [px(a, float(b)) for a, b in zip(xs, values) if math.isfinite(float(b))]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((w - right - 120, top + 14 * i), name, fill=colour)
    img.save(path)
    return Path(path)
