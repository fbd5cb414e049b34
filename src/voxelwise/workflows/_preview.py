"""Small PNG previews of one section with a label overlay, for reports and the demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_COLORS", "overlay_rgb", "save_overlay_png"]

DEFAULT_COLORS: dict[int, tuple[int, int, int]] = {
    1: (230, 25, 75),
    2: (60, 180, 75),
    3: (255, 225, 25),
    4: (0, 130, 200),
    5: (245, 130, 48),
    6: (145, 30, 180),
    7: (70, 240, 240),
    8: (240, 50, 230),
}


def _to_uint8(section: np.ndarray) -> np.ndarray:
    section = section.astype(np.float32)
    finite = section[np.isfinite(section)]
    if finite.size == 0:
        return np.zeros(section.shape, np.uint8)
    lo, hi = np.percentile(finite, [0.5, 99.5])
    scaled = (section - lo) / max(float(hi - lo), 1e-12)
    return (np.clip(np.nan_to_num(scaled), 0, 1) * 255).astype(np.uint8)


def overlay_rgb(
    image: np.ndarray,
    labels: np.ndarray | None,
    *,
    colors: Mapping[int, Sequence[int]] | None = None,
    alpha: float = 0.45,
) -> np.ndarray:
    """A 2D section as an RGB uint8 image with ``labels`` (0 = none) blended in colour.

    Parameters
    ----------
    image : (Y, X) ndarray
        Any dtype; shown with a 0.5-99.5 percentile contrast stretch.
    labels : (Y, X) int ndarray or None
    colors : mapping label value -> RGB(A) 0-255; default a qualitative palette.
    alpha : opacity of the overlay.

    Returns
    -------
    (Y, X, 3) uint8 ndarray
    """
    gray = _to_uint8(np.asarray(image))
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if labels is not None:
        labels = np.asarray(labels)
        palette: dict[int, tuple[int, ...]] = dict(DEFAULT_COLORS)
        if colors:
            palette.update({int(k): tuple(int(c) for c in v[:3]) for k, v in colors.items()})
        for value in np.unique(labels):
            if value == 0:
                continue
            color = palette.get(int(value), DEFAULT_COLORS[1 + int(value) % len(DEFAULT_COLORS)])
            sel = labels == value
            rgb[sel] = (1 - alpha) * rgb[sel] + alpha * np.asarray(color[:3], np.float32)
    return rgb.astype(np.uint8)


def save_overlay_png(
    image: np.ndarray,
    labels: np.ndarray | None,
    path: str | Path,
    *,
    colors: Mapping[int, Sequence[int]] | None = None,
    alpha: float = 0.45,
    side_by_side: bool = True,
) -> Path:
    """Save a 2D ``image`` section as PNG, with ``labels`` (0 = none) blended in colour on top.

    With ``side_by_side`` (default) the plain section is on the left and the overlay on the
    right, so the image is never hidden by the labels. See :func:`overlay_rgb`.
    """
    from PIL import Image

    rgb = overlay_rgb(image, labels, colors=colors, alpha=alpha)
    if side_by_side and labels is not None:
        plain = overlay_rgb(image, None)
        gap = np.full((rgb.shape[0], 4, 3), 255, np.uint8)
        rgb = np.concatenate([plain, gap, rgb], axis=1)
    path = Path(path)
    Image.fromarray(rgb).save(path)
    return path
