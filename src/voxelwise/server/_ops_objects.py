"""Job operations of object classification and point data: find objects, train and apply an
object classifier, rasterise (and refine) a point set, cluster patches at points.

Each runs on a dask worker and works on the workspace, where the objects and points packages
keep their files (``objects/`` and ``points/`` folders). Object models are kept in the
workspace too, as ``objects/models/NAME.pt`` (CNN) or ``NAME.npz`` (forest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxelwise.errors import OutputExistsError
from voxelwise.server._ops_common import open_workspace
from voxelwise.server._tasks import JobContext, jsonable

__all__ = [
    "MODEL_SUFFIXES",
    "find_object_model",
    "object_model_target",
    "object_models",
    "objects_find",
    "objects_predict",
    "objects_train",
    "points_cluster",
    "points_rasterize",
]

MODEL_SUFFIXES = {"cnn": ".pt", "forest": ".npz"}


def _models_folder(ws: Any) -> Path:
    return Path(ws.path) / "objects" / "models"


def object_models(ws: Any) -> dict[str, str]:
    """Object model name -> method (``"cnn"`` or ``"forest"``) of a workspace."""
    folder = _models_folder(ws)
    if not folder.is_dir():
        return {}
    out = {}
    for method, suffix in MODEL_SUFFIXES.items():
        for f in sorted(folder.glob(f"*{suffix}")):
            out[f.stem] = method
    return dict(sorted(out.items()))


def find_object_model(ws: Any, name: str) -> Path:
    """The file of the object model ``name``; a 404-mapped error naming the models otherwise."""
    from voxelwise.objects import ModelNotFoundError

    for suffix in MODEL_SUFFIXES.values():
        path = _models_folder(ws) / f"{name}{suffix}"
        if path.is_file():
            return path
    known = ", ".join(object_models(ws)) or "none"
    raise ModelNotFoundError(
        f"No object model named {name!r} in this workspace (models: {known}); train one with "
        "POST .../objects/{layer}/train"
    )


def object_model_target(ws: Any, name: str, method: str, overwrite: bool) -> Path:
    """Where a new object model goes; refuses to replace one unless ``overwrite``."""
    existing = object_models(ws)
    if name in existing and not overwrite:
        raise OutputExistsError(
            f"An object model named {name!r} ({existing[name]}) exists already in this "
            "workspace; pass overwrite=true or choose another name"
        )
    return _models_folder(ws) / f"{name}{MODEL_SUFFIXES[method]}"


def objects_find(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.objects import find_objects, objects_table

    ws = open_workspace(root, name)
    ctx.progress(0.0, f"finding the objects of {p['source']}", force=True)
    info = find_objects(
        ws,
        p["source"],
        value=p.get("value"),
        min_size=int(p.get("min_size", 0)),
        connectivity=int(p.get("connectivity", 1)),
        name=p.get("name"),
        overwrite=bool(p.get("overwrite", False)),
    )
    if "raw" in ws:  # measure now, so the labelling routes answer at once (the table is cached)
        ctx.progress(0.5, f"measuring the objects of {info.name}", force=True)
        objects_table(ws, info.name, image="raw")
    return jsonable({"layer": info.name, "n_objects": info.params.get("n_objects")})


def objects_train(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.objects import train_objects

    ws = open_workspace(root, name)
    method = p.get("method", "cnn")
    overwrite = bool(p.get("overwrite", False))
    target = object_model_target(ws, p["model"], method, overwrite)
    for other in MODEL_SUFFIXES.values():  # a replaced model may change its method
        if overwrite and other != target.suffix:
            target.with_suffix(other).unlink(missing_ok=True)
    model = train_objects(
        ws,
        p["layer"],
        method=method,
        image=p.get("image", "raw"),
        arch=p.get("arch", "minimal"),
        ndim=int(p.get("ndim", 2)),
        size=p.get("size", "auto"),
        dilate=int(p.get("dilate", 0)),
        epochs=int(p.get("epochs", 60)),
        min_size=int(p.get("min_size", 1)),
        rng=p.get("rng", 0),
        device=p.get("device", "auto"),
        save=target,
        overwrite=overwrite,
        progress=ctx.stage(0.0, 1.0, f"training a {method} on the labelled objects"),
    )
    summary = model.summary()
    ctx.log(f"trained a {method} on {summary['training'].get('objects')} objects")
    return jsonable({"model": p["model"], **summary})


def objects_predict(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.objects import load_object_model, predict_objects

    ws = open_workspace(root, name)
    model = load_object_model(find_object_model(ws, p["model"]))
    info, table = predict_objects(
        ws,
        p["layer"],
        model,
        image=p.get("image", "raw"),
        name=p.get("name"),
        label_set=p.get("label_set"),
        min_size=int(p.get("min_size", 1)),
        tta=bool(p.get("tta", True)),
        overwrite=bool(p.get("overwrite", False)),
        progress=ctx.stage(0.0, 1.0, "classifying the objects"),
    )
    names = [str(n) for n in table["class_name"].tolist()]
    counts = {c: names.count(c) for c in table.meta["class_names"]}
    return jsonable({"layer": info.name, "objects": len(table), "counts": counts})


def points_rasterize(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.points import rasterize_layer

    ws = open_workspace(root, name)
    what = "refining" if p.get("refine") else "rasterising"
    info = rasterize_layer(
        ws,
        p["points"],
        name=p.get("name"),
        size=p.get("size"),
        aspect=p.get("aspect") or (1.0, 1.0, 1.0),
        orientation=p.get("orientation"),
        values=p.get("values", "class"),
        refine=p.get("refine"),
        feature=p.get("feature", "raw"),
        iterations=int(p.get("iterations", 30)),
        smoothing=int(p.get("smoothing", 1)),
        balloon=float(p.get("balloon", 0.0)),
        margin=float(p.get("margin", 0.5)),
        per_slice=p.get("per_slice"),
        overwrite=bool(p.get("overwrite", False)),
        progress=ctx.stage(0.0, 1.0, f"{what} the points of {p['points']}"),
    )
    return jsonable({"layer": info.name, "points": p["points"]})


def points_cluster(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.points import cluster_points
    from voxelwise.points._store import FOLDER

    ws = open_workspace(root, name)
    size: Any = p.get("size", 32)
    bin_: Any = p.get("bin", 1)
    features: Any = "handcrafted"
    if p.get("model"):
        from voxelwise.objects import ObjectsError, load_object_model

        model = load_object_model(find_object_model(ws, p["model"]))
        if model.method != "cnn":
            raise ObjectsError(
                f"Object model {p['model']!r} is a {model.method}; patch embeddings need a CNN"
            )
        size, bin_ = list(model.plan.size), list(model.plan.bin)
        features = model.embed_images
    ctx.progress(0.0, f"clustering patches at the points of {p['points']}", force=True)
    png = Path(ws.path) / FOLDER / f"{p['points']}.clusters.png"
    table = cluster_points(
        ws,
        p["points"],
        image=p.get("image", "raw"),
        size=size,
        bin=bin_,
        features=features,
        min_cluster_size=int(p.get("min_cluster_size", 5)),
        embedding=p.get("embedding", "tsne"),
        on=p.get("on", "embedding"),
        png=png,
        rng=p.get("rng", 0),
    )
    clusters = table["cluster"]
    return jsonable(
        {
            "points": p["points"],
            "clusters": len(set(clusters.tolist()) - {-1}),
            "noise": int((clusters < 0).sum()),
        }
    )
