"""Learning curves with a spread band per strategy, drawn with Pillow (no matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

__all__ = ["learning_curves"]

COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
]


def _tick_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving 4 to 10 ticks over ``span``."""
    if not span > 0:
        return 0.1
    power = 10.0 ** math.floor(math.log10(span / 4))
    for m in (1, 2, 5, 10):
        if span / (m * power) <= 10:
            return m * power
    return 10 * power


def learning_curves(
    path: str | Path,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float], Sequence[float]]],
    *,
    reference: float | None = None,
    reference_label: str = "full supervision",
    title: str = "",
    xlabel: str = "labelled patches",
    ylabel: str = "IoU",
    size: tuple[int, int] = (760, 480),
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> Path:
    """Draw one line per strategy with a shaded band, and a dashed reference line; PNG.

    ``curves`` maps a name to ``(x, mean, low, high)``: the band spans ``low``..``high``
    (e.g. mean ± standard deviation over seeds), cut to ``clip`` (the range the values can
    take: an IoU's by default; None: no limit). The y axis has round ticks and grid lines.
    """
    w, h = size
    left, right, top, bottom = 64, 190, 34, 48
    img = Image.new("RGB", size, "white")
    xs = [float(v) for c in curves.values() for v in c[0]]
    lo, hi = clip if clip is not None else (-math.inf, math.inf)
    curves = {
        name: (x, mean, [max(v, lo) for v in low], [min(v, hi) for v in high])
        for name, (x, mean, low, high) in curves.items()
    }
    ys = [float(v) for c in curves.values() for part in c[1:] for v in part]
    if reference is not None and math.isfinite(reference):
        ys.append(float(reference))
    ys = [v for v in ys if math.isfinite(v)]
    if not xs or not ys:
        img.save(path)
        return Path(path)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    x1 = x1 if x1 > x0 else x0 + 1
    step = _tick_step(y1 - y0)
    y0, y1 = math.floor(y0 / step) * step, math.ceil(y1 / step) * step
    y1 = y1 if y1 > y0 else y0 + step

    def px(xv: float, yv: float) -> tuple[float, float]:
        return (
            left + (xv - x0) / (x1 - x0) * (w - left - right),
            h - bottom - (yv - y0) / (y1 - y0) * (h - top - bottom),
        )

    overlay = Image.new("RGBA", size, (255, 255, 255, 0))
    shade = ImageDraw.Draw(overlay)
    for i, (_, (x, _mean, low, high)) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = [(a, lo, hi) for a, lo, hi in zip(x, low, high) if math.isfinite(lo + hi)]
        if len(pts) > 1:
            upper = [px(a, hi) for a, _, hi in pts]
            lower = [px(a, lo) for a, lo, _ in reversed(pts)]
            shade.polygon(upper + lower, fill=(*colour, 45))
    img = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
    draw = ImageDraw.Draw(img)
    ticks = [y0 + i * step for i in range(round((y1 - y0) / step) + 1)]
    digits = max(0, -math.floor(math.log10(step) + 1e-9))
    for yv in ticks:
        _, yp = px(x0, yv)
        draw.line([(left, yp), (w - right, yp)], fill=(225, 225, 225))
        draw.line([(left - 4, yp), (left, yp)], fill="black")
        draw.text((6, yp - 6), f"{yv:.{digits}f}", fill="black")
    draw.line([(left, top), (left, h - bottom), (w - right, h - bottom)], fill="black")
    for xv in sorted(set(xs)):
        xp, _ = px(xv, y0)
        draw.line([(xp, h - bottom), (xp, h - bottom + 4)], fill="black")
        draw.text((xp - 8, h - bottom + 8), f"{xv:g}", fill="black")
    draw.text(((w - right) // 2, h - 18), xlabel, fill="black")
    draw.text((6, 12), ylabel, fill="black")
    draw.text((left + 8, 10), title, fill="black")
    legend_x = w - right + 14
    for i, (name, (x, mean, _, _)) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [px(a, b) for a, b in zip(x, mean) if math.isfinite(b)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for p in points:
            draw.ellipse([p[0] - 2.5, p[1] - 2.5, p[0] + 2.5, p[1] + 2.5], fill=colour)
        draw.line(
            [(legend_x, top + 18 * i + 6), (legend_x + 18, top + 18 * i + 6)], fill=colour, width=3
        )
        draw.text((legend_x + 24, top + 18 * i), name, fill=colour)
    if reference is not None and math.isfinite(reference):
        _, yp = px(x0, reference)
        xa = float(left)
        while xa < w - right:
            draw.line([(xa, yp), (min(xa + 8, w - right), yp)], fill="black", width=1)
            xa += 14
        row = top + 18 * len(curves)
        draw.line([(legend_x, row + 6), (legend_x + 18, row + 6)], fill="black")
        draw.text((legend_x + 24, row), reference_label, fill="black")
    img.save(path)
    return Path(path)
