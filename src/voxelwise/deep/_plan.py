"""Data-aware defaults: which slice axes a 2D network trains and predicts on.

A thin stack of sections (20 x 1024 x 1024 ssTEM) has XZ and YZ slices 20 pixels tall, and their
pixels are ten times longer than wide: a 2D network trained on them wastes most of its budget
and votes badly at prediction. An isotropic volume (FIB-SEM) gains from all three axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["axis_weights", "plan_axes"]

_MARGIN = 0.05  # axes scoring more than this below the best one get no vote


def plan_axes(
    shape: Sequence[int], patch_size: Sequence[int], spacing: Sequence[float] | None = None
) -> str:
    """Slice axes (from ``"zyx"``) suited to a 2D network on a volume of ``shape``.

    An axis is kept when its slices are at least half a patch wide in both directions (or half
    the volume's largest extent, for volumes smaller than a patch) and, when ``spacing`` is
    given, their pixels are at most 2x longer than wide. Falls back to ``"z"``.

    >>> plan_axes((20, 1024, 1024), (256, 256), (50.0, 4.6, 4.6))
    'z'
    >>> plan_axes((250, 250, 250), (256, 256), (8.0, 8.0, 8.0))
    'zyx'
    """
    shape = [int(s) for s in shape[:3]]
    need = min(min(int(p) for p in patch_size) // 2, max(shape) // 2)
    keep = ""
    for i, a in enumerate("zyx"):
        plane = [shape[j] for j in range(3) if j != i]
        if min(plane) < max(need, 1):
            continue
        if spacing is not None:
            sp = [float(spacing[j]) for j in range(3) if j != i]
            if min(sp) > 0 and max(sp) / min(sp) > 2.0:
                continue
        keep += a
    return keep or "z"


def axis_weights(axes: str, scores: dict[str, Any] | None) -> dict[str, float] | None:
    """Fusion weights of the chosen ``axes`` from per-axis validation scores (mean IoU).

    Axes scoring more than 0.05 below the best scored axis, and axes without a score, get
    weight 0; the rest are weighted by their score (normalised to sum 1). ``None`` when no
    chosen axis has a score (the caller falls back to unweighted fusion).

    >>> axis_weights("zyx", {"z": 0.8, "y": 0.78, "x": 0.5})
    {'z': 0.5063291139240507, 'y': 0.4936708860759494, 'x': 0.0}
    """
    if not scores:
        return None
    have = {a: float(scores[a]) for a in axes if a in scores}
    if not have:
        return None
    best = max(have.values())
    raw = {a: (have[a] if a in have and have[a] >= best - _MARGIN else 0.0) for a in axes}
    total = sum(raw.values())
    if total <= 0:  # every scored axis at 0: equal votes among them
        return {a: (1.0 / len(have) if a in have else 0.0) for a in axes}
    return {a: w / total for a, w in raw.items()}
