"""Points with a class (z, y, x, class; optional size): the table, CSV files, edits.

Coordinates are voxel indices (floats allowed) in (z, y, x) order; ``class`` is a whole number
>= 0; ``size`` is an optional diameter in physical units (the volume's spacing; voxels when it
has none). Every point has an ``id`` (>= 1, unique) so it can be edited by id.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.errors import VoxelwiseWarning
from voxelwise.points._errors import PointsError, PointsFileError

__all__ = [
    "OPTIONAL_COLUMNS",
    "POINT_COLUMNS",
    "Points",
    "inside_volume",
    "outside_message",
    "read_points_csv",
    "read_points_file",
    "split_inside",
    "write_points_csv",
]

#: Columns every points CSV has, in this order when written.
POINT_COLUMNS = ("z", "y", "x", "class")
#: Columns a points CSV may add.
OPTIONAL_COLUMNS = ("size", "id")
_EXPECTED = "z, y, x, class (required) and size, id (optional)"


@dataclass(frozen=True, eq=False)
class Points:
    """A set of points: ``ids`` (N,) int64, ``zyx`` (N, 3) float64, ``classes`` (N,) int64,
    ``sizes`` (N,) float64 or None (no size column). Build one with :meth:`from_arrays`;
    edits (:meth:`add`, :meth:`remove`, :meth:`update`) return new sets."""

    ids: np.ndarray
    zyx: np.ndarray
    classes: np.ndarray
    sizes: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls, zyx: Any, classes: Any = None, sizes: Any = None, ids: Any = None
    ) -> Points:
        """Validate and build a set; ``classes`` default 1, ``ids`` default 1..N."""
        coords = np.asarray(zyx, dtype=np.float64).reshape(-1, 3) if np.size(zyx) else None
        if coords is None:
            coords = np.zeros((0, 3))
        n = coords.shape[0]
        if not np.isfinite(coords).all():
            raise PointsError("Expected finite point coordinates, got NaN or infinite values")
        cl = np.ones(n, np.int64) if classes is None else _ints(classes, n, "class")
        if (cl < 0).any():
            raise PointsError(f"Expected classes >= 0, got {int(cl.min())}")
        idv = np.arange(1, n + 1, dtype=np.int64) if ids is None else _ints(ids, n, "id")
        if (idv < 1).any() or np.unique(idv).size != n:
            raise PointsError("Expected point ids that are unique whole numbers >= 1")
        sz = None
        if sizes is not None:
            sz = np.asarray(sizes, dtype=np.float64).reshape(-1)
            if sz.size != n:
                raise PointsError(f"Expected {n} sizes (one per point), got {sz.size}")
            if not (np.isfinite(sz) & (sz > 0)).all():
                raise PointsError("Expected sizes (diameters) > 0 and finite")
        return cls(idv, coords, cl, sz)

    def __len__(self) -> int:
        return int(self.ids.size)

    def __repr__(self) -> str:
        extra = ", with sizes" if self.sizes is not None else ""
        return f"Points({len(self)} points, classes {sorted(set(self.classes.tolist()))}{extra})"

    def index_of(self, ids: Any) -> np.ndarray:
        """Row positions of ``ids``; unknown ids raise :class:`PointsError`."""
        wanted = np.atleast_1d(np.asarray(ids, dtype=np.int64))
        order = np.argsort(self.ids)
        pos = np.searchsorted(self.ids[order], wanted)
        pos = np.minimum(pos, max(self.ids.size - 1, 0))
        found = self.ids.size > 0 and self.ids[order][pos] == wanted
        missing = wanted[~np.asarray(found, dtype=bool)] if wanted.size else wanted
        if missing.size:
            raise PointsError(
                f"No point with id {', '.join(map(str, missing[:10].tolist()))}; the ids run "
                f"from {int(self.ids.min(initial=0))} to {int(self.ids.max(initial=0))}"
            )
        return order[pos]

    def select(self, rows: Any) -> Points:
        """The points at row positions (or a boolean mask) ``rows``."""
        idx = np.asarray(rows)
        sizes = None if self.sizes is None else self.sizes[idx]
        return Points(self.ids[idx], self.zyx[idx], self.classes[idx], sizes)

    def add(self, zyx: Any, classes: Any = None, sizes: Any = None) -> Points:
        """A new set with points appended (ids continue after the largest)."""
        new = Points.from_arrays(zyx, classes, sizes)
        start = int(self.ids.max(initial=0))
        if (self.sizes is None) != (new.sizes is None) and len(self):
            raise PointsError(
                "Expected sizes for the new points exactly when the set has sizes "
                f"({'it has' if self.sizes is not None else 'it has none'})"
            )
        sizes = None
        if self.sizes is not None or new.sizes is not None:
            sizes = np.concatenate([self.sizes if self.sizes is not None else [], new.sizes])
        return Points(
            np.concatenate([self.ids, new.ids + start]),
            np.concatenate([self.zyx, new.zyx]),
            np.concatenate([self.classes, new.classes]),
            sizes,
        )

    def remove(self, ids: Any) -> Points:
        """A new set without the points ``ids``."""
        drop = np.zeros(len(self), dtype=bool)
        drop[self.index_of(ids)] = True
        return self.select(~drop)

    def update(self, changes: Mapping[Any, Mapping[str, Any]]) -> Points:
        """A new set with some fields changed: ``{id: {"z": .., "y": .., "x": .., "class": ..,
        "size": ..}}`` (any subset of the fields)."""
        zyx, classes = self.zyx.copy(), self.classes.copy()
        sizes = None if self.sizes is None else self.sizes.copy()
        for key, fields in changes.items():
            row = int(self.index_of(int(key))[0])
            unknown = set(fields) - {"z", "y", "x", "class", "size"}
            if unknown:
                raise PointsError(f"Unknown point fields {sorted(unknown)}; expected {_EXPECTED}")
            for a, axis in enumerate("zyx"):
                if axis in fields:
                    zyx[row, a] = float(fields[axis])
            if "class" in fields:
                classes[row] = int(fields["class"])
            if "size" in fields:
                if sizes is None:
                    raise PointsError("This set has no sizes; give sizes to every point instead")
                sizes[row] = float(fields["size"])
        return Points.from_arrays(zyx, classes, sizes, self.ids)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-able dict per point: ``id``, ``z``, ``y``, ``x``, ``class`` [, ``size``]."""
        out = []
        for i in range(len(self)):
            rec: dict[str, Any] = {"id": int(self.ids[i])}
            rec.update({a: float(self.zyx[i, k]) for k, a in enumerate("zyx")})
            rec["class"] = int(self.classes[i])
            if self.sizes is not None:
                rec["size"] = float(self.sizes[i])
            out.append(rec)
        return out

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> Points:
        """The inverse of :meth:`to_records` (``id``, ``class`` and ``size`` optional)."""
        rows = list(records)
        for r in rows:
            missing = [c for c in ("z", "y", "x") if c not in r]
            extra = set(r) - set(POINT_COLUMNS) - set(OPTIONAL_COLUMNS)
            if missing or extra:
                raise PointsError(
                    f"Expected point fields {_EXPECTED}; got {sorted(r)} "
                    f"(missing {missing}, extra {sorted(extra)})"
                )
        has_size = any("size" in r for r in rows)
        has_id = any("id" in r for r in rows)
        for field, present in (("size", has_size), ("id", has_id)):
            if present and not all(field in r for r in rows):
                raise PointsError(f"Expected {field!r} for every point or for none")
        return cls.from_arrays(
            [[r["z"], r["y"], r["x"]] for r in rows],
            [r.get("class", 1) for r in rows],
            [r["size"] for r in rows] if has_size else None,
            [r["id"] for r in rows] if has_id else None,
        )


def _ints(values: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise PointsError(f"Expected {n} values of {what} (one per point), got {arr.size}")
    if not (np.isfinite(arr) & (arr == np.round(arr))).all():
        raise PointsError(f"Expected whole numbers for {what}")
    return arr.astype(np.int64)


def inside_volume(points: Points, shape: Sequence[int]) -> np.ndarray:
    """Which points fall in a voxel of a volume of ``shape`` (their rounded index exists)."""
    hi = np.asarray(shape, dtype=np.float64) - 0.5
    return np.all((points.zyx >= -0.5) & (points.zyx < hi), axis=1)


def _parse_number(text: str, column: str, line: int, path: Path) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PointsFileError(
            f"Line {line} of {path}: the {column!r} value {text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise PointsFileError(f"Line {line} of {path}: the {column!r} value {text!r} is not finite")
    return value


def read_points_csv(path: str | os.PathLike[str], *, shape: Sequence[int] | None = None) -> Points:
    """Read points from a CSV file with a header row.

    Columns: ``z``, ``y``, ``x``, ``class`` (required), ``size`` and ``id`` (optional), in
    any order, names case-insensitive; lines starting with ``#`` are comments. With
    ``shape``, points outside the volume are reported (one :class:`VoxelwiseWarning` listing
    them) and skipped.

    Raises
    ------
    PointsFileError
        Missing or extra columns (the message lists the expected ones), values that are not
        numbers, duplicate ids.
    """
    points, lines = read_points_file(Path(path))
    if shape is None:
        return points
    points, outside = split_inside(points, lines, shape)
    if outside:
        warnings.warn(outside_message(outside, shape, path), VoxelwiseWarning, stacklevel=2)
    return points


def outside_message(outside: list[dict[str, Any]], shape: Sequence[int], path: Any) -> str:
    """The report for points outside a volume."""
    shown = "; ".join(
        f"line {o['line']}: ({o['z']:g}, {o['y']:g}, {o['x']:g})" for o in outside[:5]
    )
    more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
    return (
        f"{len(outside)} point(s) of {path} lie outside the volume of shape {tuple(shape)} "
        f"(z, y, x) and were skipped: {shown}{more}"
    )


def split_inside(
    points: Points, lines: np.ndarray, shape: Sequence[int]
) -> tuple[Points, list[dict[str, Any]]]:
    """The points inside ``shape`` and a record (line, z, y, x) of each one outside."""
    inside = inside_volume(points, shape)
    outside = [
        {"line": int(lines[i]), "z": float(z), "y": float(y), "x": float(x)}
        for i, (z, y, x) in zip(np.flatnonzero(~inside), points.zyx[~inside])
    ]
    return points.select(inside), outside


def read_points_file(path: Path) -> tuple[Points, np.ndarray]:
    """Points of a CSV file and the file line of each (see :func:`read_points_csv`)."""
    if not path.is_file():
        raise PointsFileError(f"No points file at {path}; check the path")
    with path.open(newline="", encoding="utf-8-sig") as f:
        numbered = [(i + 1, line) for i, line in enumerate(f) if line.strip()]
    numbered = [(i, line) for i, line in numbered if not line.lstrip().startswith("#")]
    if not numbered:
        raise PointsFileError(f"{path} is empty; expected a header row with {_EXPECTED}")
    rows = list(csv.reader([line for _, line in numbered]))
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in POINT_COLUMNS if c not in header]
    extra = [h for h in header if h not in POINT_COLUMNS + OPTIONAL_COLUMNS]
    if missing or extra or len(set(header)) != len(header):
        raise PointsFileError(
            f"{path} has the columns {', '.join(header) or '(none)'}; expected {_EXPECTED}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not expected: {', '.join(extra)}" if extra else "")
            + ("; some column appears twice" if len(set(header)) != len(header) else "")
        )
    col = {name: header.index(name) for name in header}
    values: dict[str, list[float]] = {name: [] for name in header}
    for (line, _), row in zip(numbered[1:], rows[1:]):
        if len(row) != len(header):
            raise PointsFileError(
                f"Line {line} of {path} has {len(row)} values but the header has "
                f"{len(header)} columns ({', '.join(header)})"
            )
        for name in header:
            values[name].append(_parse_number(row[col[name]].strip(), name, line, path))
    lines = np.array([line for line, _ in numbered[1:]], dtype=np.int64)
    try:
        points = Points.from_arrays(
            np.stack([values[a] for a in "zyx"], axis=1) if lines.size else np.zeros((0, 3)),
            values["class"],
            values.get("size"),
            values.get("id"),
        )
    except PointsError as e:
        raise PointsFileError(f"{path}: {e}") from e
    return points, lines


def write_points_csv(points: Points, path: str | os.PathLike[str]) -> Path:
    """Write points as CSV: ``id, z, y, x, class`` [``, size``] with a header row."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    header = ["id", "z", "y", "x", "class"] + (["size"] if points.sizes is not None else [])
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for rec in points.to_records():
            writer.writerow([_fmt(rec[h]) for h in header])
    return target


def _fmt(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)
