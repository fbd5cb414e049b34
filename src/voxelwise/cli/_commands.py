"""One function per subcommand: parse options, call the library, print a short report."""

from __future__ import annotations

import argparse
from typing import Any

from voxelwise.cli._progress import progress_bar
from voxelwise.cli._report import print_json, print_table, workspace_report

__all__ = [
    "cmd_analyze",
    "cmd_annotate_import",
    "cmd_convert",
    "cmd_datasets_fetch",
    "cmd_datasets_list",
    "cmd_demo",
    "cmd_features",
    "cmd_info",
    "cmd_labels_add",
    "cmd_labels_list",
    "cmd_metrics",
    "cmd_shallow_predict",
    "cmd_shallow_train",
    "cmd_split",
    "cmd_supervoxels",
    "cmd_workspace_create",
    "cmd_workspace_delete_layer",
    "cmd_workspace_export",
    "cmd_workspace_info",
]


def _fmt_spacing(spacing: Any, unit: str | None) -> str:
    if spacing is None:
        return "unknown (the file stores none)"
    return " x ".join(f"{v:g}" for v in spacing) + (f" {unit}" if unit else "")


def cmd_info(args: argparse.Namespace) -> None:
    from voxelwise._compute import compute
    from voxelwise.io import open_volume

    vol = open_volume(args.path, key=args.key, level=args.level)
    data = vol.data
    rows: list[tuple[str, Any]] = [
        ("path", vol.path),
        ("format", vol.format + (f" (key {vol.key})" if vol.key else "")),
        ("shape", " x ".join(str(s) for s in data.shape) + "  (z, y, x)"),
        ("dtype", data.dtype),
        ("chunks", " x ".join(str(c) for c in data.chunksize)),
        ("voxel size", _fmt_spacing(vol.spacing, vol.unit)),
    ]
    if vol.levels > 1:
        rows.append(("pyramid", f"{vol.levels} levels (showing level {vol.level})"))
    rows.append(("size", f"{data.nbytes / 2**20:.1f} MiB"))
    if not args.no_range:
        import dask.array as da
        import numpy as np

        floating = np.issubdtype(data.dtype, np.floating)
        lo, hi = (da.nanmin, da.nanmax) if floating else (da.min, da.max)
        with progress_bar("value range", enabled=not args.quiet, unit="task") as progress:
            vmin, vmax = compute(lo(data), hi(data), progress=progress)
        rows.append(("value range", f"{vmin} .. {vmax}"))
    print_table(rows)


def cmd_convert(args: argparse.Namespace) -> None:
    from voxelwise.io import open_volume, write_volume

    vol = open_volume(args.input, key=args.key, roi=args.roi, bin=args.bin)
    with progress_bar("convert", enabled=not args.quiet) as progress:
        out = write_volume(
            vol,
            args.output,
            chunks=args.chunks,
            spacing=args.spacing,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=progress,
        )
    shape = " x ".join(str(s) for s in vol.data.shape)
    print(f"wrote {out} ({shape} {vol.data.dtype})")


def cmd_workspace_create(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    with progress_bar("import", enabled=not args.quiet) as progress:
        ws = Workspace.create(
            args.workspace,
            args.image,
            key=args.key,
            roi=args.roi,
            bin=args.bin,
            spacing=args.spacing,
            chunks=args.chunks,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=progress,
        )
    _print_workspace(ws)


def _print_workspace(ws: Any) -> None:
    print(workspace_report(ws))


def cmd_workspace_info(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    _print_workspace(Workspace.open(args.workspace))


def cmd_workspace_export(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    with progress_bar("export", enabled=not args.quiet) as progress:
        out = ws.export(args.layer, args.output, overwrite=args.overwrite, progress=progress)
    print(f"wrote {out}")


def cmd_workspace_delete_layer(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    ws.delete_layer(args.layer)
    print(f"deleted layer {args.layer!r} from {args.workspace}")


def cmd_datasets_list(args: argparse.Namespace) -> None:
    from voxelwise.data import datasets

    rows = [
        (
            info.name,
            " x ".join(str(s) for s in info.shape),
            _fmt_spacing(info.spacing, info.unit),
            info.description,
        )
        for info in datasets()
    ]
    print_table(rows, widths=(10, 16, 22), sep=" ", fit=False)


def cmd_datasets_fetch(args: argparse.Namespace) -> None:
    from voxelwise.data import fetch

    path = fetch(args.name, root=args.root, progress=not args.quiet)
    print(f"{args.name}: {path}")


def cmd_demo(args: argparse.Namespace) -> None:
    from voxelwise.cli._progress import StageBar
    from voxelwise.workflows import run_demo

    with StageBar("demo", enabled=not args.quiet) as bar:
        report = run_demo(
            args.out,
            dataset=args.dataset,
            truth=args.truth,
            data_root=args.data_root,
            roi=args.roi,
            quick=args.quick,
            threads=args.threads,
            rng=args.seed,
            scheduler=args.scheduler,
            progress=bar.progress,
            on_stage=bar.on_stage,
        )
    print(report.summary())


def cmd_features(args: argparse.Namespace) -> None:
    from voxelwise import filters
    from voxelwise.workspace import Workspace

    if args.list:
        for name in filters.list_filters(plugins=True):
            summary = filters.get_filter(name).summary
            print(f"{name:<30} {summary}".rstrip())
        print("presets: " + ", ".join(filters.list_presets()))
        return
    specs: list[Any] = [filters.parse_filter_arg(f) for f in args.filter]
    if args.preset or not specs:
        specs.extend(filters.load_preset(args.preset or "default"))
    ws = Workspace.open(args.workspace)
    with progress_bar("features", enabled=not args.quiet) as progress:
        names = filters.compute_features(
            ws,
            specs,
            source=args.source,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=progress,
        )
    print(f"wrote {len(names)} feature layers: {', '.join(names)}")


def cmd_supervoxels(args: argparse.Namespace) -> None:
    from voxelwise.supervoxels import compute_supervoxels
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    with progress_bar("supervoxels", enabled=not args.quiet) as progress:
        layer = compute_supervoxels(
            ws,
            source=args.source,
            name=args.name,
            method=args.method,
            size=args.size,
            compactness=args.compactness,
            mask=args.mask,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=progress,
        )
    count = (layer.params or {}).get("n_supervoxels")
    extra = f" ({count} supervoxels)" if count else ""
    print(f"wrote layer {layer.name!r}{extra}")


def cmd_annotate_import(args: argparse.Namespace) -> None:
    from voxelwise.annotate import import_labels
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    with progress_bar("import", enabled=not args.quiet) as progress:
        layer = import_labels(
            ws,
            args.file,
            name=args.name,
            key=args.key,
            roi=args.roi,
            label_set=args.label_set,
            add_missing=args.add_missing,
            overwrite=args.overwrite,
            progress=progress,
        )
    print(f"imported {args.file} as annotation layer {layer.name!r}")


def cmd_labels_add(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    label = ws.add_label(
        args.label_set, args.label, value=args.value, color=args.color, parent=args.parent
    )
    parent = f", parent {label.parent}" if label.parent else ""
    print(f"label {label.name!r} = {label.value} in set {args.label_set!r}{parent}")


def cmd_labels_list(args: argparse.Namespace) -> None:
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    sets = ws.label_sets()
    if not sets:
        print("no label sets (add one with: voxelwise labels add WS --set NAME --label NAME)")
    for set_name, labels in sets.items():
        print(f"{set_name}:")
        for lab in labels:
            parent = f"  (in {lab.parent})" if lab.parent else ""
            hex_color = "#{:02x}{:02x}{:02x}".format(*lab.color[:3])
            print(f"  {lab.value:>5}  {lab.name:<20} {hex_color}{parent}")


def cmd_analyze(args: argparse.Namespace) -> None:
    from voxelwise.analysis import analyze_layer
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    with progress_bar("measure", enabled=not args.quiet) as progress:
        table = analyze_layer(
            ws,
            args.labels,
            intensity=args.intensity,
            surface=not args.no_surface,
            out=args.out,
            scheduler=args.scheduler,
            progress=progress,
        )
    print(f"measured {len(table)} objects of {args.labels!r} into {args.out}")


def cmd_split(args: argparse.Namespace) -> None:
    from voxelwise.analysis import split_layer
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    with progress_bar("split", enabled=not args.quiet) as progress:
        layer, table = split_layer(
            ws,
            args.table,
            args.rules,
            name=args.name,
            out=args.out,
            overwrite=args.overwrite,
            progress=progress,
        )
    counts: dict[str, int] = {}
    for name in table["class_name"].tolist():
        counts[str(name)] = counts.get(str(name), 0) + 1
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    print(f"wrote class layer {layer.name!r} ({summary})")


def _int_list(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise ValueError(f"Expected class values like '1,2,3', got {text!r} instead") from e


def cmd_metrics(args: argparse.Namespace) -> None:
    from voxelwise import analysis

    classes = _int_list(args.classes)
    with progress_bar("metrics", enabled=not args.quiet, unit="task") as progress:
        if args.workspace:
            from voxelwise.workspace import Workspace

            report: Any = analysis.layer_metrics(
                Workspace.open(args.workspace),
                args.pred,
                args.truth,
                classes=classes,
                ignore_label=args.ignore_label,
                instances=args.instances,
                scheduler=args.scheduler,
                progress=progress,
            )
        else:
            from voxelwise.io import open_volume

            pred, truth = open_volume(args.pred).data, open_volume(args.truth).data
            if args.instances:
                report = analysis.instance_metrics(
                    pred, truth, ignore_label=args.ignore_label, progress=progress
                )
            else:
                report = analysis.segmentation_metrics(
                    pred,
                    truth,
                    classes=classes,
                    ignore_label=args.ignore_label,
                    scheduler=args.scheduler,
                    progress=progress,
                )
    if args.json:
        print_json(report.to_dict())
    else:
        print(report)


def _key_value(text: str, option: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read as YAML (numbers, booleans, null, strings)."""
    import yaml

    from voxelwise.errors import VoxelwiseError

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise VoxelwiseError(f"{option} expects KEY=VALUE (e.g. n_estimators=200), got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def cmd_shallow_train(args: argparse.Namespace) -> None:
    from pathlib import Path

    from voxelwise import learn
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    features: Any = args.features or "default"
    if isinstance(features, list) and len(features) == 1:
        features = features[0]
    save = Path(args.save) if args.save else ws.path.with_suffix(".shallow.npz")
    params = dict(_key_value(text, "--param") for text in args.param) or None
    images: Any = args.images or "raw"
    with progress_bar("train", enabled=not args.quiet) as progress:
        learn.train(
            ws,
            annotations=args.annotations,
            features=features,
            mode=args.mode,
            classifier=args.classifier,
            supervoxels=args.supervoxels,
            images=images,
            parent=args.parent,
            params=params,
            save=save,
            scheduler=args.scheduler,
            progress=progress,
        )
    print(f"trained {args.classifier} ({args.mode} mode) on {args.annotations!r}; model: {save}")


def cmd_shallow_predict(args: argparse.Namespace) -> None:
    from voxelwise import learn
    from voxelwise.errors import VoxelwiseError
    from voxelwise.workspace import Workspace

    ws = Workspace.open(args.workspace)
    model = args.model or learn.latest_model(ws)
    if model is None:
        raise VoxelwiseError(
            f"No trained model found for {args.workspace}; train one first with "
            "`voxelwise shallow train WS --annotations NAME` or pass --model FILE"
        )
    with progress_bar("predict", enabled=not args.quiet) as progress:
        learn.predict(
            ws,
            model,
            name=args.name,
            refine=args.refine,
            smoothness=args.smoothness,
            parent_layer=args.parent_layer,
            overwrite=args.overwrite,
            scheduler=args.scheduler,
            progress=progress,
        )
    print(f"wrote {args.name!r} with per-class probabilities and confidence layers")
