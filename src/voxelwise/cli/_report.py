"""Plain-text summaries of workspaces for the terminal."""

from __future__ import annotations

from typing import Any

__all__ = ["workspace_report"]


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
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("")
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
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
