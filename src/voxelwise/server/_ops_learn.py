"""Job operations for learning and analysis: shallow and deep train/predict, instances,
measurements, the splitter, metrics and volume fractions (each runs on a dask worker)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from voxelwise.errors import LayerExistsError, OutputExistsError
from voxelwise.server._ops_common import model_path, open_workspace, table_path
from voxelwise.server._tasks import JobContext, jsonable

__all__ = [
    "deep_predict",
    "deep_train",
    "edit_instances",
    "fractions",
    "instances",
    "measure",
    "metrics",
    "shallow_predict",
    "shallow_train",
    "split",
]

SERVER_META = "voxelwise-server.json"


def _model_file(ws: Any, name: str | None) -> Path:
    from voxelwise.learn import ModelFileError

    folder = Path(ws.path) / "models"
    if name is None:
        files = sorted(folder.glob("*.npz"), key=lambda f: f.stat().st_mtime)
        if not files:
            raise ModelFileError(
                "No shallow model in this workspace yet; train one first (POST .../shallow/train)"
            )
        return files[-1]
    path = model_path(ws, name, deep=False)
    if not path.is_file():
        known = sorted(f.stem for f in folder.glob("*.npz"))
        raise ModelFileError(
            f"No shallow model named {name!r} in this workspace; models: {', '.join(known) or 'none'}"
        )
    return path


def shallow_train(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.learn import train

    ws = open_workspace(root, name)
    target = model_path(ws, p.get("model", "shallow"), deep=False)
    if target.exists() and not p.get("overwrite", True):
        raise OutputExistsError(
            f"A model named {target.stem!r} exists; pass overwrite=true or choose another model name"
        )
    model = train(
        ws,
        annotations=p["annotations"],
        features=p.get("features", "default"),
        mode=p.get("mode", "voxel"),
        classifier=p.get("classifier", "rf"),
        supervoxels=p.get("supervoxels", "supervoxels"),
        statistics=tuple(p.get("statistics") or ("mean", "std")),
        store_features=bool(p.get("store_features", True)),
        multiscale=bool(p.get("multiscale", False)),
        images=list(p.get("images") or ["raw"]),
        parent=p.get("parent"),
        labels=p.get("labels"),
        class_weight=_class_weight(p.get("class_weight", "balanced")),
        max_per_class=p.get("max_per_class", 20000),
        params=p.get("params"),
        rng=p.get("rng", 0),
        save=target,
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "training"),
    )
    meta = model.metadata()
    return {
        "model": target.stem,
        "images": list(p.get("images") or ["raw"]),
        "mode": meta.get("mode"),
        "classes": jsonable(meta.get("classes")),
        "label_set": meta.get("label_set"),
    }


def _class_weight(value: Any) -> Any:
    if isinstance(value, dict):
        return {int(k): float(v) for k, v in value.items()}
    return value


def shallow_predict(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.learn import predict

    ws = open_workspace(root, name)
    path = _model_file(ws, p.get("model"))
    ctx.log(f"predicting with model {path.stem}")
    out = predict(
        ws,
        path,
        name=p.get("name", "prediction"),
        refine=bool(p.get("refine", False)),
        smoothness=float(p.get("smoothness", 0.15)),
        parent_layer=p.get("parent_layer"),
        features=p.get("features", "auto"),
        supervoxels=p.get("supervoxels"),
        probabilities=bool(p.get("probabilities", True)),
        confidence=bool(p.get("confidence", True)),
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "predicting"),
    )
    return {"model": path.stem, "labels": out.labels, "layers": out.layers, "refined": out.refined}


def _label_names(ws: Any, layer: str) -> list[str] | None:
    info = ws.layer(layer)
    if info.label_set is None:
        return None
    labels = ws.label_set(info.label_set)
    if [lab.value for lab in labels] != list(range(1, len(labels) + 1)):
        return None
    return [lab.name for lab in labels]


def deep_train(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.deep import train
    from voxelwise.server._ops_images import channel_source, check_channels

    ws = open_workspace(root, name)
    layers = check_channels(ws, p.get("images") or [p.get("image", "raw")])
    model_name = p.get("model", "deep")
    target = model_path(ws, model_name, deep=True)
    if target.exists() and not p.get("overwrite", False):
        raise OutputExistsError(
            f"A deep model named {model_name!r} exists; pass overwrite=true or choose another name"
        )
    annotations = p["annotations"]
    config = dict(p.get("config") or {})
    config.setdefault("spacing", list(ws.spacing))
    names = _label_names(ws, annotations)
    if names and "label_names" not in config:
        config["label_names"] = names
    init = p.get("init_model")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _scratch(target.parent, "deep-train")
    try:
        result = train(
            (ws, layers[0]) if len(layers) == 1 else channel_source(ws, layers),
            (ws, annotations),
            out=tmp,
            config=config,
            roi=p.get("roi"),
            epochs=p.get("epochs"),
            max_minutes=p.get("max_minutes"),
            init_model=None if init is None else model_path(ws, init, deep=True) / "model.pt",
            device=p.get("device", "auto"),
            rng=p.get("rng", 0),
            progress=_epoch_reporter(ctx, tmp),
            channel_names=layers,
        )
        meta = {
            "annotations": annotations,
            "label_set": ws.layer(annotations).label_set,
            "images": layers,
        }
        (tmp / SERVER_META).write_text(json.dumps(meta), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "model": model_name,
        "best_val_miou": result.best_val_miou,
        "epochs": result.epochs,
        "stopped": result.stopped,
        "seconds": result.seconds,
        "images": layers,
        "history": jsonable(result.history),
    }


METRICS_LOG = "epoch metrics: "
"""Prefix of the job log line a deep training job writes after each epoch, followed by the
epoch's row of ``metrics.csv`` as JSON (``epoch``, ``train_loss``, ``val_loss``, ``val_miou``,
``lr``, ``seconds``), so clients can plot the curves while the job runs."""


def _epoch_reporter(ctx: JobContext, out: Path) -> Any:
    """A ``progress(epoch, epochs)`` callback that reports the job's progress and logs the
    epoch's metrics (the last row the training loop wrote to ``out/metrics.csv``)."""
    import csv

    stage = ctx.stage(0.0, 1.0, "training")

    def progress(epoch: int, epochs: int) -> None:
        metrics = out / "metrics.csv"
        if metrics.is_file():
            with open(metrics, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            if rows:
                row = {k: float(v) for k, v in rows[-1].items() if v not in (None, "")}
                ctx.log(METRICS_LOG + json.dumps(jsonable(row)))
        stage(epoch, epochs)

    return progress


def _deep_model_file(ws: Any, name: str) -> Path:
    """The ``model.pt`` of deep model ``name``: a training job's folder ``models/NAME/``, else
    a deep model of the workspace's registry (imported from another workspace or a file)."""
    from voxelwise.errors import VoxelwiseError

    file = model_path(ws, name, deep=True) / "model.pt"
    if file.is_file():
        return file
    try:
        info = ws.model(name)
    except (VoxelwiseError, KeyError):
        info = None
    if info is not None and info.kind == "deep" and Path(info.file).is_file():
        return Path(info.file)
    raise FileNotFoundError(
        f"No deep model named {name!r} in this workspace; train one first or import it "
        "(GET .../models lists the registered models)"
    )


def _scratch(folder: Path, what: str) -> Path:
    """A fresh scratch path ``.<what>-<host>-<pid>-<id>`` in ``folder``; scratch paths left by
    dead processes of this host (a killed worker) are removed first."""
    import psutil

    host = socket.gethostname()
    for old in folder.glob(f".{what}-{host}-*"):
        parts = old.name.rsplit("-", 2)
        if len(parts) == 3 and parts[1].isdigit() and not psutil.pid_exists(int(parts[1])):
            shutil.rmtree(old, ignore_errors=True)
    return folder / f".{what}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text)[:60] or "class"


def deep_predict(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    import dask.array as da
    import numpy as np
    import zarr

    from voxelwise.deep import load_model, predict
    from voxelwise.server._ops_images import channel_source, check_channels

    ws = open_workspace(root, name)
    file = _deep_model_file(ws, p.get("model", "deep"))
    folder = file.parent
    meta = (
        json.loads((folder / SERVER_META).read_text()) if (folder / SERVER_META).is_file() else {}
    )
    model = load_model(file)
    model_names = [str(p.get("model", "deep")), *(p.get("ensemble") or [])]
    members = [model] + [load_model(_deep_model_file(ws, m)) for m in model_names[1:]]
    if len(members) > 1:
        ctx.log(f"ensemble of {len(members)} models (top_k={p.get('top_k')})")
    images = p.get("images")
    if images is None:
        images = model.channel_names if model.channels > 1 else [p.get("image", "raw")]
    layers = check_channels(ws, images)
    out_name = p.get("name", "deep_prediction")
    outputs = list(p.get("outputs") or ["labels", "probabilities", "confidence"])
    overwrite = bool(p.get("overwrite", False))
    if out_name in ws and not overwrite:
        raise LayerExistsError(f"Layer {out_name!r} exists; pass overwrite=true or choose a name")
    tmp = _scratch(Path(ws.path), "deep-predict")
    written: list[str] = []
    try:
        predict(
            members if len(members) > 1 else model,
            channel_source(ws, layers),
            tmp,
            axes=p.get("axes", "auto"),
            fusion=p.get("fusion", "auto"),
            tta=bool(p.get("tta", False)),
            ensemble=p.get("top_k") if len(members) > 1 else None,
            outputs=outputs,
            batch_size=int(p.get("batch_size", 4)),
            device=p.get("device", "auto"),
            progress=ctx.stage(0.0, 0.8, "predicting"),
        )
        group = zarr.open_group(tmp, mode="r")
        names = [str(n) for n in (group.attrs.get("label_names") or [])]  # type: ignore[union-attr]
        steps: list[tuple[str, Any, str, dict[str, Any]]] = []
        if "labels" in outputs:
            steps.append((out_name, da.from_zarr(group["labels"]), "prediction", {}))
        if "probabilities" in outputs:
            probs = da.from_zarr(group["probabilities"])
            for c in range(probs.shape[0]):
                label = names[c] if c < len(names) else f"class{c}"
                layer = f"{out_name}_p_{_safe(str(label))}"
                steps.append((layer, probs[c].astype(np.float32), "probabilities", {}))
        for extra in ("confidence", "entropy"):
            if extra in outputs:
                arr = da.from_zarr(group[extra]).astype(np.float32)
                steps.append((f"{out_name}_{extra}", arr, "confidence", {}))
        clash = [s[0] for s in steps if s[0] in ws] if not overwrite else []
        if clash:
            raise LayerExistsError(f"Layer(s) {', '.join(clash)} exist; pass overwrite=true")
        for i, (layer, data, kind, _) in enumerate(steps):
            label_set = meta.get("label_set") if kind == "prediction" else None
            ws.add_layer(
                layer,
                data,
                kind=kind,
                sources=layers,
                params={
                    "model": model_names[0] if len(members) == 1 else model_names,
                    "job": ctx.job_id,
                },
                overwrite=overwrite,
                label_set=label_set,
                progress=ctx.stage(
                    0.8 + 0.2 * i / len(steps), 0.8 + 0.2 * (i + 1) / len(steps), f"writing {layer}"
                ),
            )
            written.append(layer)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"model": model_names[0], "models": model_names, "layers": written, "images": layers}


def instances(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.analysis import find_instances

    ws = open_workspace(root, name)
    info = find_instances(
        ws,
        p["source"],
        name=p.get("name"),
        value=p.get("value"),
        by_value=bool(p.get("by_value", False)),
        connectivity=int(p.get("connectivity", 1)),
        min_distance=p.get("min_distance"),
        fill=bool(p.get("fill", False)),
        min_size=int(p.get("min_size", 0)),
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "finding objects"),
    )
    return {"layer": info.name, "n_objects": info.params.get("n_objects")}


def edit_instances(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.analysis import edit_instances as _edit

    ws = open_workspace(root, name)
    info = _edit(
        ws,
        p["layer"],
        merge=p.get("merge"),
        delete=p.get("delete"),
        split=p.get("split"),
        min_distance=p.get("min_distance"),
        name=p.get("name"),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "editing objects"),
    )
    return {"layer": info.name}


def measure(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.analysis import analyze_layer

    ws = open_workspace(root, name)
    table_name = p.get("table") or f"{p['labels']}_measurements"
    out = table_path(ws, table_name)
    out.parent.mkdir(exist_ok=True)
    table = analyze_layer(
        ws,
        p["labels"],
        intensity=list(p.get("intensity") or []),
        surface=bool(p.get("surface", True)),
        out=out,
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "measuring objects"),
    )
    return {"table": table_name, "rows": len(table), "columns": list(table.names)}


def split(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.analysis import SplitRules, Table, split_layer

    ws = open_workspace(root, name)
    source = table_path(ws, p["table"])
    if not source.is_file():
        raise FileNotFoundError(f"No table named {p['table']!r}; measure a layer first")
    layer_name = p.get("name")
    info, table = split_layer(
        ws,
        Table.read(source),
        SplitRules.from_dict(p["rules"]),
        labels=p.get("labels"),
        name=layer_name,
        label_set=p.get("label_set"),
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "splitting objects"),
    )
    out_table = f"{info.name}_table"
    table.write(table_path(ws, out_table))
    return {"layer": info.name, "table": out_table, "rows": len(table)}


def metrics(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.analysis import layer_metrics

    ws = open_workspace(root, name)
    report = layer_metrics(
        ws,
        p["pred"],
        p["truth"],
        classes=p.get("classes"),
        ignore_label=p.get("ignore_label"),
        instances=bool(p.get("instances", False)),
        thresholds=tuple(p.get("thresholds") or (0.5, 0.75)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "comparing layers"),
    )
    return {"report": jsonable(report.to_dict())}


def fractions(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.analysis import layer_volume_fractions

    ws = open_workspace(root, name)
    table_name = p.get("table") or f"{p['classes']}_fractions"
    out = table_path(ws, table_name)
    out.parent.mkdir(exist_ok=True)
    table = layer_volume_fractions(
        ws,
        p["classes"],
        within=p.get("within"),
        values=p.get("values"),
        ignore_label=p.get("ignore_label"),
        out=out,
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "counting voxels"),
    )
    return {"table": table_name, "rows": len(table), "fractions": jsonable(table.to_dict())}
