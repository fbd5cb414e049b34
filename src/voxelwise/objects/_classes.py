"""Class names, label values and class indices shared by the CNN and the forest."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxelwise.objects._errors import ObjectLabelsError

__all__ = ["class_plan"]


def class_plan(
    y: Sequence[str], class_names: Sequence[str] | None, values: Sequence[int] | None
) -> tuple[list[str], list[int], np.ndarray]:
    """Class names in order, their label values, and each label's class index."""
    names = sorted(set(map(str, y))) if class_names is None else [str(c) for c in class_names]
    unknown = sorted(set(map(str, y)) - set(names))
    if unknown:
        raise ObjectLabelsError(f"Labels {unknown} are not among the classes {names}")
    if len(names) < 2:
        raise ObjectLabelsError(
            f"Expected labelled objects of at least 2 classes, got {names}; label more objects"
        )
    vals = list(range(1, len(names) + 1)) if values is None else [int(v) for v in values]
    if len(vals) != len(names) or len(set(vals)) != len(vals) or min(vals) < 1:
        raise ObjectLabelsError(f"Expected {len(names)} distinct label values >= 1, got {vals}")
    index = {n: i for i, n in enumerate(names)}
    return names, vals, np.array([index[str(c)] for c in y], dtype=np.int64)
