"""Which value an edit writes and where it may write it: label lookup, hierarchy, overwrite rules."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxelwise.annotate._errors import AnnotationError
from voxelwise.workspace import (
    LABEL_KINDS,
    InvalidLayerError,
    LabelInfo,
    LabelNotFoundError,
    LayerInfo,
    Workspace,
)

__all__ = ["Target", "check_editable", "resolve_target", "subtree_values"]

EDITABLE = LABEL_KINDS - {"supervoxels"}


def check_editable(info: LayerInfo) -> None:
    """Refuse layers that annotation edits cannot change (images, features, supervoxels)."""
    if info.kind not in EDITABLE:
        raise InvalidLayerError(
            f"Layer {info.name!r} is a {info.kind!r} layer; annotations are painted into layers "
            f"of kind {', '.join(sorted(EDITABLE))}. Create one with "
            f"voxelwise.annotate.create_layer(ws, 'scribbles', label_set=...)"
        )
    if np.dtype(info.dtype).kind not in "iu":
        raise InvalidLayerError(
            f"Layer {info.name!r} has dtype {info.dtype}; annotation layers hold integers"
        )


def _subtree(labels: Sequence[LabelInfo], name: str) -> list[LabelInfo]:
    """``name`` and all its descendants."""
    out = [lab for lab in labels if lab.name == name]
    frontier = {name}
    while frontier:
        children = [lab for lab in labels if lab.parent in frontier]
        out += children
        frontier = {lab.name for lab in children}
    return out


def subtree_values(ws: Workspace, label_set: str, label: str) -> tuple[int, ...]:
    """Values of ``label`` and of all its descendants in ``label_set``, sorted.

    These voxel values make up the label's region: a child may be painted (and predicted)
    only where one of its parent's subtree values is present.

    Examples
    --------
    >>> ws.add_label("cells", "cell"); ws.add_label("cells", "nucleus", parent="cell")  # doctest: +SKIP
    >>> subtree_values(ws, "cells", "cell")  # doctest: +SKIP
    (1, 2)
    """
    labels = ws.label_set(label_set)
    values = tuple(sorted(lab.value for lab in _subtree(labels, label)))
    if not values:
        known = ", ".join(lab.name for lab in labels)
        raise LabelNotFoundError(f"No label {label!r} in set {label_set!r}; its labels: {known}")
    return values


@dataclass(frozen=True)
class Target:
    """The value an edit writes and the rules that decide which voxels it may change.

    ``region`` holds the values forming the parent's region (the parent and its descendants),
    read from ``parent_layer`` or, when that is None, from the edited layer itself.
    """

    value: int
    label: LabelInfo | None
    parent: LabelInfo | None = None
    region: np.ndarray | None = None
    parent_layer: str | None = None
    overwrite: bool = True
    only: np.ndarray | None = None

    @property
    def name(self) -> str | None:
        return None if self.label is None else self.label.name

    def rules(
        self, old: np.ndarray, parent_block: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(inside, allowed)``: voxels inside the parent's region, and voxels this edit may change."""
        inside = np.ones(old.shape, dtype=bool)
        if self.region is not None:
            source = old if parent_block is None else parent_block
            inside = np.isin(source, self.region)
        allowed = inside.copy()
        if not self.overwrite:
            free = old == 0
            if self.parent is not None and self.parent_layer is None:
                free |= old == self.parent.value
            allowed &= free
        if self.only is not None:
            allowed &= np.isin(old, self.only)
        return inside, allowed


def _find(labels: Sequence[LabelInfo], label: Any, info: LayerInfo) -> LabelInfo:
    for lab in labels:
        if (isinstance(label, str) and lab.name == label) or (
            not isinstance(label, str) and lab.value == label
        ):
            return lab
    known = ", ".join(f"{lab.name}={lab.value}" for lab in labels)
    raise LabelNotFoundError(
        f"No label {label!r} in the label set {info.label_set!r} of layer {info.name!r} "
        f"(labels: {known}); add it with ws.add_label({info.label_set!r}, 'name') or "
        f"'voxelwise labels add WS --set {info.label_set} --label NAME'"
    )


def _parse_label(label: Any) -> str | int:
    if isinstance(label, str):
        return label
    if isinstance(label, numbers.Integral) and not isinstance(label, bool):
        if int(label) < 0:
            raise AnnotationError(f"Expected a label value >= 0, got {label!r} instead")
        return int(label)
    raise TypeError(f"Expected the label as a name or a whole-number value, got {label!r} instead")


def resolve_target(
    ws: Workspace,
    info: LayerInfo,
    label: Any,
    *,
    overwrite: bool = True,
    parent_layer: str | None = None,
    only: Any = None,
) -> Target:
    """Look ``label`` up (a name or a value in the layer's label set; 0 erases) and build the
    rules of the edit.

    A layer without a label set takes plain values (>= 1 and within its dtype). A label with a
    parent may change only voxels inside the parent's region, read from ``parent_layer`` (a
    label-like layer holding values of the same label set) or from the edited layer itself.
    """
    check_editable(info)
    label = _parse_label(label)
    limit = int(np.iinfo(np.dtype(info.dtype)).max)
    only_values = None if only is None else np.asarray(sorted(only), dtype=np.int64)
    if label == 0:
        return Target(0, None, overwrite=True, only=only_values)
    if info.label_set is None:
        if isinstance(label, str):
            raise LabelNotFoundError(
                f"Layer {info.name!r} has no label set, so labels are given as values (1 to "
                f"{limit}), not names like {label!r}; or create the layer with "
                "create_layer(ws, name, label_set=...)"
            )
        value, lab, parent = int(label), None, None
        labels: list[LabelInfo] = []
    else:
        labels = ws.label_set(info.label_set)
        lab = _find(labels, label, info)
        value = lab.value
        parent = None if lab.parent is None else _find(labels, lab.parent, info)
    if value > limit:
        raise AnnotationError(
            f"Label {label!r} has value {value}, which does not fit layer {info.name!r} "
            f"(dtype {info.dtype}, at most {limit}); recreate the layer with a wider dtype, e.g. "
            "create_layer(ws, name, label_set=..., dtype='uint32')"
        )
    region = None
    if parent is not None:
        region = np.asarray(sorted(x.value for x in _subtree(labels, parent.name)), np.int64)
        if parent_layer is not None:
            pinfo = ws.layer(parent_layer)
            if pinfo.kind not in LABEL_KINDS or np.dtype(pinfo.dtype).kind not in "iu":
                raise InvalidLayerError(
                    f"parent_layer {parent_layer!r} is a {pinfo.kind!r} layer of {pinfo.dtype}; "
                    "give a label-like layer (annotation, prediction, labels) holding the parent"
                )
            if pinfo.label_set not in (None, info.label_set):
                raise InvalidLayerError(
                    f"parent_layer {parent_layer!r} uses label set {pinfo.label_set!r}, but "
                    f"{info.name!r} uses {info.label_set!r}; the parent's region must be stored "
                    "with the same label set"
                )
    return Target(
        value=value,
        label=lab,
        parent=parent,
        region=region,
        parent_layer=parent_layer if parent is not None else None,
        overwrite=bool(overwrite),
        only=only_values,
    )
