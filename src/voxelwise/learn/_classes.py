"""Which classes a model learns from an annotation layer: label sets, hierarchy, subsets.

Without ``parent``, the classes are the root labels of the layer's label set, and every
annotated descendant counts for its root (a "nucleus" stroke is also a "cell" stroke). With
``parent="cell"``, the classes are the children of "cell", each with its descendants; the
model then predicts only inside the parent's region. A layer without a label set has one
class per value found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelwise.annotate import subtree_values
from voxelwise.learn._errors import LearnError
from voxelwise.workspace import LabelInfo, LabelNotFoundError, default_color

__all__ = ["ClassPlan", "plan_classes"]


@dataclass(frozen=True)
class ClassPlan:
    """The classes of a model and how annotation values map onto them.

    ``sources`` and ``targets`` map annotation values to class values (values absent from
    ``sources`` are ignored); ``parent`` is ``{"name", "value", "region"}`` or None.
    """

    classes: tuple[int, ...]
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int, int], ...]
    sources: np.ndarray
    targets: np.ndarray
    label_set: str | None
    parent: dict[str, Any] | None

    def map_values(self, values: np.ndarray) -> np.ndarray:
        """Class index (0..K-1) of each annotation value, -1 for ignored values."""
        values = np.asarray(values, dtype=np.int64)
        if self.sources.size == 0 or not self.classes:
            return np.full(values.shape, -1, dtype=np.int64)
        order = np.argsort(self.sources)
        keys = self.sources[order]
        classes = np.asarray(self.classes, dtype=np.int64)
        rank = np.argsort(classes)
        pos_c = np.minimum(np.searchsorted(classes[rank], self.targets[order]), classes.size - 1)
        index_of_key = np.where(classes[rank][pos_c] == self.targets[order], rank[pos_c], -1)
        pos = np.minimum(np.searchsorted(keys, values), keys.size - 1)
        return np.where(keys[pos] == values, index_of_key[pos], -1)


def _pick(labels: Sequence[LabelInfo], wanted: Any, label_set: str) -> set[str]:
    items = [wanted] if isinstance(wanted, str | int) else list(wanted)
    names = set()
    for item in items:
        found = [lab for lab in labels if lab.name == item or lab.value == item]
        if not found:
            known = ", ".join(f"{lab.name}={lab.value}" for lab in labels)
            raise LabelNotFoundError(f"No label {item!r} in the label set {label_set!r} ({known})")
        names.add(found[0].name)
    return names


def plan_classes(
    ws: Any,
    label_set: str | None,
    present: np.ndarray,
    *,
    parent: str | None = None,
    labels: Any = None,
) -> ClassPlan:
    """Plan the classes for annotations holding the values ``present``.

    Parameters
    ----------
    label_set : str or None
        The annotation layer's label set.
    present : array of int
        Distinct non-zero values found in the annotations.
    parent : str, optional
        Train the children of this label (hierarchy).
    labels : names or values, optional
        Keep only these classes (roots, or children of ``parent``).
    """
    present = np.unique(np.asarray(present, dtype=np.int64))
    if label_set is None:
        if parent is not None:
            raise LearnError(
                "parent= needs an annotation layer with a label set that defines the hierarchy "
                "(ws.add_label(set, child, parent=...)); this layer has none"
            )
        values = (
            present
            if labels is None
            else np.asarray([labels] if isinstance(labels, int) else list(labels), dtype=np.int64)
        )
        values = np.unique(values)
        return ClassPlan(
            classes=tuple(int(v) for v in values),
            names=tuple(f"label_{int(v)}" for v in values),
            colors=tuple(default_color(int(v)) for v in values),
            sources=values.copy(),
            targets=values.copy(),
            label_set=None,
            parent=None,
        )
    labs = ws.label_set(label_set)
    by_name = {lab.name: lab for lab in labs}
    parent_info = None
    if parent is not None:
        if parent not in by_name:
            raise LabelNotFoundError(
                f"No label {parent!r} in the label set {label_set!r}; its labels are "
                f"{', '.join(by_name)}"
            )
        tops = [lab for lab in labs if lab.parent == parent]
        if not tops:
            raise LearnError(
                f"The label {parent!r} has no children in the label set {label_set!r}; add "
                f"them with ws.add_label({label_set!r}, 'child', parent={parent!r})"
            )
    else:
        tops = [lab for lab in labs if lab.parent is None]
    if labels is not None:
        keep = _pick(labs, labels, label_set)
        tops = [lab for lab in tops if lab.name in keep]
        if len(keep - {lab.name for lab in tops}):
            where = f"children of {parent!r}" if parent else "top-level labels"
            raise LearnError(
                f"labels= may name only {where}: {', '.join(lab.name for lab in tops) or 'none'}"
            )

    def top_of(lab: LabelInfo) -> LabelInfo | None:
        seen = 0
        node: LabelInfo | None = lab
        while node is not None and seen <= len(labs):
            if node.name in {t.name for t in tops}:
                return node
            node = by_name.get(node.parent) if node.parent else None
            seen += 1
        return None

    sources, targets = [], []
    for lab in labs:
        top = top_of(lab)
        if top is not None:
            sources.append(lab.value)
            targets.append(top.value)
    used = sorted({t for s, t in zip(sources, targets) if s in set(present.tolist())})
    if labels is not None:
        used = sorted(t.value for t in tops)
    chosen = [lab for lab in sorted(tops, key=lambda lab: lab.value) if lab.value in used]
    if parent is not None:
        region = list(subtree_values(ws, label_set, parent))
        parent_info = {"name": parent, "value": by_name[parent].value, "region": region}
    return ClassPlan(
        classes=tuple(lab.value for lab in chosen),
        names=tuple(lab.name for lab in chosen),
        colors=tuple(tuple(lab.color) for lab in chosen),
        sources=np.asarray(sources, dtype=np.int64),
        targets=np.asarray(targets, dtype=np.int64),
        label_set=label_set,
        parent=parent_info,
    )
