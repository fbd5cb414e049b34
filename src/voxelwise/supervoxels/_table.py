"""A small column table (a dict of equal-length NumPy arrays) with CSV output."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RegionTable"]


@dataclass(frozen=True, eq=False)
class RegionTable:
    """Columns of equal length, one row per region (or per edge), in a fixed order.

    Index it like a dict (``table["size"]``); ``to_csv`` writes it; ``to_dict`` gives the
    columns (e.g. for ``pandas.DataFrame(table.to_dict())``).

    Examples
    --------
    >>> t = RegionTable({"id": np.array([1, 2]), "size": np.array([10, 4])})
    >>> len(t), t.names, int(t["size"].sum())
    (2, ('id', 'size'), 14)
    """

    columns: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        lengths = {name: len(col) for name, col in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"Expected columns of equal length, got {lengths} instead")
        object.__setattr__(self, "columns", {k: np.asarray(v) for k, v in self.columns.items()})

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(self.columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"No column {name!r}; the columns are {', '.join(self.names)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __repr__(self) -> str:
        return f"RegionTable({len(self)} rows: {', '.join(self.names)})"

    def to_dict(self) -> dict[str, np.ndarray]:
        """The columns as a new dict (the arrays are shared, not copied)."""
        return dict(self.columns)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as comma-separated text with a header row; returns the path.

        Integers are written exactly, floats with 9 significant digits (float32-exact; NaN as
        ``nan``).
        """
        path = Path(path)
        fmts = []
        fields = []
        for name, col in self.columns.items():
            kind = col.dtype.kind
            fmts.append("%d" if kind in "iub" else "%.9g")
            fields.append((name, np.int64 if kind in "ib" else col.dtype if kind == "u" else "f8"))
        rows = np.empty(len(self), dtype=fields)
        for name, col in self.columns.items():
            rows[name] = col
        np.savetxt(path, rows, fmt=fmts, delimiter=",", header=",".join(self.names), comments="")
        return path
