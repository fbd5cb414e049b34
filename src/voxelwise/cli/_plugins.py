"""CLI for plugins (``voxelwise plugins list``) and image layers (``voxelwise workspace
add-image``); registered by :func:`add_parsers`."""

from __future__ import annotations

import argparse
from typing import Any

from voxelwise.cli._progress import progress_bar
from voxelwise.cli._report import print_json, print_table

__all__ = ["add_parsers", "cmd_plugins_list", "cmd_workspace_add_image"]


def _describe(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    parts = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or ("|".join(map(str, prop["enum"])) if "enum" in prop else "")
        if "anyOf" in prop:
            kind = (prop["anyOf"][0].get("type") or "value") + "|null"
        default = f"={prop['default']}" if "default" in prop else ""
        parts.append(f"{name}:{kind}{default}")
    return ", ".join(parts)


def cmd_plugins_list(args: argparse.Namespace) -> None:
    from voxelwise.plugins import list_plugins

    found = list_plugins(args.kind)
    if args.json:
        print_json([p.to_dict() for p in found])
        return
    if not found:
        print("no plugins installed" + (f" of kind {args.kind}" if args.kind else ""))
        return
    rows = [
        (
            p.kind,
            f"{p.name}  ({_describe(p.schema)})  {p.summary}"
            if p.ok
            else f"{p.name}  BROKEN: {p.error}",
        )
        for p in found
    ]
    print_table(rows, widths=(10,), sep=" ", fit=False)


def cmd_workspace_add_image(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace, add_image

    ws = Workspace.open(args.workspace)
    with progress_bar("add image", enabled=not args.quiet) as progress:
        info = add_image(
            ws,
            args.name,
            args.file,
            key=args.key,
            roi=args.roi,
            spacing=args.spacing,
            resample=args.resample,
            order=args.order,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=progress,
        )
    how = " (resampled)" if info.params.get("resampled") else ""
    print(f"added image layer {info.name!r}{how}: {' x '.join(map(str, info.shape))} {info.dtype}")


def _spacing(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected 'z,y,x' numbers, got {text!r}") from e
    if len(values) not in (1, 3):
        raise argparse.ArgumentTypeError(f"expected 'z,y,x' or one number, got {text!r}")
    return values


def _subparsers(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError("the parser has no subcommands")


def add_parsers(sub: Any) -> None:
    """Register ``plugins list`` and ``workspace add-image`` on the top-level subparsers (the
    ``workspace`` command must be registered already)."""
    pl = sub.add_parser("plugins", help="installed plugins (filters, classifiers, ...)")
    pl_sub = pl.add_subparsers(dest="plugins_command", required=True, metavar="COMMAND")
    p = pl_sub.add_parser("list", help="list plugins with their parameters; broken ones too")
    p.add_argument(
        "--kind", choices=["filter", "classifier", "network", "strategy", "step"], default=None
    )
    p.add_argument("--json", action="store_true", help="JSON records with parameter schemas")
    p.set_defaults(func=cmd_plugins_list)

    ws_sub = _subparsers(sub.choices["workspace"])
    p = ws_sub.add_parser(
        "add-image",
        help="add another image (modality, channel) of the workspace's grid as a layer",
    )
    p.add_argument("workspace")
    p.add_argument("name", help="layer name, e.g. fluo")
    p.add_argument("file", help="volume file in any supported format")
    p.add_argument("--key", help="dataset inside a container file (HDF5, Zarr)")
    p.add_argument("--roi", help="region of the file to take 'z0:z1,y0:y1,x0:x1'")
    p.add_argument("--spacing", type=_spacing, help="the file's voxel size 'z,y,x' (override)")
    p.add_argument(
        "--resample",
        action="store_true",
        help="resample an image of another voxel size onto the workspace's grid",
    )
    p.add_argument("--order", type=int, default=1, help="spline order of the resampling (1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing layer")
    p.add_argument(
        "--scheduler",
        help="dask.distributed scheduler address (e.g. tcp://10.0.0.5:8786); default: this machine",
    )
    p.set_defaults(func=cmd_workspace_add_image)
