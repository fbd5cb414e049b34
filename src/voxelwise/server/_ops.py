"""Job operations on workspaces: create, export, import labels, features, supervoxels, probe.

Each operation is ``op(ctx, data_root, workspace, params) -> dict`` and runs on a worker. Client
paths were checked when the job was submitted; they are checked again here, since a job may be
resubmitted with changed parameters.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxelwise.server._ops_common import open_workspace
from voxelwise.server._paths import confine, relative_to_root, workspace_path
from voxelwise.server._settings import EXPORTS_DIR
from voxelwise.server._tasks import JobContext

__all__ = ["OPERATIONS"]

Operation = Callable[[JobContext, Path, "str | None", dict[str, Any]], dict[str, Any]]


def create_workspace(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.workspace import Workspace

    assert name is not None
    image = confine(root, p["image"], what="image path", user=ctx.owner, must_exist=True)
    ws = Workspace.create(
        workspace_path(root, name),
        image,
        roi=p.get("roi"),
        bin=p.get("bin", 1),
        chunks=p.get("chunks"),
        spacing=p.get("spacing"),
        unit=p.get("unit"),
        key=p.get("key"),
        overwrite=bool(p.get("overwrite", False)),
        name=name,
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "importing the image"),
    )
    return {"workspace": name, "shape": list(ws.shape), "dtype": str(ws.dtype)}


def export(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    ws = open_workspace(root, name)
    exports = root / EXPORTS_DIR
    exports.mkdir(exist_ok=True)
    target = confine(exports, p["path"], what="export path", user=ctx.owner)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = ws.export(
        p["layer"],
        target,
        level=int(p.get("level", 0)),
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, f"writing {p['layer']}"),
    )
    return {"path": relative_to_root(root, written), "layer": p["layer"]}


def import_labels(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.annotate import import_labels as _import

    ws = open_workspace(root, name)
    source = confine(root, p["path"], what="label path", user=ctx.owner, must_exist=True)
    info = _import(
        ws,
        source,
        name=p["name"],
        key=p.get("key"),
        roi=p.get("roi"),
        label_set=p.get("label_set"),
        add_missing=bool(p.get("add_missing", False)),
        overwrite=bool(p.get("overwrite", False)),
        author=ctx.owner,
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "importing labels"),
    )
    return {"layer": info.name}


def features(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.filters import compute_features

    ws = open_workspace(root, name)
    names = compute_features(
        ws,
        p.get("features", "default"),
        source=p.get("source", "raw"),
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "computing features"),
    )
    ctx.log(f"wrote {len(names)} feature layers")
    return {"layers": list(names)}


def supervoxels(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    from voxelwise.supervoxels import compute_supervoxels

    ws = open_workspace(root, name)
    info = compute_supervoxels(
        ws,
        source=p.get("source", "raw"),
        name=p.get("name", "supervoxels"),
        method=p.get("method", "slic"),
        size=p.get("size", 10),
        compactness=p.get("compactness"),
        mask=p.get("mask"),
        sigma=p.get("sigma", 1.5),
        gradient=bool(p.get("gradient", True)),
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=ctx.stage(0.0, 1.0, "computing supervoxels"),
    )
    return {"layer": info.name, "n_supervoxels": info.params.get("n_supervoxels")}


def probe(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    seconds = float(p.get("seconds", 0.0))
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        ctx.progress(elapsed / seconds, f"holding the worker ({elapsed:.0f} of {seconds:.0f} s)")
        time.sleep(min(0.05, seconds - elapsed))
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
    return {
        "worker": str(getattr(ctx.worker, "address", None)),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": platform.python_version(),
        "sees_data_root": (root / ".voxelwise").is_dir(),
        "nvidia_smi": shutil.which("nvidia-smi") is not None,
        "cuda_visible_devices": gpus,
        "resources": dict(getattr(getattr(ctx.worker, "state", None), "total_resources", {}) or {}),
    }


def _operations() -> dict[str, Operation]:
    from voxelwise.server import _ops_active, _ops_images, _ops_workflows
    from voxelwise.server import _ops_learn as learn
    from voxelwise.server import _ops_objects as objects

    return {
        "create_workspace": create_workspace,
        "add_image": _ops_images.add_image,
        "run_workflow": _ops_workflows.run_workflow,
        "apply_model": _ops_workflows.apply_model,
        "export": export,
        "import_labels": import_labels,
        "features": features,
        "supervoxels": supervoxels,
        "probe": probe,
        "shallow_train": learn.shallow_train,
        "shallow_predict": learn.shallow_predict,
        "deep_train": learn.deep_train,
        "deep_predict": learn.deep_predict,
        "instances": learn.instances,
        "edit_instances": learn.edit_instances,
        "measure": learn.measure,
        "split": learn.split,
        "metrics": learn.metrics,
        "fractions": learn.fractions,
        "active_propose": _ops_active.active_propose,
        "active_update": _ops_active.active_update,
        "objects_find": objects.objects_find,
        "objects_train": objects.objects_train,
        "objects_predict": objects.objects_predict,
        "points_rasterize": objects.points_rasterize,
        "points_cluster": objects.points_cluster,
    }


OPERATIONS: dict[str, Operation] = _operations()
