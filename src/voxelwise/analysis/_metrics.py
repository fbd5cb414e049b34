"""Semantic segmentation metrics from a confusion matrix accumulated chunk by chunk."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._arrays import as_labels, match_shape
from voxelwise.analysis._counts import cross_counts

__all__ = ["MetricsReport", "confusion_matrix", "segmentation_metrics"]

_SCORES = ("iou", "dice", "precision", "recall")


def _parse_classes(classes: Any) -> list[int] | None:
    if classes is None:
        return None
    items = [classes] if np.ndim(classes) == 0 else list(classes)
    if not all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in items):
        raise TypeError(f"Expected classes as class values (ints), got {classes!r} instead")
    return sorted({int(c) for c in items})


def _inputs(pred: Any, truth: Any) -> tuple[Any, Any]:
    t = as_labels(truth, what="truth")
    p = match_shape(t, as_labels(pred, what="prediction"), ("truth", "prediction"))
    return p, t


def confusion_matrix(
    pred: Any,
    truth: Any,
    *,
    ignore_label: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The confusion matrix of two class maps, accumulated chunk by chunk.

    Parameters
    ----------
    pred, truth : (Z, Y, X) arrays of int or bool
        Predicted and true class maps of the same shape (NumPy, dask or zarr; lazy inputs are
        read chunk by chunk).
    ignore_label : int or sequence of int, optional
        Voxels whose *truth* is one of these values are left out.
    scheduler, progress
        Where to compute and ``progress(done, total)``.

    Returns
    -------
    values : (n,) ndarray of int64
        Every class value present in either map (after ignoring), sorted.
    matrix : (n, n) ndarray of int64
        ``matrix[i, j]`` voxels have truth ``values[i]`` and prediction ``values[j]``.

    Examples
    --------
    >>> import numpy as np
    >>> values, m = confusion_matrix(np.array([[[0, 1, 1, 1]]]), np.array([[[0, 0, 1, 1]]]))
    >>> values.tolist(), m.tolist()
    ([0, 1], [[1, 1], [0, 2]])
    """
    p, t = _inputs(pred, truth)
    a, b, n = cross_counts(t, p, ignore=ignore_label, scheduler=scheduler, progress=progress)
    values = np.union1d(a, b).astype(np.int64)
    matrix = np.zeros((values.size, values.size), dtype=np.int64)
    np.add.at(matrix, (np.searchsorted(values, a), np.searchsorted(values, b)), n)
    return values, matrix


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


@dataclass(frozen=True)
class MetricsReport:
    """Per-class and mean scores of a segmentation against the truth.

    ``values``/``matrix`` is the full confusion matrix (rows truth, columns prediction); the
    scores are reported for ``classes``. A class absent from both maps has NaN scores, and
    means skip NaN. ``names`` maps class values to display names.
    """

    values: np.ndarray
    matrix: np.ndarray
    classes: tuple[int, ...]
    names: dict[int, str] = field(default_factory=dict)
    ignore_label: tuple[int, ...] = ()

    def _counts(self, value: int) -> tuple[int, int, int]:
        i = int(np.searchsorted(self.values, value))
        if i >= self.values.size or self.values[i] != value:
            return 0, 0, 0
        tp = int(self.matrix[i, i])
        return tp, int(self.matrix[:, i].sum()) - tp, int(self.matrix[i, :].sum()) - tp

    def scores(self, value: int) -> dict[str, float]:
        """IoU, Dice, precision, recall (NaN when undefined), truth and predicted voxels."""
        tp, fp, fn = self._counts(int(value))
        tp_, fp_, fn_ = np.array([tp]), np.array([fp]), np.array([fn])
        return {
            "iou": float(_ratio(tp_, tp_ + fp_ + fn_)[0]),
            "dice": float(_ratio(2 * tp_, 2 * tp_ + fp_ + fn_)[0]),
            "precision": float(_ratio(tp_, tp_ + fp_)[0]),
            "recall": float(_ratio(tp_, tp_ + fn_)[0]),
            "truth_voxels": float(tp + fn),
            "predicted_voxels": float(tp + fp),
        }

    def _per_class(self, metric: str, classes: Sequence[int] | None) -> list[float]:
        chosen = self.classes if classes is None else _parse_classes(classes) or []
        return [self.scores(c)[metric] for c in chosen]

    def _mean(self, metric: str, classes: Sequence[int] | None) -> float:
        vals = [v for v in self._per_class(metric, classes) if not math.isnan(v)]
        return float(np.mean(vals)) if vals else math.nan

    @property
    def iou(self) -> dict[int, float]:
        """IoU (Jaccard) per reported class."""
        return {c: self.scores(c)["iou"] for c in self.classes}

    @property
    def dice(self) -> dict[int, float]:
        """Dice (F1) per reported class."""
        return {c: self.scores(c)["dice"] for c in self.classes}

    @property
    def precision(self) -> dict[int, float]:
        return {c: self.scores(c)["precision"] for c in self.classes}

    @property
    def recall(self) -> dict[int, float]:
        return {c: self.scores(c)["recall"] for c in self.classes}

    def mean_iou(self, classes: Sequence[int] | None = None) -> float:
        """Mean IoU over ``classes`` (default: the reported classes), skipping NaN.

        Guay et al.'s MIoU over all classes is ``mean_iou()`` with every class reported; over
        organelles, ``mean_iou([...organelle values...])``.
        """
        return self._mean("iou", classes)

    def mean_dice(self, classes: Sequence[int] | None = None) -> float:
        """Mean Dice over ``classes`` (default: the reported classes), skipping NaN."""
        return self._mean("dice", classes)

    @property
    def accuracy(self) -> float:
        """Fraction of (non-ignored) voxels whose class is right."""
        total = int(self.matrix.sum())
        return float(np.trace(self.matrix) / total) if total else math.nan

    def name(self, value: int) -> str:
        return self.names.get(int(value), str(int(value)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (NaN where a score is undefined)."""
        return {
            "classes": list(self.classes),
            "names": {str(c): self.name(c) for c in self.classes},
            "per_class": {self.name(c): self.scores(c) for c in self.classes},
            "mean_iou": self.mean_iou(),
            "mean_dice": self.mean_dice(),
            "accuracy": self.accuracy,
            "ignore_label": list(self.ignore_label),
            "confusion": {"values": self.values.tolist(), "matrix": self.matrix.tolist()},
        }

    def __str__(self) -> str:
        header = ("class", "IoU", "Dice", "precision", "recall", "truth voxels", "pred voxels")
        rows = []
        for c in self.classes:
            s = self.scores(c)
            rows.append(
                (
                    self.name(c),
                    *(_fmt(s[k]) for k in _SCORES),
                    str(int(s["truth_voxels"])),
                    str(int(s["predicted_voxels"])),
                )
            )
        rows.append(("mean", _fmt(self.mean_iou()), _fmt(self.mean_dice()), "", "", "", ""))
        widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
        lines = [
            "  ".join(
                h.ljust(w) if j == 0 else h.rjust(w) for j, (h, w) in enumerate(zip(r, widths))
            )
            for r in [header, *rows]
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        lines.append(f"voxel accuracy: {_fmt(self.accuracy)}")
        return "\n".join(lines)


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.4f}"


def segmentation_metrics(
    pred: Any,
    truth: Any,
    *,
    classes: Any = None,
    ignore_label: Any = None,
    names: Mapping[int, str] | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> MetricsReport:
    """Per-class IoU, Dice, precision and recall, their means, and the confusion matrix.

    The confusion matrix is accumulated chunk by chunk (a count of value pairs per chunk), so
    lazy volumes of any size work with memory O(classes^2).

    Parameters
    ----------
    pred, truth : (Z, Y, X) arrays of int or bool
        Class maps of the same shape.
    classes : int or sequence of int, optional
        The classes to report and average over (e.g. only organelles, leaving out the
        background). Voxels of other classes still count as errors for these. Default:
        every class present in either map.
    ignore_label : int or sequence of int, optional
        Voxels whose truth is one of these values are left out (unannotated).
    names : mapping of int to str, optional
        Display names of class values.
    scheduler, progress
        Where to compute and ``progress(done, total)``.

    Returns
    -------
    MetricsReport
        ``str(report)`` is a readable table; ``report.to_dict()`` a JSON-ready dict.

    Raises
    ------
    ShapeMismatchError
        The maps have different shapes (both are named in the message).

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[[0, 0, 1, 1, 2, 2]]])
    >>> pred = np.array([[[0, 1, 1, 1, 2, 0]]])
    >>> r = segmentation_metrics(pred, truth)
    >>> round(r.iou[1], 3), round(r.mean_iou(), 3), round(r.mean_iou([1, 2]), 3)
    (0.667, 0.5, 0.583)
    """
    ignore = tuple(
        int(v) for v in np.atleast_1d(np.asarray([] if ignore_label is None else ignore_label))
    )
    values, matrix = confusion_matrix(
        pred, truth, ignore_label=ignore or None, scheduler=scheduler, progress=progress
    )
    chosen = _parse_classes(classes)
    if chosen is None:
        chosen = [int(v) for v in values if int(v) not in ignore]
    return MetricsReport(
        values=values,
        matrix=matrix,
        classes=tuple(chosen),
        names={int(k): str(v) for k, v in (names or {}).items()},
        ignore_label=ignore,
    )
