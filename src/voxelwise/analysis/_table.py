"""A small column-oriented table: a dict of equal-length NumPy columns, CSV and Parquet I/O."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise._optional import optional_import
from voxelwise.analysis._errors import MissingFileError, TableError
from voxelwise.errors import CorruptFileError, FormatNotSupportedError

__all__ = ["Table"]

_MAGIC = "# voxelwise-table "
_PREVIEW_ROWS = 20


def _column(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise TableError(
            f"Expected column {name!r} as a 1D sequence, got shape {arr.shape} instead; "
            "split multi-valued measurements into one column per component"
        )
    if arr.dtype.kind == "O":
        arr = arr.astype(str)
    if arr.dtype.kind not in "biufU":
        raise TableError(
            f"Expected column {name!r} of numbers, booleans or strings, got dtype {arr.dtype}"
        )
    return arr


def _format(value: Any) -> str:
    if isinstance(value, float | np.floating):
        v = float(value)
        return repr(v) if math.isfinite(v) else str(v)
    if isinstance(value, np.bool_ | bool):
        return "true" if value else "false"
    return str(value)


def _parse(texts: list[str], dtype: str | None, name: str, path: Path) -> np.ndarray:
    try:
        if dtype is not None:
            kind = np.dtype(dtype).kind
            if kind == "b":
                return np.array([t.strip().lower() in ("true", "1") for t in texts], dtype=bool)
            if kind == "U":
                return np.array(texts, dtype=str)
            return np.array([float(t) if kind == "f" else int(t) for t in texts], dtype=dtype)
    except ValueError as e:
        raise CorruptFileError(
            f"Column {name!r} of {path} holds a value that is not a {dtype}: {e}; fix or "
            "remove that value, or delete the '# voxelwise-table' first line to infer types"
        ) from e
    try:  # infer: whole numbers, then numbers, else text
        return np.array([int(t) for t in texts])
    except ValueError:
        pass
    try:
        return np.array([float(t) for t in texts])
    except ValueError:
        return np.array(texts, dtype=str)


class Table:
    """Columns of equal length, one row per object, in a fixed order, plus metadata.

    Index it like a dict (``table["volume"]``), add columns with ``table["name"] = values``,
    and write it with :meth:`to_csv` or :meth:`to_parquet` (read back with :meth:`from_csv`,
    :meth:`from_parquet` or :meth:`read`). ``meta`` is a JSON-serialisable dict (spacing, the
    layer measured, ...) stored with the table in both formats. ``pandas.DataFrame(t.to_dict())``
    converts it when pandas is around.

    Parameters
    ----------
    columns : mapping of str to 1D array-like, optional
        The columns, in order. Numbers, booleans and strings.
    meta : dict, optional
        Metadata kept with the table.

    Examples
    --------
    >>> t = Table({"id": [1, 2], "volume": [10.0, 4.0]}, meta={"unit": "nm"})
    >>> len(t), t.names, float(t["volume"].sum())
    (2, ('id', 'volume'), 14.0)
    """

    def __init__(
        self, columns: Mapping[str, Any] | None = None, *, meta: Mapping[str, Any] | None = None
    ) -> None:
        self._columns: dict[str, np.ndarray] = {}
        self.meta: dict[str, Any] = json.loads(json.dumps(dict(meta or {}), default=_jsonable))
        for name, values in (columns or {}).items():
            self[name] = values

    # -- dict-like access ----------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(self._columns)

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The columns (a shallow copy of the mapping; the arrays are shared)."""
        return dict(self._columns)

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(
                f"No column {name!r}; the columns are: {', '.join(self.names) or '(none)'}"
            ) from None

    def __setitem__(self, name: str, values: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Expected a column name as a non-empty string, got {name!r} instead")
        col = _column(values, name)
        replacing_only = len(self._columns) == 1 and name in self._columns
        if self._columns and not replacing_only and len(col) != len(self):
            raise TableError(
                f"Expected column {name!r} with {len(self)} values (one per row), got "
                f"{len(col)} instead"
            )
        self._columns[name] = col

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def copy(self) -> Table:
        """A copy with copied columns and metadata."""
        return Table({k: v.copy() for k, v in self._columns.items()}, meta=self.meta)

    def select(self, rows: Any) -> Table:
        """The rows picked by a boolean mask or by integer indices, as a new table."""
        idx = np.asarray(rows)
        if idx.dtype == bool and idx.shape != (len(self),):
            raise TableError(
                f"Expected a boolean row mask of length {len(self)}, got shape {idx.shape}"
            )
        return Table({k: v[idx] for k, v in self._columns.items()}, meta=self.meta)

    def sort(self, by: str | Sequence[str]) -> Table:
        """The rows sorted by one column or several (the first is the primary key)."""
        keys = [by] if isinstance(by, str) else list(by)
        order = np.lexsort([self[k] for k in reversed(keys)]) if keys else np.arange(len(self))
        return self.select(order)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a dict of Python scalars."""
        return {k: v[i].item() for k, v in self._columns.items()}

    def to_dict(self) -> dict[str, list[Any]]:
        """The columns as lists of Python scalars (JSON-serialisable; NaN stays NaN)."""
        return {k: v.tolist() for k, v in self._columns.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table) or self.names != other.names:
            return False
        return all(
            np.array_equal(a, other[k], equal_nan=a.dtype.kind == "f")
            for k, a in self._columns.items()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.names)})"

    def __str__(self) -> str:
        names = self.names
        n = len(self)
        shown = range(min(n, _PREVIEW_ROWS))
        cells = [[_short(self._columns[k][i]) for k in names] for i in shown]
        widths = [max([len(k)] + [len(r[j]) for r in cells]) for j, k in enumerate(names)]
        lines = ["  ".join(k.rjust(w) for k, w in zip(names, widths))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
        if n > len(shown):
            lines.append(f"... ({n} rows)")
        return "\n".join(lines)

    # -- files ---------------------------------------------------------------------------------

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as CSV, with a first comment line holding dtypes and metadata."""
        path = Path(path)
        header = {"dtypes": {k: v.dtype.str for k, v in self._columns.items()}, "meta": self.meta}
        with path.open("w", newline="", encoding="utf-8") as f:
            f.write(_MAGIC + json.dumps(header) + "\n")
            writer = csv.writer(f)
            writer.writerow(self.names)
            cols = [v.tolist() for v in self._columns.values()]
            for row in zip(*cols):
                writer.writerow([_format(v) for v in row])
        return path

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> Table:
        """Read a CSV file written by :meth:`to_csv` (or any CSV with a header row)."""
        path = _existing(path)
        with path.open(newline="", encoding="utf-8") as f:
            first = f.readline()
            header: dict[str, Any] = {}
            if first.startswith(_MAGIC):
                try:
                    header = json.loads(first[len(_MAGIC) :])
                except json.JSONDecodeError as e:
                    raise CorruptFileError(f"The first line of {path} is damaged: {e}") from e
            else:
                f.seek(0)
            rows = list(csv.reader(f))
        if not rows:
            raise CorruptFileError(f"{path} has no header row; is it a table written by voxelwise?")
        names, body = rows[0], rows[1:]
        if any(len(r) != len(names) for r in body):
            bad = next(i for i, r in enumerate(body) if len(r) != len(names))
            raise CorruptFileError(
                f"Row {bad + 1} of {path} has {len(body[bad])} values but the header has "
                f"{len(names)} columns"
            )
        dtypes = header.get("dtypes", {})
        columns = {
            name: _parse([r[j] for r in body], dtypes.get(name), name, path)
            if body
            else np.empty(0, dtype=dtypes.get(name, "f8"))
            for j, name in enumerate(names)
        }
        return cls(columns, meta=header.get("meta", {}))

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as Parquet (needs pyarrow), with the metadata in the schema."""
        pa = optional_import("pyarrow", feature="writing tables as Parquet")
        pq = optional_import("pyarrow.parquet", feature="writing tables as Parquet")
        path = Path(path)
        table = pa.table({k: pa.array(v) for k, v in self._columns.items()})
        table = table.replace_schema_metadata({"voxelwise": json.dumps(self.meta)})
        pq.write_table(table, path)
        return path

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str]) -> Table:
        """Read a Parquet file (needs pyarrow)."""
        pq = optional_import("pyarrow.parquet", feature="reading Parquet tables")
        path = _existing(path)
        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError family
            raise CorruptFileError(f"Could not read {path} as Parquet: {e}") from e
        raw = (table.schema.metadata or {}).get(b"voxelwise", b"{}")
        columns = {}
        for name in table.column_names:
            col = table.column(name).to_numpy(zero_copy_only=False)
            columns[name] = col.astype(str) if col.dtype.kind == "O" else col
        return cls(columns, meta=json.loads(raw))

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write as CSV (``.csv``) or Parquet (``.parquet``/``.pq``), chosen by the suffix."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            return self.to_csv(path)
        if suffix in (".parquet", ".pq"):
            return self.to_parquet(path)
        raise FormatNotSupportedError(
            f"Cannot tell the table format of {path}: use a .csv or .parquet suffix"
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Table:
        """Read a ``.csv`` or ``.parquet`` table, chosen by the suffix."""
        suffix = Path(path).suffix.lower()
        if suffix in (".parquet", ".pq"):
            return cls.from_parquet(path)
        if suffix in (".csv", ".txt"):
            return cls.from_csv(path)
        raise FormatNotSupportedError(
            f"Cannot tell the table format of {path}: use a .csv or .parquet suffix"
        )


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"No table file at {p}; check the path")
    return p


def _short(value: Any) -> str:
    if isinstance(value, np.floating | float):
        return f"{float(value):.6g}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"Expected JSON-serialisable table metadata, got {type(value).__name__}")
