"""Labelling objects by class in a workspace: stored labels, an unbiased queue, a session.

Labels live in ``<workspace>/objects/<layer>.labels.csv`` (see :mod:`._store`): one row per
object with its class name, or an empty class for an object the user skipped. The queue shows
unlabelled objects in a seeded random order (so the user does not pick the easy or striking
ones: no selection bias), or the ids the user chose, in their order.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from voxelwise._validate import parse_rng
from voxelwise.analysis import Table
from voxelwise.errors import VoxelwiseWarning
from voxelwise.objects._boxes import object_table, select_ids
from voxelwise.objects._errors import ObjectLabelsError, ObjectsError
from voxelwise.objects._store import locked, store_path, write_atomic

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = [
    "LabelSession",
    "check_instances",
    "label_objects",
    "next_objects",
    "object_labels",
    "objects_table",
    "parse_class_name",
    "skip_objects",
    "unlabel_objects",
]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
SKIPPED = ""


def parse_class_name(name: Any) -> str:
    """A class name: 1-128 letters, digits, ``-``, ``_``, ``.`` (it names a label)."""
    if not isinstance(name, str) or not _NAME.match(name) or set(name) == {"."}:
        raise ObjectLabelsError(
            f"Invalid class name {name!r}: use 1-128 letters, digits, '-', '_' or '.' (it "
            "becomes a label name), e.g. 'mitochondria'"
        )
    return name


def check_instances(ws: Workspace, layer: str) -> None:
    """Raise unless ``layer`` is a label-like layer whose values can be object ids."""
    info = ws.layer(layer)
    if not info.is_label:
        raise ObjectsError(
            f"Layer {layer!r} is a {info.kind!r} layer; objects come from an instance layer. "
            f"Split a mask or class layer into objects first: voxelwise objects find WS {layer}"
        )


def objects_table(ws: Workspace, layer: str, *, image: str = "raw", refresh: bool = False) -> Table:
    """Measurements of every object of ``layer`` (with ``image`` intensities and surfaces).

    Computed once (one chunked pass, see :func:`voxelwise.analysis.measure`) and cached in
    ``<workspace>/objects/<layer>.table.csv``; recomputed when the layer or the image was
    rewritten since, or with ``refresh=True``.
    """
    check_instances(ws, layer)
    version = {"layer": ws.layer(layer).directory, "image": image}
    version["image_directory"] = ws.layer(image).directory
    path = store_path(ws, layer, "table")
    if path.is_file() and not refresh:
        table = Table.from_csv(path)
        if table.meta.get("version") == version:
            return table
    table = object_table(
        ws.open_array(layer, mode="r"),
        ws.open_array(image, mode="r"),
        spacing=ws.spacing,
        surface=True,
    )
    table.meta.update({"version": version, "labels": layer, "workspace": str(ws.path)})
    with locked(ws, layer):
        write_atomic(table, path)
    return table


def _read(ws: Workspace, layer: str) -> dict[int, str]:
    path = store_path(ws, layer, "labels")
    if not path.is_file():
        return {}
    table = Table.from_csv(path)
    directory = table.meta.get("directory")
    if directory is not None and directory != ws.layer(layer).directory:
        warnings.warn(
            f"The object labels of {layer!r} were made on an earlier version of the layer (it "
            "has been rewritten since): the ids may now name other objects. Check them, or "
            f"delete {path} to start over",
            VoxelwiseWarning,
            stacklevel=3,
        )
    if len(table) == 0:
        return {}
    return {int(i): str(c) for i, c in zip(table["id"], table["class"])}


def _write(ws: Workspace, layer: str, labels: Mapping[int, str]) -> None:
    ids = np.array(sorted(labels), dtype=np.int64)
    table = Table(
        {"id": ids, "class": np.array([labels[int(i)] for i in ids], dtype=str)},
        meta={"layer": layer, "directory": ws.layer(layer).directory, "updated": time.time()},
    )
    if len(ids) == 0:
        table = Table({"id": np.empty(0, np.int64), "class": np.empty(0, dtype="<U1")})
        table.meta.update({"layer": layer, "directory": ws.layer(layer).directory})
    write_atomic(table, store_path(ws, layer, "labels"))


def _parse_pairs(labels: Any) -> dict[int, str]:
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"Expected labels as a mapping of object id to class name, got {labels!r} instead"
        )
    out = {}
    for key, name in labels.items():
        try:
            object_id = int(key)
        except (TypeError, ValueError) as e:
            raise TypeError(f"Expected object ids as whole numbers, got {key!r}") from e
        if object_id < 1:
            raise ObjectLabelsError(f"Expected object ids >= 1 (0 is background), got {key!r}")
        out[object_id] = parse_class_name(name)
    return out


def object_labels(ws: Workspace, layer: str, *, skipped: bool = False) -> dict[int, str]:
    """Object id -> class name of the labelled objects of ``layer`` (JSON-able keys as ints).

    With ``skipped=True`` the skipped objects are included with an empty class name.
    """
    labels = _read(ws, layer)
    return labels if skipped else {k: v for k, v in labels.items() if v != SKIPPED}


def label_objects(ws: Workspace, layer: str, labels: Mapping[Any, str]) -> dict[str, Any]:
    """Give objects a class: ``{id: "class name"}`` (ids as ints or digit strings).

    Relabelling an object replaces its class. Returns a summary ``{"labelled": n, "classes":
    {name: count}}`` of all the layer's labels.

    Raises
    ------
    ObjectsError
        An id is not an object of the layer.
    ObjectLabelsError
        A class name is invalid.
    """
    return _store(ws, layer, _parse_pairs(labels))


def skip_objects(ws: Workspace, layer: str, ids: Sequence[int]) -> dict[str, Any]:
    """Mark objects as seen but not labelled (ambiguous): the queue will not show them again."""
    return _store(ws, layer, {int(i): SKIPPED for i in ids})


def _store(ws: Workspace, layer: str, pairs: Mapping[int, str]) -> dict[str, Any]:
    if pairs:
        select_ids(objects_table(ws, layer), sorted(pairs))
    with locked(ws, layer):
        current = _read(ws, layer)
        current.update(pairs)
        _write(ws, layer, current)
    return _summary(current)


def unlabel_objects(ws: Workspace, layer: str, ids: Sequence[int]) -> dict[str, Any]:
    """Forget the labels (or skips) of ``ids``; unknown ids are ignored."""
    with locked(ws, layer):
        current = _read(ws, layer)
        for i in ids:
            current.pop(int(i), None)
        _write(ws, layer, current)
    return _summary(current)


def _summary(labels: Mapping[int, str]) -> dict[str, Any]:
    names = [c for c in labels.values() if c != SKIPPED]
    counts = {c: names.count(c) for c in sorted(set(names))}
    return {"labelled": len(names), "skipped": len(labels) - len(names), "classes": counts}


def next_objects(
    ws: Workspace,
    layer: str,
    *,
    n: int = 1,
    rng: np.random.Generator | int | None = 0,
    ids: Sequence[int] | None = None,
    min_size: int = 1,
) -> list[int]:
    """The next objects to label: unlabelled, not skipped, at least ``min_size`` voxels.

    Without ``ids``, every object in a random order fixed by ``rng`` (an int seed gives the
    same order in every call and process, so labelling can stop and resume); with ``ids``,
    those objects in the order given.
    """
    table = objects_table(ws, layer)
    done = set(_read(ws, layer))
    if ids is None:
        eligible = np.asarray(table["id"], np.int64)[
            np.asarray(table["volume_voxels"]) >= int(min_size)
        ]
        order = eligible[parse_rng(rng).permutation(eligible.size)]
    else:
        order = np.asarray(list(ids), dtype=np.int64)
        select_ids(table, order)
    out = [int(i) for i in order if int(i) not in done]
    return out[: max(0, int(n))]


class LabelSession:
    """Label objects one after another: :meth:`next`, then :meth:`label` or :meth:`skip`.

    A thin helper over :func:`next_objects` and :func:`label_objects`; every answer is stored
    in the workspace at once, so a session can stop and be resumed with the same ``rng``.

    Examples
    --------
    >>> session = LabelSession(ws, "objects", rng=0)  # doctest: +SKIP
    >>> oid = session.next()  # doctest: +SKIP
    >>> session.label(oid, "mitochondria")  # doctest: +SKIP
    """

    def __init__(
        self,
        ws: Workspace,
        layer: str,
        *,
        rng: int = 0,
        ids: Sequence[int] | None = None,
        min_size: int = 1,
    ) -> None:
        check_instances(ws, layer)
        self.ws, self.layer, self.rng, self.ids, self.min_size = ws, layer, rng, ids, min_size

    def next(self) -> int | None:
        """The next object to label, or None when every object has been seen."""
        found = next_objects(
            self.ws, self.layer, n=1, rng=self.rng, ids=self.ids, min_size=self.min_size
        )
        return found[0] if found else None

    def label(self, object_id: int, name: str) -> dict[str, Any]:
        """Store the class of one object."""
        return label_objects(self.ws, self.layer, {int(object_id): name})

    def skip(self, object_id: int) -> dict[str, Any]:
        """Mark one object as seen but not labelled."""
        return skip_objects(self.ws, self.layer, [object_id])

    @property
    def labels(self) -> dict[int, str]:
        """The labels stored so far."""
        return object_labels(self.ws, self.layer)

    @property
    def remaining(self) -> int:
        """How many objects are left to see."""
        return len(
            next_objects(
                self.ws, self.layer, n=2**62, rng=self.rng, ids=self.ids, min_size=self.min_size
            )
        )
