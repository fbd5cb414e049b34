"""Small PNG previews of proposed patches (base64 text, ready for JSON)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

__all__ = ["preview_png"]

_COLOURS = np.array(
    [(0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48)],
    dtype=np.float32,
)


def _plane(block: np.ndarray) -> np.ndarray:
    """A 2D plane of a patch: the patch itself, or the middle plane of a 3D window."""
    return block if block.ndim == 2 else block[block.shape[0] // 2]


def preview_png(
    patch: np.ndarray, prediction: np.ndarray | None = None, *, max_size: int = 128
) -> str:
    """Base64 PNG of a patch (grey, 0.5-99.5 percentile contrast), and beside it the
    predicted classes tinted over the image (class 0 untinted) when ``prediction`` is given."""
    plane = _plane(np.asarray(patch, dtype=np.float32))
    lo, hi = np.percentile(plane, (0.5, 99.5)) if plane.size else (0.0, 1.0)
    grey = np.clip((plane - lo) / max(float(hi - lo), 1e-6), 0, 1) * 255
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    tiles = [rgb]
    if prediction is not None:
        cls = _plane(np.asarray(prediction)).astype(np.int64) % len(_COLOURS)
        tint = _COLOURS[cls]
        mixed = np.where((cls > 0)[..., None], 0.5 * rgb + 0.5 * tint, rgb)
        tiles += [np.full((rgb.shape[0], 2, 3), 255.0), mixed]
    img = Image.fromarray(np.concatenate(tiles, axis=1).astype(np.uint8))
    scale = max_size / max(plane.shape)
    if scale < 1:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.BILINEAR,
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")
