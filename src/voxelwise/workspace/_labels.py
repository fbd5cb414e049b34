"""Label sets: named labels with a voxel value, a colour and an optional parent (hierarchy)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.workspace._catalog import Catalog, label_from_row
from voxelwise.workspace._errors import LabelError, LabelNotFoundError
from voxelwise.workspace._records import (
    LabelInfo,
    default_color,
    parse_color,
    parse_name,
    to_json,
    utc_now,
)
from voxelwise.workspace._store import sync_ngff

__all__ = ["LabelsMixin"]

_KEEP: Any = object()
_INT64 = np.iinfo(np.int64)


def _labels_of(conn: sqlite3.Connection, set_name: str) -> dict[str, sqlite3.Row]:
    rows = conn.execute(
        "SELECT * FROM labels WHERE label_set = ? ORDER BY value", (set_name,)
    ).fetchall()
    return {r["name"]: r for r in rows}


def _require(labels: dict[str, sqlite3.Row], set_name: str, name: str, *, role: str = "") -> None:
    if name in labels:
        return
    if not labels:
        raise LabelNotFoundError(
            f"No label set named {set_name!r}; create it by adding its first label with "
            f"ws.add_label({set_name!r}, 'name')"
        )
    raise LabelNotFoundError(
        f"No label {name!r} in label set {set_name!r}{role}; its labels are: "
        f"{', '.join(labels)}. Add it first with ws.add_label({set_name!r}, {name!r})"
    )


def _parse_value(value: Any) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise TypeError(f"Expected the label value as a whole number, got {value!r} instead")
    if not 1 <= int(value) <= _INT64.max:
        raise LabelError(f"Expected a label value >= 1 (0 means unlabelled), got {value!r} instead")
    return int(value)


class LabelsMixin:
    """Label-set CRUD for :class:`~voxelwise.workspace.Workspace` (stored in the catalog)."""

    _catalog: Catalog
    _root: Path

    def add_label(
        self,
        set_name: str,
        label_name: str,
        *,
        value: int | None = None,
        color: Any = None,
        parent: str | None = None,
    ) -> LabelInfo:
        """Add a label to a label set (the set is created with its first label).

        Parameters
        ----------
        set_name, label_name : str
            Letters, digits, ``-``, ``_`` and ``.``.
        value : int, optional
            Voxel value of the label in label layers (>= 1; 0 means unlabelled). Default: one
            more than the largest value in the set.
        color : str or sequence, optional
            ``"#rrggbb[aa]"``, ints 0-255 or floats 0-1 (RGB or RGBA). Default: a distinct colour
            derived from the value.
        parent : str, optional
            Name of an existing label of the same set, for label hierarchies.

        Raises
        ------
        LabelError
            The name or the value is taken.
        LabelNotFoundError
            ``parent`` is not a label of the set.
        """
        set_name = parse_name(set_name, what="label set")
        label_name = parse_name(label_name, what="label")
        rgba = None if color is None else parse_color(color)
        with self._catalog.write() as conn:
            labels = _labels_of(conn, set_name)
            if label_name in labels:
                raise LabelError(
                    f"Label {label_name!r} exists already in set {set_name!r} (value "
                    f"{labels[label_name]['value']}); use ws.update_label to change it"
                )
            free = max((int(r["value"]) for r in labels.values()), default=0) + 1
            v = free if value is None else _parse_value(value)
            taken = [n for n, r in labels.items() if int(r["value"]) == v]
            if taken:
                raise LabelError(
                    f"Value {v} is used by label {taken[0]!r} in set {set_name!r}; choose "
                    f"another value or leave value=None for the next free one ({free})"
                )
            if parent is not None:
                _require(labels, set_name, parent, role=" to use as parent")
            conn.execute(
                "INSERT INTO labels (label_set, name, value, color, parent, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    set_name,
                    label_name,
                    v,
                    to_json(list(rgba or default_color(v))),
                    parent,
                    utc_now().isoformat(),
                ),
            )
            info = label_from_row(_labels_of(conn, set_name)[label_name])
        sync_ngff(self._root, self._catalog)
        return info

    def update_label(
        self,
        set_name: str,
        label_name: str,
        *,
        name: str | None = None,
        color: Any = None,
        parent: Any = _KEEP,
    ) -> LabelInfo:
        """Rename a label, change its colour, or move it under another parent (``parent=None``
        makes it a root). Its value never changes, since label layers store values."""
        with self._catalog.write() as conn:
            labels = _labels_of(conn, set_name)
            _require(labels, set_name, label_name)
            row = labels[label_name]
            new_name = label_name if name is None else parse_name(name, what="label")
            if new_name != label_name and new_name in labels:
                raise LabelError(f"Label {new_name!r} exists already in set {set_name!r}")
            new_parent = row["parent"] if parent is _KEEP else parent
            if new_parent is not None:
                _require(labels, set_name, new_parent, role=" to use as parent")
                ancestor: str | None = new_parent
                while ancestor is not None:
                    if ancestor == label_name:
                        raise LabelError(
                            f"Cannot make {new_parent!r} the parent of {label_name!r}: "
                            f"{new_parent!r} is {label_name!r} itself or one of its descendants"
                        )
                    ancestor = labels[ancestor]["parent"]
            rgba = row["color"] if color is None else to_json(list(parse_color(color)))
            conn.execute(
                "UPDATE labels SET name = ?, color = ?, parent = ? "
                "WHERE label_set = ? AND name = ?",
                (new_name, rgba, new_parent, set_name, label_name),
            )
            info = label_from_row(_labels_of(conn, set_name)[new_name])
        sync_ngff(self._root, self._catalog)
        return info

    def delete_label(self, set_name: str, label_name: str) -> None:
        """Remove a label from its set (refused while other labels have it as parent)."""
        with self._catalog.write() as conn:
            labels = _labels_of(conn, set_name)
            _require(labels, set_name, label_name)
            children = [n for n, r in labels.items() if r["parent"] == label_name]
            if children:
                raise LabelError(
                    f"Label {label_name!r} is the parent of {', '.join(children)}; delete them "
                    "or give them another parent (ws.update_label(..., parent=...)) first"
                )
            conn.execute(
                "DELETE FROM labels WHERE label_set = ? AND name = ?", (set_name, label_name)
            )
        sync_ngff(self._root, self._catalog)

    def label_sets(self) -> dict[str, list[LabelInfo]]:
        """All label sets: set name -> its labels, ordered by value."""
        with self._catalog.read() as conn:
            rows = conn.execute("SELECT * FROM labels ORDER BY label_set, value").fetchall()
        out: dict[str, list[LabelInfo]] = {}
        for r in rows:
            out.setdefault(r["label_set"], []).append(label_from_row(r))
        return out

    def label_set(self, set_name: str) -> list[LabelInfo]:
        """The labels of one set, ordered by value."""
        with self._catalog.read() as conn:
            labels = _labels_of(conn, set_name)
        if not labels:
            _require(labels, set_name, "")
        return [label_from_row(r) for r in labels.values()]
