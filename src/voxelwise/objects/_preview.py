"""PNG previews of object patches for labelling: the image with the object's outline and id."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from voxelwise.objects._patches import ObjectPatches

__all__ = ["preview_png"]

_OUTLINE = (255, 64, 32)


def _tile(patch: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, 3) uint8: the (middle plane of the) image, contrast-stretched, with the outline."""
    image, mask = patch[0], patch[1] > 0.5
    if image.ndim == 3:  # 3D: the plane where the object is largest
        plane = int(np.argmax(mask.sum(axis=(1, 2))))
        image, mask = image[plane], mask[plane]
    lo, hi = np.percentile(image, (1, 99))
    gray = np.clip((image - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    gray = np.kron(gray, np.ones((scale, scale), np.uint8))
    mask = np.kron(mask, np.ones((scale, scale), bool))
    edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    rgb[edge] = _OUTLINE
    return rgb


def preview_png(
    patches: ObjectPatches,
    path: str | os.PathLike[str],
    *,
    titles: Sequence[str] | None = None,
    columns: int = 5,
    tile: int = 160,
) -> Path:
    """Write a montage of object patches (outline in orange, id or ``titles`` above) as PNG."""
    n = len(patches)
    if n == 0:
        raise ValueError("Expected at least one patch to preview, got none")
    shape = patches.patches.shape[-2:]
    scale = max(1, tile // max(shape))
    h, w = shape[0] * scale, shape[1] * scale
    cols = max(1, min(int(columns), n))
    rows = math.ceil(n / cols)
    canvas = Image.new("RGB", (cols * (w + 4) + 4, rows * (h + 18) + 4), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    labels = list(titles) if titles is not None else [f"id {int(i)}" for i in patches.ids]
    for k in range(n):
        x0 = 4 + (k % cols) * (w + 4)
        y0 = 4 + (k // cols) * (h + 18)
        canvas.paste(Image.fromarray(_tile(patches.patches[k], scale)), (x0, y0 + 14))
        draw.text((x0, y0), labels[k], fill=(230, 230, 230))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(target)
    return target
