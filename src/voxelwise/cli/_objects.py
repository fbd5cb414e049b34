"""``voxelwise objects`` (find, label, train, predict) and ``voxelwise points`` (import, export,
list, rasterize, cluster), over :mod:`voxelwise.objects` and :mod:`voxelwise.points`.

torch loads only when a CNN is trained or applied.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from voxelwise.cli._progress import progress_bar
from voxelwise.cli._report import print_table

__all__ = ["add_parsers"]


def _ints(text: str | None, what: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError as e:
        raise ValueError(f"Expected {what} as whole numbers like '1,2,3', got {text!r}") from e


def _floats(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError as e:
        raise ValueError(f"Expected {what} as numbers like '1' or '1,2,3', got {text!r}") from e
    return values[0] if len(values) == 1 else values


def _size(text: str) -> Any:
    if text == "auto":
        return "auto"
    values = _ints(text, "the patch size") or []
    return values[0] if len(values) == 1 else values


def _open(path: str) -> Any:
    from voxelwise.workspace import Workspace

    return Workspace.open(path)


# -- objects ----------------------------------------------------------------------------------


def _add_object_parsers(sub: Any) -> None:
    ob = sub.add_parser(
        "objects", help="classify objects by class from a few labelled ones (CNN or forest)"
    ).add_subparsers(dest="ob_command", required=True, metavar="ACTION")

    p = ob.add_parser("find", help="split a mask or class layer into objects (instances)")
    p.add_argument("workspace")
    p.add_argument("source", help="mask or class layer")
    p.add_argument("--value", help="class values to take, e.g. 2,3,4 (default: every non-zero)")
    p.add_argument("--min-size", type=int, default=0, help="drop objects under N voxels")
    p.add_argument("--name", help="output layer (default: <source>_objects)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_objects_find)

    p = ob.add_parser(
        "label",
        help="label objects by class; show unlabelled ones in a random order",
        description="Store class labels of objects (in the workspace). Without --set/--skip/"
        "--unlabel it lists the next unlabelled objects (random order fixed by --seed, or "
        "--ids in your order); --preview draws them as a PNG; --interactive asks for each.",
    )
    p.add_argument("workspace")
    p.add_argument("layer", help="instance layer")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ID=CLASS",
        help="give object ID the class CLASS (repeatable)",
    )
    p.add_argument("--skip", help="ids seen but left unlabelled, e.g. 4,9")
    p.add_argument("--unlabel", help="ids whose labels are removed")
    p.add_argument("--next", type=int, default=5, metavar="N", help="how many to list (5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random order (0)")
    p.add_argument("--ids", help="show these ids in this order instead of a random order")
    p.add_argument("--min-size", type=int, default=1, help="leave out objects under N voxels")
    p.add_argument("--preview", metavar="PNG", help="draw the listed objects into this PNG")
    p.add_argument("--interactive", action="store_true", help="ask for each object's class")
    p.set_defaults(func=cmd_objects_label)

    p = ob.add_parser("train", help="train a classifier on the labelled objects")
    p.add_argument("workspace")
    p.add_argument("layer", help="instance layer with labelled objects")
    p.add_argument("--method", choices=["cnn", "forest"], default="cnn")
    p.add_argument("--arch", choices=["minimal", "deep"], default="minimal", help="CNN")
    p.add_argument("--ndim", type=int, choices=[2, 3], default=2, help="CNN: 2D plane or 3D")
    p.add_argument("--size", default="auto", help="CNN patch size: auto, N or Z,Y,X voxels")
    p.add_argument("--dilate", type=int, default=0, help="CNN: dilate the mask by N voxels")
    p.add_argument("--epochs", type=int, default=60, help="CNN epochs (60)")
    p.add_argument("--image", default="raw", help="image layer (raw)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="CNN: auto, cpu, cuda[:N]")
    p.add_argument("--out", required=True, help="model file (.pt for a CNN, .npz for a forest)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_objects_train)

    p = ob.add_parser("predict", help="classify every object: class layer and table")
    p.add_argument("workspace")
    p.add_argument("layer", help="instance layer")
    p.add_argument("model", help="model file from `voxelwise objects train`")
    p.add_argument("--name", help="class layer (default: <layer>_classes)")
    p.add_argument("--image", default="raw", help="image layer (raw)")
    p.add_argument("--out", help="also write the table here (.csv or .parquet)")
    p.add_argument("--no-tta", action="store_true", help="CNN: no flip/rotation averaging")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_objects_predict)


def cmd_objects_find(args: argparse.Namespace) -> None:
    from voxelwise.objects import find_objects

    info = find_objects(
        _open(args.workspace),
        args.source,
        value=_ints(args.value, "class values"),
        min_size=args.min_size,
        name=args.name,
        overwrite=args.overwrite,
    )
    print(f"wrote instance layer {info.name!r} with {info.params['n_objects']} objects")


def _parse_set(items: list[str]) -> dict[int, str]:
    out = {}
    for item in items:
        key, sep, name = item.partition("=")
        if not sep or not key.strip().isdigit():
            raise ValueError(f"Expected --set ID=CLASS (e.g. 12=mitochondria), got {item!r}")
        out[int(key)] = name.strip()
    return out


def _interactive(ws: Any, args: argparse.Namespace) -> None:
    from voxelwise.objects import LabelSession, preview_objects

    session = LabelSession(
        ws, args.layer, rng=args.seed, ids=_ints(args.ids, "ids"), min_size=args.min_size
    )
    print("type a class name, Enter to skip, q to stop")
    while (oid := session.next()) is not None:
        if args.preview:
            preview_objects(ws, args.layer, [oid], args.preview)
        answer = input(f"object {oid}: ").strip()
        if answer == "q":
            break
        session.skip(oid) if answer == "" else session.label(oid, answer)
    print(f"{session.remaining} objects left; labels: {len(session.labels)}")


def cmd_objects_label(args: argparse.Namespace) -> None:
    from voxelwise.objects import (
        label_objects,
        next_objects,
        objects_table,
        preview_objects,
        skip_objects,
        unlabel_objects,
    )

    ws = _open(args.workspace)
    if args.interactive:
        _interactive(ws, args)
        return
    summary = None
    if args.set:
        summary = label_objects(ws, args.layer, _parse_set(args.set))
    if args.skip:
        summary = skip_objects(ws, args.layer, _ints(args.skip, "ids") or [])
    if args.unlabel:
        summary = unlabel_objects(ws, args.layer, _ints(args.unlabel, "ids") or [])
    if summary is not None:
        counts = ", ".join(f"{k}: {v}" for k, v in summary["classes"].items()) or "none"
        print(f"{summary['labelled']} labelled ({counts}), {summary['skipped']} skipped")
        return
    ids = next_objects(
        ws,
        args.layer,
        n=args.next,
        rng=args.seed,
        ids=_ints(args.ids, "ids"),
        min_size=args.min_size,
    )
    if not ids:
        print("every object has been labelled or skipped")
        return
    table = objects_table(ws, args.layer)
    rows = {int(i): r for r, i in enumerate(table["id"])}
    print("next objects to label (id, voxels, centroid z,y,x):")
    listed = []
    for i in ids:
        r = rows[i]
        zyx = ",".join(f"{float(table[f'centroid_{a}'][r]):.0f}" for a in "zyx")
        listed.append((i, int(table["volume_voxels"][r]), zyx))
    print_table(listed, widths=(7, 9), align=">>", indent="  ", fit=False)
    if args.preview:
        preview_objects(ws, args.layer, ids, args.preview)
        print(f"preview: {args.preview}")
    print(f"label them with: voxelwise objects label {args.workspace} {args.layer} --set ID=CLASS")


def cmd_objects_train(args: argparse.Namespace) -> None:
    from voxelwise.objects import train_objects

    with progress_bar("train", enabled=not args.quiet, unit="epoch") as progress:
        model = train_objects(
            _open(args.workspace),
            args.layer,
            method=args.method,
            image=args.image,
            arch=args.arch,
            ndim=args.ndim,
            size=_size(args.size),
            dilate=args.dilate,
            epochs=args.epochs,
            rng=args.seed,
            device=args.device,
            save=args.out,
            overwrite=args.overwrite,
            progress=progress,
        )
    info = model.summary()
    per_class = ", ".join(f"{k}: {v}" for k, v in info["training"]["per_class"].items())
    out = args.out
    if args.method == "forest" and not out.endswith(".npz"):
        out += ".npz"  # the forest's format
    print(f"trained a {args.method} on {info['training']['objects']} objects ({per_class})")
    print(f"model: {out}")


def cmd_objects_predict(args: argparse.Namespace) -> None:
    from voxelwise.objects import predict_objects

    with progress_bar("classify", enabled=not args.quiet, unit="object") as progress:
        info, table = predict_objects(
            _open(args.workspace),
            args.layer,
            args.model,
            image=args.image,
            name=args.name,
            out=args.out,
            tta=not args.no_tta,
            overwrite=args.overwrite,
            progress=progress,
        )
    names = [str(n) for n in table["class_name"].tolist()]
    counts = ", ".join(f"{c}: {names.count(c)}" for c in table.meta["class_names"])
    print(f"wrote class layer {info.name!r}: {len(table)} objects ({counts})")
    if args.out:
        print(f"table: {args.out}")


# -- points -----------------------------------------------------------------------------------


def _add_point_parsers(sub: Any) -> None:
    pt = sub.add_parser(
        "points", help="point annotations: import/export CSV, rasterise, cluster"
    ).add_subparsers(dest="pt_command", required=True, metavar="ACTION")

    p = pt.add_parser("import", help="import a CSV of points (z, y, x, class[, size, id])")
    p.add_argument("workspace")
    p.add_argument("csv")
    p.add_argument("--name", help="point set name (default: the file's stem)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_points_import)

    p = pt.add_parser("export", help="write a point set to CSV")
    p.add_argument("workspace")
    p.add_argument("name")
    p.add_argument("csv")
    p.set_defaults(func=cmd_points_export)

    p = pt.add_parser("list", help="list the point sets")
    p.add_argument("workspace")
    p.set_defaults(func=cmd_points_list)

    p = pt.add_parser("rasterize", help="ellipsoids at the points, optionally refined")
    p.add_argument("workspace")
    p.add_argument("name", help="point set")
    p.add_argument(
        "--size", help="diameter(s) in physical units: D or DZ,DY,DX (default: each point's size)"
    )
    p.add_argument("--aspect", default="1,1,1", help="axis ratios for the points' own sizes")
    p.add_argument("--orientation", help="direction z,y,x of the ellipsoid's first axis")
    p.add_argument("--values", choices=["class", "id"], default="class")
    p.add_argument("--refine", choices=["chan_vese", "geodesic"], help="active contour")
    p.add_argument("--feature", default="raw", help="layer the contour follows (raw)")
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--smoothing", type=int, default=1)
    p.add_argument("--balloon", type=float, default=0.0, help="geodesic: >0 inflate, <0 deflate")
    p.add_argument("--layer-name", help="output layer (default: <name>_objects)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_points_rasterize)

    p = pt.add_parser("cluster", help="cluster patches at the points; 2D scatter PNG")
    p.add_argument("workspace")
    p.add_argument("name", help="point set")
    p.add_argument("--image", default="raw")
    p.add_argument("--patch-size", default="32", help="N or Z,Y,X voxels (32)")
    p.add_argument(
        "--model",
        help="object CNN (.pt) whose embedding describes the patches "
        "(default: handcrafted features)",
    )
    p.add_argument("--min-cluster-size", type=int, default=5)
    p.add_argument("--embedding", choices=["tsne", "umap", "pca"], default="tsne")
    p.add_argument(
        "--on",
        choices=["embedding", "features"],
        default="embedding",
        help="cluster the 2D embedding (default) or the descriptors",
    )
    p.add_argument("--png", help="scatter plot PNG")
    p.add_argument("--out", help="table of clusters (.csv or .parquet)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_points_cluster)


def cmd_points_import(args: argparse.Namespace) -> None:
    from voxelwise.points import import_points

    summary = import_points(
        _open(args.workspace), args.csv, name=args.name, overwrite=args.overwrite
    )
    print(f"imported {summary['points']} points as {summary['name']!r}")
    if summary["skipped"]:
        print(f"warning: {summary['message']}", file=sys.stderr)


def cmd_points_export(args: argparse.Namespace) -> None:
    from voxelwise.points import export_points

    path = export_points(_open(args.workspace), args.name, args.csv)
    print(f"wrote {path}")


def cmd_points_list(args: argparse.Namespace) -> None:
    from voxelwise.points import list_points

    sets = list_points(_open(args.workspace))
    if not sets:
        print("no point sets (import one with: voxelwise points import WS FILE.csv)")
    for name, n in sets.items():
        print(f"{name}  {n} points")


def cmd_points_rasterize(args: argparse.Namespace) -> None:
    from voxelwise.points import rasterize_layer

    with progress_bar("refine", enabled=not args.quiet and bool(args.refine), unit="object") as pr:
        info = rasterize_layer(
            _open(args.workspace),
            args.name,
            name=args.layer_name,
            size=_floats(args.size, "size"),
            aspect=_floats(args.aspect, "aspect"),
            orientation=_floats(args.orientation, "orientation"),
            values=args.values,
            refine=args.refine,
            feature=args.feature,
            iterations=args.iterations,
            smoothing=args.smoothing,
            balloon=args.balloon,
            overwrite=args.overwrite,
            progress=pr,
        )
    print(f"wrote label layer {info.name!r}")


def cmd_points_cluster(args: argparse.Namespace) -> None:
    from voxelwise.points import cluster_points

    size: Any = _size(args.patch_size)
    bin_: Any = 1
    features: Any = "handcrafted"
    if args.model:
        from voxelwise.objects import load_object_model

        model = load_object_model(args.model)
        if model.method != "cnn":
            raise ValueError(f"Expected a CNN model (.pt) for --model, got a {model.method}")
        size, bin_ = list(model.plan.size), list(model.plan.bin)
        features = model.embed_images
    table = cluster_points(
        _open(args.workspace),
        args.name,
        image=args.image,
        size=size,
        bin=bin_,
        features=features,
        min_cluster_size=args.min_cluster_size,
        embedding=args.embedding,
        on=args.on,
        png=args.png,
        out=args.out,
        rng=args.seed,
    )
    clusters = table["cluster"]
    n = len(set(clusters.tolist()) - {-1})
    print(f"{len(table)} points in {n} clusters ({int((clusters < 0).sum())} noise)")
    if args.png:
        print(f"scatter plot: {args.png}")


def add_parsers(sub: Any) -> None:
    """Register ``objects`` and ``points`` on the top-level subparsers."""
    _add_object_parsers(sub)
    _add_point_parsers(sub)
