"""Plain-text output for the terminal: aligned tables, JSON, workspace summaries.

Every CLI command prints its tables and JSON through these helpers so the layout is the same
everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["format_table", "print_json", "print_table", "workspace_report"]


def format_table(
    rows: Iterable[Sequence[Any]],
    *,
    widths: Sequence[int] = (),
    align: str = "",
    sep: str = "  ",
    indent: str = "",
    fit: bool = True,
) -> list[str]:
    """Lines of a plain-text table whose columns line up.

    Parameters
    ----------
    rows : iterable of sequences
        The cells, row by row (a header is just the first row); each cell is printed with
        ``str``. Every row must have the same number of cells.
    widths : sequence of int, optional
        Smallest width of each column (the first ``len(widths)`` columns); a column is as wide
        as its widest cell otherwise.
    align : str, optional
        One character per column, ``"<"`` (left, the default for columns not given) or ``">"``
        (right).
    sep : str, optional
        Text between two columns.
    indent : str, optional
        Text before every line.
    fit : bool, optional
        If True (default), every column is widened to its widest cell so the columns line up.
        If False, columns keep the given ``widths`` and a longer cell pushes the rest of its row
        only (like ``f"{cell:<10}"``): fixed layouts for listings that grow row by row.

    Returns
    -------
    list of str
        One line per row. A left-aligned last column is not padded, so lines carry no trailing
        padding.

    Examples
    --------
    >>> print("\\n".join(format_table([("name", "size"), ("vnc", 20), ("flyem", 520)])))
    name   size
    vnc    20
    flyem  520
    >>> format_table([(7, "a"), (12, "b")], align=">", indent="  ")
    ['   7  a', '  12  b']
    >>> format_table([("vnc", 1), ("isbi2012", 2)], widths=(5,), sep=" ", fit=False)
    ['vnc   1', 'isbi2012 2']
    """
    table = [[str(c) for c in row] for row in rows]
    if not table:
        return []
    n = len(table[0])
    if any(len(row) != n for row in table):
        raise ValueError(
            f"Expected rows of {n} cells each, got rows of {sorted({len(r) for r in table})} "
            "cells instead; give every row the same number of cells"
        )
    if set(align) - {"<", ">"}:
        raise ValueError(f"Expected align as '<' and '>' characters, got {align!r} instead")
    given = [widths[i] if i < len(widths) else 0 for i in range(n)]
    size = [max([len(row[i]) for row in table] + [given[i]]) for i in range(n)] if fit else given
    side = [align[i] if i < len(align) else "<" for i in range(n)]
    lines = []
    for row in table:
        cells = [
            c if (i == n - 1 and side[i] == "<") else f"{c:{side[i]}{size[i]}}"
            for i, c in enumerate(row)
        ]
        lines.append(indent + sep.join(cells))
    return lines


def print_table(rows: Iterable[Sequence[Any]], **options: Any) -> None:
    """Print :func:`format_table` ``(rows, **options)``, one line per row."""
    for line in format_table(rows, **options):
        print(line)


def print_json(value: Any, *, indent: int = 2) -> None:
    """Print ``value`` as indented JSON."""
    print(json.dumps(value, indent=indent))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def workspace_report(ws: Any) -> str:
    """Summarise a :class:`~voxelwise.workspace.Workspace`: image, layers, label sets, runs."""
    info = ws.info()
    unit = f" {info['unit']}" if info.get("unit") else ""
    lines = [
        f"workspace  {info['path']}",
        f"image      {' x '.join(map(str, info['shape']))} (z, y, x) {info['dtype']}, "
        f"voxel size {' x '.join(f'{s:g}' for s in info['spacing'])}{unit}, "
        f"chunks {' x '.join(map(str, info['chunks']))}",
    ]
    source = info.get("source") or {}
    if source:
        where = source.get("path") or "an in-memory array"
        extra = [f"key {source['key']}"] if source.get("key") else []
        if source.get("roi"):
            extra.append(f"roi {source['roi']}")
        if source.get("bin") and any(b != 1 for b in source["bin"]):
            extra.append(f"bin {','.join(map(str, source['bin']))}")
        suffix = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"source     {source.get('format', '?')}: {where}{suffix}")
    rows = [("layer", "kind", "dtype", "levels", "min", "max", "mean")]
    for name, layer in info["layers"].items():
        rows.append(
            (
                name,
                layer["kind"],
                layer["dtype"],
                str(layer["levels"]),
                _fmt(layer["min"]),
                _fmt(layer["max"]),
                _fmt(layer["mean"]),
            )
        )
    lines.append("")
    lines += format_table(rows)
    for name, counts in info.get("nonfinite", {}).items():
        lines.append(
            f"note: layer {name!r} holds {counts['nan_count']} NaN and {counts['inf_count']} "
            "inf voxels (left out of its statistics)"
        )
    if info["label_sets"]:
        sets = ", ".join(f"{k} ({n} labels)" for k, n in info["label_sets"].items())
        lines += ["", f"label sets {sets}"]
    lines.append(f"runs       {info['runs']}, jobs {info['jobs']}")
    return "\n".join(lines)
