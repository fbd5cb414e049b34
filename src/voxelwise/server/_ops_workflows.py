"""The job operation that replays a recorded workflow on a server workspace.

A workflow names its inputs by role and may name model files (trained results reused when a
training input is absent). On the server every such file must lie under the data root: paths
are taken relative to it (absolute paths inside it, as a workflow exported from a server
workspace holds, are accepted too) and refused when they lead outside, before the job starts
and again on the worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voxelwise.server._ops_common import TABLES, open_workspace
from voxelwise.server._paths import confine, relative_to_root
from voxelwise.server._tasks import JobContext, jsonable

__all__ = ["apply_model", "confine_workflow", "run_workflow", "server_relative_workflow"]


def _relative(root: Path, value: str) -> str:
    """An absolute path inside ``root`` as a root-relative one; anything else as it is."""
    path = Path(value)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return value  # outside the root: confine() refuses it with a clear message
    return value


def _file_fields(step: dict[str, Any]) -> list[tuple[dict[str, Any], str, int | None]]:
    """Where a step names files: (container, key, index in a list or None)."""
    out: list[tuple[dict[str, Any], str, int | None]] = []
    if isinstance(step.get("model_file"), str):
        out.append((step, "model_file", None))
    params = step.get("params")
    if isinstance(params, dict):
        if isinstance(params.get("model_file"), str):
            out.append((params, "model_file", None))
        files = params.get("model_files")
        if isinstance(files, str):
            out.append((params, "model_files", None))
        elif isinstance(files, list):
            out += [(params, "model_files", i) for i, f in enumerate(files) if isinstance(f, str)]
    return out


def confine_workflow(root: Path, workflow: dict[str, Any], *, user: str | None) -> dict[str, Any]:
    """A validated workflow with every model file it names checked to lie under ``root`` and
    made absolute (a copy; raises :class:`PathRefusedError` for a path outside the root)."""
    import copy

    out = copy.deepcopy(workflow)
    for step in out.get("steps", []):
        for where, key, index in _file_fields(step):
            value = where[key] if index is None else where[key][index]
            path = str(confine(root, _relative(root, value), what="model file", user=user))
            if index is None:
                where[key] = path
            else:
                where[key][index] = path
    return out


def server_relative_workflow(root: Path, workflow: dict[str, Any]) -> dict[str, Any]:
    """An exported workflow with the model files it names relative to the data root (what a
    client sees and may send back to replay it on another workspace)."""
    import copy

    out = copy.deepcopy(workflow)
    for step in out.get("steps", []):
        for where, key, index in _file_fields(step):
            value = where[key] if index is None else where[key][index]
            rel = relative_to_root(root, value)
            if index is None:
                where[key] = rel
            else:
                where[key][index] = rel
    return out


def run_workflow(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    """Replay ``p["workflow"]`` on the workspace ``name`` (see
    :func:`voxelwise.workflows.run_workflow`); tables and trained models go to the workspace's
    ``tables/`` folder (models are then listed by the registry)."""
    from voxelwise.workflows import run_workflow as replay
    from voxelwise.workflows import validate_workflow

    ws = open_workspace(root, name)
    workflow = confine_workflow(root, validate_workflow(p["workflow"]), user=ctx.owner)
    inputs = {
        role: confine(root, path, what=f"file of input {role!r}", user=ctx.owner, must_exist=True)
        for role, path in (p.get("inputs") or {}).items()
    }
    results = Path(ws.path) / TABLES
    steps = workflow["steps"]

    def on_stage(step: str, index: int, count: int) -> None:
        ctx.progress(index / max(count, 1), f"step {index + 1} of {count}: {step}", force=True)
        ctx.log(f"step {index + 1} of {count}: {step}")

    def progress(done: int, total: int) -> None:
        ctx.progress(done / total if total else 1.0, "running the workflow")

    report = replay(
        workflow,
        workspace=ws.path,
        inputs=inputs,
        train=p.get("train", "auto"),
        results=results,
        overwrite=bool(p.get("overwrite", False)),
        scheduler=ctx.scheduler,
        progress=progress,
        on_stage=on_stage,
    )
    ctx.log(f"ran {len(steps)} step(s) in {report.seconds:.1f} s")
    return {
        "workflow": report.name,
        "steps": [
            {
                "id": s.id,
                "step": s.step,
                "status": s.status,
                "outputs": list(s.outputs),
                "seconds": round(s.seconds, 3),
                "note": hide(root, s.note),
                "metrics": jsonable(s.result.get("metrics")),
            }
            for s in report.steps
        ],
        "layers": list(report.layers),
        "seconds": round(report.seconds, 3),
    }


def hide(root: Path, text: str) -> str:
    from voxelwise.server._errors import hide_root

    return hide_root(text, root)


def apply_model(ctx: JobContext, root: Path, name: str | None, p: dict[str, Any]) -> dict:
    """Apply a registered model (of this workspace, or of ``p["registry"]``) to the workspace
    (see :func:`voxelwise.models.apply_model`)."""
    from voxelwise.models import apply_model as _apply

    ws = open_workspace(root, name)
    registry = open_workspace(root, p["registry"]) if p.get("registry") else ws
    out = _apply(
        ws,
        p["model"],
        registry=registry,
        name=p.get("name", "prediction"),
        image=p.get("image", "raw"),
        overwrite=bool(p.get("overwrite", False)),
        device=p.get("device", "auto"),
        progress=ctx.stage(0.0, 1.0, f"applying model {p['model']}"),
    )
    return {"model": out.get("model"), "kind": out.get("kind"), "layers": list(out["layers"])}
