"""Report figures drawn with Pillow: titled panel grids, histograms, learning curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["histogram_png", "learning_curve_png", "panels_png", "stretch_axis"]

_TITLE_H = 18
_GAP = 6
_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def stretch_axis(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Repeat the rows of an (H, W, 3) image ``factor`` times (rounded), so a section across
    thick z slices is shown at its physical aspect ratio."""
    reps = max(1, round(factor))
    return np.repeat(rgb, reps, axis=0) if reps > 1 else rgb


def panels_png(
    path: str | Path,
    rows: Sequence[Sequence[tuple[str, np.ndarray]]],
    *,
    max_width: int = 1400,
    min_panel: int = 192,
) -> Path:
    """Save rows of titled (H, W, 3) uint8 panels as one PNG (each row scaled to fit
    ``max_width``; panels narrower than ``min_panel`` enlarged by whole pixels)."""
    from PIL import Image, ImageDraw

    rendered = []
    smallest = min(p.shape[1] for row in rows for _, p in row)
    zoom = max(1, -(-min_panel // smallest))  # small volumes: enlarge, pixels kept sharp
    if zoom > 1:
        rows = [[(t, np.repeat(np.repeat(p, zoom, 0), zoom, 1)) for t, p in row] for row in rows]
    for row in rows:
        height = max(p.shape[0] for _, p in row)
        width = sum(p.shape[1] for _, p in row) + _GAP * (len(row) - 1)
        canvas = Image.new("RGB", (width, height + _TITLE_H), "white")
        draw = ImageDraw.Draw(canvas)
        x = 0
        for title, panel in row:
            canvas.paste(Image.fromarray(np.ascontiguousarray(panel)), (x, _TITLE_H))
            draw.text((x + 2, 3), title, fill="black")
            x += panel.shape[1] + _GAP
        scale = min(1.0, max_width / width)
        if scale < 1.0:
            canvas = canvas.resize((int(width * scale), int((height + _TITLE_H) * scale)))
        rendered.append(canvas)
    total_w = max(r.width for r in rendered)
    total_h = sum(r.height for r in rendered) + _GAP * (len(rendered) - 1)
    out = Image.new("RGB", (total_w, total_h), "white")
    y = 0
    for r in rendered:
        out.paste(r, (0, y))
        y += r.height + _GAP
    path = Path(path)
    out.save(path)
    return path


def histogram_png(
    path: str | Path,
    groups: Mapping[str, Sequence[float]],
    *,
    bins: int = 20,
    title: str = "",
    xlabel: str = "",
    size: tuple[int, int] = (640, 360),
    log: bool = False,
) -> Path:
    """Stacked histogram of several groups of values (one colour per group, with a legend).

    ``log=True`` spaces the bins geometrically (for skewed positive values such as object
    volumes); it falls back to linear bins when a value is not positive.
    """
    from PIL import Image, ImageDraw

    w, h = size
    left, right, top, bottom = 56, 20, 34, 44
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 8), title, fill="black")
    draw.text((w // 2 - 60, h - 16), xlabel, fill="black")
    values = [float(v) for vs in groups.values() for v in vs if math.isfinite(float(v))]
    if values:
        lo, hi = min(values), max(values)
        log = log and lo > 0 and hi > lo
        hi = hi if hi > lo else lo + 1.0
        edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
        counts = [np.histogram(np.asarray(vs, float), bins=edges)[0] for vs in groups.values()]
        top_count = max(1, int(np.sum(counts, axis=0).max()))
        bar_w = (w - left - right) / bins
        base = np.zeros(bins)
        for k, c in enumerate(counts):
            colour = _COLOURS[k % len(_COLOURS)]
            for i in range(bins):
                if c[i] == 0:
                    continue
                y1 = h - bottom - base[i] / top_count * (h - top - bottom)
                y0 = h - bottom - (base[i] + c[i]) / top_count * (h - top - bottom)
                x0 = left + i * bar_w
                draw.rectangle([x0 + 1, y0, x0 + bar_w - 1, y1], fill=colour)
            base += c
        for frac in (0.0, 0.5, 1.0):
            x = left + frac * (w - left - right)
            tick = lo * (hi / lo) ** frac if log else lo + frac * (hi - lo)
            text = f"{tick:.3g}"
            draw.text((x - 14 - 16 * frac * (len(text) > 4), h - bottom + 6), text, fill="black")
        draw.text((4, top - 6), str(top_count), fill="black")
        draw.text((4, h - bottom - 8), "0", fill="black")
        for k, name in enumerate(groups):
            draw.text((w - right - 140, top + 14 * k), name, fill=_COLOURS[k % len(_COLOURS)])
    draw.line([(left, top), (left, h - bottom), (w - right, h - bottom)], fill="black")
    path = Path(path)
    img.save(path)
    return path


def learning_curve_png(path: str | Path, history: Sequence[Mapping[str, float]]) -> Path:
    """Training and validation loss and validation mean IoU per epoch."""
    from voxelwise.deep._plot import line_plot

    epochs = [h["epoch"] for h in history]
    series: dict[str, Sequence[float]] = {
        k: [h[k] for h in history] for k in ("train_loss", "val_loss", "val_miou")
    }
    return line_plot(path, epochs, series, title="U-Net training", xlabel="epoch")
