"""Tiny line plots written with Pillow (matplotlib is not a dependency)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["line_plot", "montage"]

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


_PALETTE = np.array(
    [
        (0, 0, 0),
        (230, 25, 75),
        (60, 180, 75),
        (255, 225, 25),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
    ],
    dtype=np.uint8,
)


def _gray(plane: np.ndarray) -> np.ndarray:
    lo, hi = float(plane.min()), float(plane.max())
    g = ((plane - lo) / max(hi - lo, 1e-6) * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


def _colour(classes: np.ndarray) -> np.ndarray:
    """Class indices (-1 = unlabelled, drawn black) as RGB."""
    return _PALETTE[(np.asarray(classes) + 1) % len(_PALETTE)]


def montage(
    path: str | Path,
    rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    title: str = "image | labels | prediction",
) -> Path:
    """A PNG grid: one row per (image, labels, prediction) 2D plane triple.

    Labels and predictions are class indices (labels -1 = unlabelled, drawn black); each class
    has a fixed colour.
    """
    tiles = [np.concatenate([_gray(i), _colour(lab), _colour(p)], axis=1) for i, lab, p in rows]
    width = max(t.shape[1] for t in tiles)
    tiles = [
        np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles
    ]
    grid = np.concatenate([np.full((18, width, 3), 255, np.uint8), *tiles], axis=0)
    img = Image.fromarray(grid)
    ImageDraw.Draw(img).text((4, 3), title, fill="black")
    img.save(path)
    return Path(path)
