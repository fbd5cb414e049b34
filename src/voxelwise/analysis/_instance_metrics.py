"""Instance segmentation metrics: matched IoU, precision and recall at IoU thresholds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.analysis._counts import cross_counts
from voxelwise.analysis._metrics import _fmt, _inputs

__all__ = ["InstanceReport", "instance_metrics"]


def _parse_thresholds(thresholds: Any) -> tuple[float, ...]:
    items = [thresholds] if np.ndim(thresholds) == 0 else list(thresholds)
    try:
        values = tuple(sorted({float(t) for t in items}))
    except (TypeError, ValueError) as e:
        raise TypeError(f"Expected IoU thresholds as numbers, got {thresholds!r}") from e
    if not values or not all(0.0 < t <= 1.0 for t in values):
        raise ValueError(f"Expected IoU thresholds in (0, 1], got {thresholds!r} instead")
    return values


@dataclass(frozen=True)
class InstanceReport:
    """Matches between true and predicted objects, and scores at each IoU threshold.

    ``truth_ids``, ``pred_ids`` and ``iou`` list the one-to-one matches (every overlapping
    pair, matched greedily by decreasing IoU; above IoU 0.5 a match is unique anyway).
    """

    n_true: int
    n_pred: int
    thresholds: tuple[float, ...]
    truth_ids: np.ndarray
    pred_ids: np.ndarray
    iou: np.ndarray

    def at(self, threshold: float) -> dict[str, float]:
        """Scores where a match counts when its IoU >= ``threshold``.

        ``tp``, ``fp``, ``fn``; ``precision`` = tp / n_pred, ``recall`` = tp / n_true, ``f1``,
        ``accuracy`` = tp / (tp + fp + fn) (the "average precision" of the cell-segmentation
        challenges), and ``mean_matched_iou`` over the true positives.
        """
        hits = self.iou >= threshold
        tp = int(hits.sum())
        fp, fn = self.n_pred - tp, self.n_true - tp

        def ratio(a: float, b: float) -> float:
            return a / b if b else math.nan

        return {
            "threshold": float(threshold),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "accuracy": ratio(tp, tp + fp + fn),
            "mean_matched_iou": float(self.iou[hits].mean()) if tp else math.nan,
        }

    @property
    def mean_true_iou(self) -> float:
        """Mean over true objects of their matched IoU (0 for unmatched ones)."""
        return float(self.iou.sum() / self.n_true) if self.n_true else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_true": self.n_true,
            "n_pred": self.n_pred,
            "mean_true_iou": self.mean_true_iou,
            "thresholds": [self.at(t) for t in self.thresholds],
            "matches": {
                "truth": self.truth_ids.tolist(),
                "pred": self.pred_ids.tolist(),
                "iou": self.iou.tolist(),
            },
        }

    def __str__(self) -> str:
        header = ("IoU >=", "TP", "FP", "FN", "precision", "recall", "F1", "matched IoU")
        rows = [header]
        for t in self.thresholds:
            s = self.at(t)
            rows.append(
                (
                    f"{t:g}",
                    str(s["tp"]),
                    str(s["fp"]),
                    str(s["fn"]),
                    _fmt(s["precision"]),
                    _fmt(s["recall"]),
                    _fmt(s["f1"]),
                    _fmt(s["mean_matched_iou"]),
                )
            )
        widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(
            f"{self.n_true} true, {self.n_pred} predicted objects; "
            f"mean IoU of true objects: {_fmt(self.mean_true_iou)}"
        )
        return "\n".join(lines)


def instance_metrics(
    pred: Any,
    truth: Any,
    *,
    thresholds: Any = (0.5, 0.75),
    ignore_label: Any = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> InstanceReport:
    """Match predicted objects to true objects by IoU; precision and recall at thresholds.

    One pass over the chunks counts every (true id, predicted id) overlap and every object's
    size (memory O(overlapping pairs)); objects are then matched one to one, greedily by
    decreasing IoU.

    Parameters
    ----------
    pred, truth : (Z, Y, X) arrays of int
        Instance labels (0 is background) of the same shape.
    thresholds : float or sequence of float
        IoU thresholds at which matches count (in (0, 1]).
    ignore_label : int or sequence of int, optional
        Voxels whose truth is one of these values are left out (of the truth and of the
        predicted objects' sizes).
    scheduler, progress
        Where to compute and ``progress(done, total)``.

    Returns
    -------
    InstanceReport

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.array([[[1, 1, 1, 1, 0, 2, 2, 0]]])
    >>> pred = np.array([[[5, 5, 5, 0, 0, 0, 0, 9]]])
    >>> r = instance_metrics(pred, truth, thresholds=0.5)
    >>> r.at(0.5)["tp"], r.at(0.5)["fp"], r.at(0.5)["fn"], float(r.iou[0])
    (1, 1, 1, 0.75)
    """
    ths = _parse_thresholds(thresholds)
    p, t = _inputs(pred, truth)
    a, b, n = cross_counts(
        t, p, ignore=ignore_label, skip_zero=True, scheduler=scheduler, progress=progress
    )
    true_ids = np.unique(a[a != 0])
    pred_ids = np.unique(b[b != 0])
    true_size = np.bincount(
        np.searchsorted(true_ids, a[a != 0]), n[a != 0], minlength=true_ids.size
    )
    pred_size = np.bincount(
        np.searchsorted(pred_ids, b[b != 0]), n[b != 0], minlength=pred_ids.size
    )
    both = (a != 0) & (b != 0)
    ta, pb, inter = a[both], b[both], n[both].astype(np.float64)
    ti, pj = np.searchsorted(true_ids, ta), np.searchsorted(pred_ids, pb)
    union = true_size[ti] + pred_size[pj] - inter
    iou = inter / union
    order = np.lexsort((pb, ta, -iou))  # decreasing IoU; ties by ids, deterministic
    used_t = np.zeros(true_ids.size, dtype=bool)
    used_p = np.zeros(pred_ids.size, dtype=bool)
    keep = []
    for k in order:
        if not used_t[ti[k]] and not used_p[pj[k]]:
            used_t[ti[k]] = used_p[pj[k]] = True
            keep.append(k)
    sel = np.asarray(keep, dtype=np.int64)
    return InstanceReport(
        n_true=int(true_ids.size),
        n_pred=int(pred_ids.size),
        thresholds=ths,
        truth_ids=ta[sel],
        pred_ids=pb[sel],
        iou=iou[sel],
    )
