"""Running one workflow step on a workspace: the library call, then a complete run record.

Every step is recorded as a ``workflow.step`` run holding the step exactly as it ran (kind,
parameters, trained model file), so exporting the workspace gives back the same workflow even
where the library's own run records hold less (e.g. feature specs before their parameters were
resolved, or the seed of a network's training). The library runs recorded while the step ran
are listed under ``covers`` so the exporter does not count them twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.workflows._errors import WorkflowInputError
from voxelwise.workflows._plugins import is_plugin_step, run_plugin_step
from voxelwise.workflows._schema import STEP_KINDS, layer_refs

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["RECORD_STEP", "TRAIN_POLICIES", "StepContext", "StepOutcome", "execute_step"]

RECORD_STEP = "workflow.step"
TRAIN_POLICIES = ("auto", "always", "never")


@dataclass
class StepContext:
    """What steps share while a workflow runs: where results go and what earlier steps made."""

    ws: Workspace
    results: Path
    train: str = "auto"
    overwrite: bool = False
    base: Path = field(default_factory=Path.cwd)
    scheduler: Scheduler = None
    models: dict[str, Path] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    """How one step went: ``status`` is ``"ran"``, ``"reused"`` (a recorded model applied
    instead of training) or ``"skipped"`` (an optional input was not given); ``result`` holds
    what the step returned besides layers (a model file, a table's size, metrics)."""

    id: str
    step: str
    status: str
    outputs: list[str]
    seconds: float
    note: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def _recorded_model(step: dict[str, Any], ctx: StepContext, missing: str) -> Path:
    recorded = step.get("model_file")
    if recorded:
        path = _resolve(ctx, recorded)
        if path.is_file():
            return path
    raise WorkflowInputError(
        f"Step {step['id']!r} ({step['step']}) trains on the layer {missing!r}, which this run "
        f"lacks, and {'its recorded model ' + str(recorded) + ' does not exist' if recorded else 'no trained model is recorded'}; "
        f"give the input that provides {missing!r} (voxelwise run ... --input ROLE=FILE), or "
        "the model file"
    )


def _should_train(step: dict[str, Any], ctx: StepContext, needs: list[str]) -> str | None:
    """None to train; else the name of the missing layer that makes the step reuse a model."""
    missing = next((n for n in needs if n not in ctx.ws), None)
    if ctx.train == "never":
        return missing or needs[0]
    if missing is not None and ctx.train == "always":
        raise WorkflowInputError(
            f"Step {step['id']!r} ({step['step']}) needs the layer {missing!r} to train, and "
            "train='always' forbids reusing the recorded model; give the input that provides it"
        )
    return missing


def _features(ws: Workspace, p: dict[str, Any], ctx: StepContext, progress: Any) -> list[str]:
    from voxelwise.filters import compute_features

    return compute_features(
        ws,
        p["features"],
        source=p.get("source", "raw"),
        overwrite=ctx.overwrite,
        scheduler=ctx.scheduler,
        progress=progress,
    )


def _supervoxels(ws: Workspace, p: dict[str, Any], ctx: StepContext, progress: Any) -> list[str]:
    from voxelwise.supervoxels import compute_supervoxels

    info = compute_supervoxels(
        ws, **p, overwrite=ctx.overwrite, scheduler=ctx.scheduler, progress=progress
    )
    return [info.name]


def _instances(ws: Workspace, p: dict[str, Any], ctx: StepContext, progress: Any) -> list[str]:
    from voxelwise.analysis import find_instances

    info = find_instances(
        ws, **p, overwrite=ctx.overwrite, scheduler=ctx.scheduler, progress=progress
    )
    return [info.name]


def _out_file(ctx: StepContext, out: Any) -> Path | None:
    """Tables go to the results folder under the recorded file name (never a recorded path)."""
    return None if out is None else ctx.results / Path(str(out)).name


def _resolve(ctx: StepContext, path: Any) -> Path:
    """A model file named in a workflow: absolute, or relative to the workflow's folder."""
    p = Path(str(path))
    return p if p.is_absolute() else ctx.base / p


def _deep(name: str) -> Any:
    from voxelwise._optional import optional_import

    optional_import("torch", feature=f"the {name} step (deep learning)")
    import voxelwise.deep as deep

    return deep


def _run(step: dict[str, Any], ctx: StepContext, progress: Any) -> tuple[str, list[str], dict]:
    """Run the library call of ``step``: (status, layers written, result)."""
    ws, kind, sid = ctx.ws, step["step"], step["id"]
    p = dict(step["params"])
    if is_plugin_step(kind):
        return run_plugin_step(step, ctx, progress)
    if kind == "features":
        return "ran", _features(ws, p, ctx, progress), {}
    if kind == "supervoxels":
        return "ran", _supervoxels(ws, p, ctx, progress), {}
    if kind == "instances":
        return "ran", _instances(ws, p, ctx, progress), {}
    if kind == "shallow_train":
        needs = [p["annotations"]]
        missing = _should_train(step, ctx, needs)
        if missing is not None:
            ctx.models[sid] = _recorded_model(step, ctx, missing)
            return "reused", [], {"model_file": str(ctx.models[sid])}
        from voxelwise.learn import train

        save = ctx.results / f"{sid}.npz"
        train(ws, **p, save=save, scheduler=ctx.scheduler, progress=progress)
        ctx.models[sid] = save
        return "ran", [], {"model_file": str(save)}
    if kind == "shallow_predict":
        from voxelwise.learn import predict

        ref, file = p.pop("model", None), p.pop("model_file", None)
        model = ctx.models[ref] if ref else _resolve(ctx, file)
        out = predict(
            ws, model, **p, overwrite=ctx.overwrite, scheduler=ctx.scheduler, progress=progress
        )
        return "ran", out.layers, {}
    if kind == "deep_train":
        deep = _deep(kind)
        missing = _should_train(step, ctx, [p.get("image", "raw"), p["labels"]])
        if missing is not None:
            ctx.models[sid] = _recorded_model(step, ctx, missing)
            return "reused", [], {"model_file": str(ctx.models[sid])}
        labels = p.pop("labels")
        result = deep.train_workspace(
            ws, labels, **p, out=ctx.results / f"{sid}.pt", progress=progress
        )
        ctx.models[sid] = Path(result.model_path)
        ctx.trained[sid] = result
        return (
            "ran",
            [],
            {
                "model_file": str(result.model_path),
                "best_val_miou": result.best_val_miou,
                "epochs": result.epochs,
            },
        )
    if kind == "deep_predict":
        deep = _deep(kind)
        ids = p.pop("model", None) or []
        files = p.pop("model_files", None) or []
        ids = [ids] if isinstance(ids, str) else list(ids)
        files = [files] if isinstance(files, str) else list(files)
        members: list[Any] = [ctx.models[i] for i in ids]
        members += [_resolve(ctx, f) for f in files]
        out = deep.predict_workspace(
            ws,
            members if len(members) > 1 else members[0],
            **p,
            overwrite=ctx.overwrite,
            progress=progress,
        )
        return "ran", out.layers, {}
    if kind == "deep_from_shallow":
        from voxelwise.workflows._weak import run_from_shallow

        return run_from_shallow(step, ctx, progress)
    if kind == "measure":
        from voxelwise.analysis import analyze_layer

        out_file = _out_file(ctx, p.pop("out", None))
        table = analyze_layer(
            ws, p.pop("labels"), **p, out=out_file, scheduler=ctx.scheduler, progress=progress
        )
        ctx.tables[sid] = table
        return "ran", [], {"n_objects": len(table), "table": str(out_file) if out_file else None}
    if kind == "split":
        from voxelwise.analysis import SplitRules, split_layer

        table = ctx.tables[p.pop("table")]
        rules = p.pop("rules")
        rules = rules if isinstance(rules, SplitRules) else SplitRules.from_dict(rules)
        out_file = _out_file(ctx, p.pop("out", None))
        info, classified = split_layer(
            ws,
            table,
            rules,
            **p,
            out=out_file,
            overwrite=ctx.overwrite,
            scheduler=ctx.scheduler,
            progress=progress,
        )
        ctx.tables[sid] = classified
        return "ran", [info.name], {"table": str(out_file) if out_file else None}
    if kind == "metrics":
        from voxelwise.analysis import layer_metrics

        absent = [n for n in (p["pred"], p["truth"]) if n not in ws]
        if absent:
            return "skipped", [], {"missing": absent}
        report = layer_metrics(
            ws, p.pop("pred"), p.pop("truth"), **p, scheduler=ctx.scheduler, progress=progress
        )
        ctx.reports[sid] = report
        summary = report.to_dict()
        summary.pop("confusion", None)
        summary.pop("matches", None)
        return "ran", [], {"metrics": summary}
    raise WorkflowInputError(f"Step {sid!r}: no runner for step kind {kind!r}")  # pragma: no cover


def execute_step(
    step: dict[str, Any], ctx: StepContext, *, progress: ProgressCallback | None = None
) -> StepOutcome:
    """Run one validated workflow step on ``ctx.ws`` and record it as a ``workflow.step`` run.

    ``progress(done, total)`` follows the step's main pass (or a network's epochs) and may
    raise :class:`~voxelwise.errors.CancelledError`.
    """
    if step["step"] not in STEP_KINDS and not is_plugin_step(step["step"]):  # pragma: no cover
        raise WorkflowInputError(f"Unknown step {step['step']!r}")
    ws = ctx.ws
    before = max((r.id for r in ws.runs()), default=0)
    start = time.perf_counter()
    status, outputs, result = _run(step, ctx, progress)
    seconds = time.perf_counter() - start
    covers = [r.id for r in ws.runs() if r.id > before]
    note = ""
    if status == "reused":
        note = f"applied the recorded model {result['model_file']} (its training input is absent)"
    elif status == "skipped":
        note = f"skipped: layer(s) {', '.join(result['missing'])} not given"
    record = {
        "id": step["id"],
        "step": step["step"],
        "params": step["params"],
        "status": status,
        "covers": covers,
    }
    if "model_file" in result:
        record["model_file"] = result["model_file"]
    ws.record_run(
        RECORD_STEP,
        params=record,
        inputs=[n for _, n in layer_refs(step) if n in ws],
        outputs=outputs,
        duration=seconds,
    )
    return StepOutcome(step["id"], step["step"], status, list(outputs), seconds, note, result)
