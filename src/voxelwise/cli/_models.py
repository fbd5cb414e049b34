"""CLI for the model registry, ROI sub-workspaces and label export.

``voxelwise models list|export|import|apply|delete|train-pooled``, ``voxelwise workspace
roi|pull-back|relink`` and ``voxelwise labels export``. Learning libraries (and torch) load only
when a command that needs them runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from voxelwise.cli._progress import progress_bar
from voxelwise.cli._report import print_json

__all__ = ["add_parsers"]


def _subparsers(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError("the parser has no subcommands")


# -- models -------------------------------------------------------------------------------------


def cmd_models_list(args: argparse.Namespace) -> None:
    from voxelwise.models import list_models

    records = list_models(args.workspace, sync=not args.no_sync)
    if args.json:
        print_json(records)
        return
    if not records:
        print("no models registered")
        return
    for r in records:
        metrics = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r["metrics"].items()
        )
        classes = ", ".join(c["name"] for c in r["classes"])
        where = ", ".join(r["provenance"].get("workspaces", [])) or "-"
        gone = "" if r["available"] else "  [file missing]"
        print(
            f"{r['name']}: {r['kind']} {r['architecture']}  classes [{classes}]  "
            f"{metrics or 'no metrics'}  {r['size'] / 1e6:.2f} MB  {r['created'][:19]}  "
            f"trained on {where}{gone}"
        )


def cmd_models_export(args: argparse.Namespace) -> None:
    from voxelwise.models import export_model

    path = export_model(args.workspace, args.name, args.output, overwrite=args.overwrite)
    print(f"exported model {args.name!r} to {path}")


def cmd_models_import(args: argparse.Namespace) -> None:
    from voxelwise.models import import_model

    record = import_model(args.workspace, args.file, name=args.name, overwrite=args.overwrite)
    print(f"imported {record['kind']} model {record['name']!r} ({record['architecture']})")


def cmd_models_delete(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    Workspace.open(args.workspace).delete_model(args.name)
    print(f"deleted model {args.name!r}")


def cmd_models_apply(args: argparse.Namespace) -> None:
    from voxelwise.models import apply_model

    result = apply_model(
        args.target,
        args.model,
        registry=args.registry,
        name=args.name,
        image=args.image,
        out=args.out,
        overwrite=args.overwrite,
        device=args.device,
    )
    if "layers" in result:
        print(f"applied {result['kind']} model: wrote layers {', '.join(result['layers'])}")
    else:
        print(f"applied {result['kind']} model: wrote {result['out']}")


def _source(text: str) -> tuple[str, str, str]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected WORKSPACE:IMAGE_LAYER:LABELS_LAYER (e.g. cells.vw:raw:annotations), "
            f"got {text!r}"
        )
    return parts[0], parts[1], parts[2]


def cmd_models_train_pooled(args: argparse.Namespace) -> None:
    from voxelwise.models import train_pooled

    features = args.features.split(",") if args.features else None
    with progress_bar("training", enabled=not args.quiet, unit="epoch") as progress:
        record = train_pooled(
            args.source,
            kind=args.kind,
            registry=args.registry,
            name=args.name,
            out=args.out,
            config=args.config,
            epochs=args.epochs,
            max_minutes=args.max_minutes,
            init_model=args.init_model,
            device=args.device,
            features=features,
            classifier=args.classifier,
            rng=args.rng,
            progress=progress,
        )
    metrics = ", ".join(f"{k}={v}" for k, v in record["metrics"].items())
    print(
        f"registered {record['kind']} model {record['name']!r} trained on "
        f"{len(args.source)} workspace layer pairs ({metrics or 'no metrics'})"
    )


# -- workspace roi / pull-back / relink ----------------------------------------------------------


def cmd_workspace_roi(args: argparse.Namespace) -> None:
    from voxelwise.workspace import create_roi_workspace, roi_parent

    with progress_bar("copying", enabled=not args.quiet) as progress:
        child = create_roi_workspace(
            args.parent,
            args.child,
            args.roi,
            layers=args.layer,
            overwrite=args.overwrite,
            progress=progress,
        )
    link = roi_parent(child) or {}
    print(
        f"created {child.path} ({' x '.join(map(str, child.shape))}) from {link.get('path')} "
        f"at offset {tuple(link.get('offset', ()))}; layers: {', '.join(child.layers)}"
    )


def cmd_workspace_pull_back(args: argparse.Namespace) -> None:
    from voxelwise.workspace import pull_back

    with progress_bar("pulling back", enabled=not args.quiet) as progress:
        result = pull_back(
            args.workspace, args.layer, into=args.into, mode=args.mode, progress=progress
        )
    if result.skipped:
        print(f"skipped: the parent already has a layer {result.layer!r} (mode=skip)")
        return
    verb = "created" if result.created else "updated"
    print(
        f"{verb} layer {result.layer!r} of {result.parent} at {result.roi}: "
        f"{result.voxels_changed} voxel(s) changed, {result.conflicts} conflict(s) ({result.mode})"
    )


def cmd_workspace_relink(args: argparse.Namespace) -> None:
    from voxelwise.workspace import relink

    link = relink(args.workspace, args.parent)
    print(f"{args.workspace} now pulls back into {link['path']}")


# -- labels export ------------------------------------------------------------------------------


def cmd_labels_export(args: argparse.Namespace) -> None:
    from voxelwise.models import export_labels

    with progress_bar("exporting", enabled=not args.quiet) as progress:
        path = export_labels(
            args.workspace,
            args.layer,
            args.output,
            format=args.format,
            overwrite=args.overwrite,
            with_image=args.with_image,
            surface=args.surface,
            progress=progress,
        )
    print(f"wrote {path}")


def add_parsers(sub: Any) -> None:
    """Register ``models ...`` and, on the existing ``workspace`` and ``labels`` commands,
    ``roi``, ``pull-back``, ``relink`` and ``export``."""
    md = sub.add_parser("models", help="the model registry: list, export, import, apply, pool")
    md_sub = md.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    p = md_sub.add_parser("list", help="registered models with metrics, classes and provenance")
    p.add_argument("workspace")
    p.add_argument("--json", action="store_true", help="print the JSON records")
    p.add_argument(
        "--no-sync", action="store_true", help="do not register models saved by training runs"
    )
    p.set_defaults(func=cmd_models_list)

    p = md_sub.add_parser("export", help="write a registered model as one file")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("output", help="model file (.npz shallow, .pt deep; added when missing)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_models_export)

    p = md_sub.add_parser("import", help="register a voxelwise model file (validated first)")
    p.add_argument("workspace")
    p.add_argument("file")
    p.add_argument("--name", help="registry name (default: the file name)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_models_import)

    p = md_sub.add_parser("delete", help="remove a model from the registry")
    p.add_argument("workspace")
    p.add_argument("name")
    p.set_defaults(func=cmd_models_delete)

    p = md_sub.add_parser("apply", help="apply a model to a workspace or a volume file")
    p.add_argument("target", help="workspace folder, or a volume file (then --out)")
    p.add_argument("model", help="registered model name, or a model file")
    p.add_argument("--registry", help="workspace whose registry holds MODEL (default: TARGET)")
    p.add_argument("--name", default="prediction", help="output layer name (workspaces)")
    p.add_argument("--image", default="raw", help="image layer to segment (deep models)")
    p.add_argument("--out", help="output label volume (file targets)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_models_apply)

    p = md_sub.add_parser(
        "train-pooled", help="train one model on the labels of several workspaces"
    )
    p.add_argument(
        "--source",
        action="append",
        required=True,
        type=_source,
        metavar="WS:IMAGE:LABELS",
        help="workspace, image layer and labels layer (repeatable)",
    )
    p.add_argument("--kind", choices=["deep", "shallow"], default="deep")
    p.add_argument("--registry", help="workspace to register into (default: the first source)")
    p.add_argument("--name", help="registry name")
    p.add_argument("--out", help="deep: keep the model file and reports here")
    p.add_argument("--config", help="deep: training settings YAML")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--init-model", help="deep: fine-tune this registered model or model file")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--features", help="shallow: feature layers or a preset, comma-separated")
    p.add_argument("--classifier", default="rf", help="shallow classifier (default: rf)")
    p.add_argument("--rng", type=int, default=0, help="random seed")
    p.set_defaults(func=cmd_models_train_pooled)

    ws_sub = _subparsers(sub.choices["workspace"])
    p = ws_sub.add_parser("roi", help="create a sub-workspace from a region of a workspace")
    p.add_argument("parent", help="the workspace to cut from")
    p.add_argument("child", help="the new sub-workspace folder")
    p.add_argument("--roi", required=True, help="region 'z0:z1,y0:y1,x0:x1' of the parent")
    p.add_argument(
        "--layer", action="append", default=[], help="another layer to copy (repeatable)"
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_workspace_roi)

    p = ws_sub.add_parser(
        "pull-back", help="write a sub-workspace's layer into its parent at its offset"
    )
    p.add_argument("workspace", help="the sub-workspace")
    p.add_argument("layer")
    p.add_argument("--into", help="the parent's layer (default: LAYER)")
    p.add_argument(
        "--mode",
        choices=["only_unlabelled", "overwrite", "skip"],
        default="only_unlabelled",
        help="only_unlabelled: keep the parent's labels (default); overwrite: the region "
        "becomes the sub-workspace's layer; skip: leave an existing parent layer alone",
    )
    p.set_defaults(func=cmd_workspace_pull_back)

    p = ws_sub.add_parser("relink", help="point a sub-workspace at its moved parent")
    p.add_argument("workspace", help="the sub-workspace")
    p.add_argument("parent", help="the parent's new location")
    p.set_defaults(func=cmd_workspace_relink)

    lb_sub = _subparsers(sub.choices["labels"])
    p = lb_sub.add_parser(
        "export", help="export a label layer for other software (TIFF, HDF5, NRRD, ...)"
    )
    p.add_argument("workspace")
    p.add_argument("layer")
    p.add_argument("output", help="file (.tif, .h5, .ome.zarr, .nrrd, .mrc, .csv)")
    p.add_argument(
        "--format", choices=["tiff", "hdf5", "ome-zarr", "nrrd", "mrc", "csv"], default=None
    )
    p.add_argument("--with-image", action="store_true", help="OME-Zarr: include the raw image")
    p.add_argument("--surface", action="store_true", help="CSV: also measure surface areas")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_labels_export)
