"""Sample data of the plugin: the synthetic EM volume of :func:`voxelwise.data.synthetic_em`."""

from __future__ import annotations

from typing import Any

__all__ = ["make_sample_data"]


def make_sample_data() -> list[tuple[Any, dict[str, Any], str]]:
    """A seeded synthetic EM volume (48 x 128 x 128) and its ground-truth classes."""
    from voxelwise.data import synthetic_em

    vol = synthetic_em((48, 128, 128), rng=0)
    return [
        (vol.image, {"name": "synthetic EM"}, "image"),
        (vol.labels.astype("uint8") + 1, {"name": "synthetic EM truth", "opacity": 0.4}, "labels"),
    ]
