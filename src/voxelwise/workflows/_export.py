"""Export the steps recorded in a workspace as a workflow that replays on new data.

Steps come from three kinds of records, in the order they were made:

- ``workflow.step`` runs (steps run through :func:`run_workflow` or the demo): complete, taken
  as they are; the library runs recorded inside them are not counted again;
- the library's own runs (``learn.train``, ``learn.predict``, ``deep.train``, ``deep.predict``,
  ``analysis.instances``, ``analysis.measure``, ``analysis.split``, ``analysis.metrics``);
- layers that record their parameters but no run: feature layers
  (:func:`voxelwise.filters.compute_features`) and supervoxel layers.

A layer a step reads that no earlier step makes becomes an input *role* (the raw image is the
``image`` role; an annotation layer ``scribbles`` the ``scribbles`` role, ...): the workflow
names no file, the files come when it is replayed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxelwise.workflows._schema import (
    FORMAT_VERSION,
    IMAGE_ROLE,
    INPUT_KINDS,
    RAW,
    expected_outputs,
    layer_refs,
    validate_workflow,
)
from voxelwise.workflows._steps import RECORD_STEP

if TYPE_CHECKING:
    from voxelwise.workspace import LayerInfo, RunInfo, Workspace

__all__ = ["export_workflow"]

#: Library runs that are bookkeeping, not steps.
_IGNORED = frozenset({"demo"})
#: Steps whose inputs are optional at replay (training reuses the recorded model; metrics skip).
_OPTIONAL_USERS = frozenset({"shallow_train", "deep_train", "deep_from_shallow", "metrics"})
#: Facts learn.train records with the classifier's parameters that are not parameters.
_RUN_FACTS = frozenset({"fit_seconds", "random_state"})


class _Builder:
    """Accumulates steps with unique ids, and the records it could not turn into steps."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.steps: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self._pending_features: dict[str, Any] | None = None

    def new_id(self, kind: str) -> str:
        taken = {s["id"] for s in self.steps}
        n = sum(1 for s in self.steps if s["step"] == kind) + 1
        while f"{kind}_{n}" in taken:
            n += 1
        return f"{kind}_{n}"

    def add(self, kind: str, params: dict[str, Any], outputs: list[str], **extra: Any) -> None:
        self.flush()
        step = {"id": self.new_id(kind), "step": kind, "params": params, "outputs": outputs}
        self.steps.append({**step, **{k: v for k, v in extra.items() if v is not None}})

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append({"record": what, "reason": reason})

    def last(self, kind: str, **match: Any) -> dict[str, Any] | None:
        for step in reversed(self.steps):
            if step["step"] == kind and all(step["params"].get(k) == v for k, v in match.items()):
                return step
        return None

    # -- feature layers (no run of their own): consecutive layers of one source, one step ---

    def feature_layer(self, info: LayerInfo) -> None:
        from voxelwise.filters import get_filter

        params = dict(info.params or {})
        name = params.pop("filter")
        output = params.pop("output", None)
        spec = get_filter(name)
        if list(params.get("spacing") or []) == list(self.ws.spacing):
            params.pop("spacing")
        if spec.resolve is not None:  # filled in from the whole volume: estimate afresh
            for key, default in spec.parameters().items():
                if default is None and key != "spacing":
                    params.pop(key, None)
        source = info.sources[0] if info.sources else RAW
        pending = self._pending_features
        if pending is None or pending["params"]["source"] != source:
            self.flush()
            pending = {"params": {"source": source, "features": []}, "outputs": [], "keys": {}}
            self._pending_features = pending
        pending["outputs"].append(info.name)
        key = json.dumps([name, params], sort_keys=True)
        if output is not None and key in pending["keys"]:
            return  # another output of a multi-output feature already listed
        feature: dict[str, Any] = {"filter": name, "params": params}
        default_names = _default_names(name, params)
        if info.name not in default_names:
            base = info.name
            if output is not None and base.endswith(f"_{output}"):
                base = base[: -len(output) - 1]
            feature["name"] = base
        pending["keys"][key] = feature
        pending["params"]["features"].append(feature)

    def flush(self) -> None:
        pending, self._pending_features = self._pending_features, None
        if pending is not None:
            step = {
                "id": self.new_id("features"),
                "step": "features",
                "params": pending["params"],
                "outputs": pending["outputs"],
            }
            self.steps.append(step)


def _default_names(filter_name: str, params: dict[str, Any]) -> list[str]:
    from voxelwise.filters import FeatureSpec

    return FeatureSpec(filter_name, params).output_names()


def _supervoxel_step(b: _Builder, info: LayerInfo) -> None:
    p = dict(info.params or {})
    params: dict[str, Any] = {
        "source": info.sources[0] if info.sources else RAW,
        "name": info.name,
        "method": p.get("method", "slic"),
        "size": p.get("size"),
        "compactness": p.get("compactness"),
        "sigma": p.get("sigma"),
    }
    if isinstance(p.get("mask"), str):
        params["mask"] = p["mask"]
    if p.get("method") == "watershed" and "gradient" in p:
        params["gradient"] = p["gradient"]
    b.add("supervoxels", {k: v for k, v in params.items() if v is not None}, [info.name])


def _model_statistics(path: Any) -> list[str] | None:
    """The per-supervoxel statistics a saved shallow model was trained with (None if unknown)."""
    if not path or not Path(path).is_file():
        return None
    from voxelwise.learn import load_model

    try:
        return list(load_model(path).statistics) or None
    except (OSError, ValueError):
        return None


def _same_file(a: Any, b: Any) -> bool:
    return bool(a) and bool(b) and Path(str(a)).absolute() == Path(str(b)).absolute()


def _library_run(b: _Builder, run: RunInfo) -> None:
    p, ins, outs = dict(run.params), list(run.inputs), list(run.outputs)
    ws = b.ws
    what = f"run {run.id} ({run.step})"
    if run.step == "learn.train":
        params: dict[str, Any] = {
            "annotations": p["annotations"],
            "features": list(p["features"]),
            "mode": p.get("mode", "voxel"),
            "classifier": p.get("classifier", "rf"),
            "params": {
                k: v for k, v in (p.get("classifier_params") or {}).items() if k not in _RUN_FACTS
            }
            or None,
            "parent": p.get("parent"),
            "max_per_class": p.get("max_per_class"),
        }
        if params["mode"] == "supervoxel" and ins:
            params["supervoxels"] = ins[-1]
            params["statistics"] = _model_statistics(p.get("model_file"))
        params = {k: v for k, v in params.items() if v is not None}
        b.add("shallow_train", params, [], model_file=p.get("model_file"))
    elif run.step == "learn.predict":
        train = next(
            (
                s
                for s in reversed(b.steps)
                if s["step"] == "shallow_train"
                and _same_file(s.get("model_file"), p.get("model_file"))
            ),
            None,
        ) or (b.last("shallow_train") if not p.get("model_file") else None)
        if train is None and not p.get("model_file"):
            b.skip(what, "it used a model held in memory, which no file records")
            return
        name = outs[0]
        source = {"model": train["id"]} if train else {"model_file": p["model_file"]}
        b.add(
            "shallow_predict",
            {
                **source,
                "name": name,
                "refine": bool(p.get("refine", False)),
                "smoothness": p.get("smoothness", 0.15),
                "parent_layer": p.get("parent_layer"),
                "probabilities": any(o.startswith(f"{name}_p_") for o in outs),
                "confidence": f"{name}_confidence" in outs,
            },
            outs,
        )
    elif run.step == "deep.train":
        config = dict(p.get("config") or {})
        if list(config.get("spacing") or []) == list(ws.spacing):
            config.pop("spacing")
        params = {"image": ins[0], "labels": ins[1], "config": config}
        for key in ("roi", "init_model", "device"):
            if p.get(key) is not None:
                params[key] = p[key]
        b.add("deep_train", params, [], model_file=p.get("model_file"))
    elif run.step == "deep.predict":
        ids, files = [], []
        for path in p.get("models") or []:
            match = next(
                (
                    s
                    for s in reversed(b.steps)
                    if s["step"] == "deep_train" and _same_file(s.get("model_file"), path)
                ),
                None,
            )
            (ids.append(match["id"]) if match else files.append(path))
        if "in memory" in files:
            b.skip(what, "it used a network held in memory, which no file records")
            return
        name, kinds = _deep_outputs(ws, outs, p)
        params = {"image": p.get("image", RAW), "name": name, "outputs": kinds}
        if ids:
            params["model"] = ids[0] if len(ids) == 1 else ids
        if files:
            params["model_files"] = files
        for key in ("axes", "fusion", "tta", "ensemble", "probability_dtype", "device"):
            if p.get(key) is not None:
                params[key] = p[key]
        if name in ws and ws.layer(name).label_set:
            params["label_set"] = ws.layer(name).label_set
        b.add("deep_predict", params, outs)
    elif run.step == "analysis.instances":
        params = {"source": ins[0], "name": outs[0]}
        params.update({k: v for k, v in p.items() if k != "n_objects"})
        b.add("instances", params, outs)
    elif run.step == "analysis.measure":
        params = {"labels": ins[0], "intensity": list(p.get("intensity") or [])}
        params["surface"] = bool(p.get("surface", True))
        if p.get("out"):
            params["out"] = Path(str(p["out"])).name
        b.add("measure", params, [])
    elif run.step == "analysis.split":
        table = b.last("measure", labels=ins[0])
        if table is None:
            b.skip(what, f"no measurement of {ins[0]!r} is recorded before it")
            return
        params = {"labels": ins[0], "table": table["id"], "rules": p["rules"], "name": outs[0]}
        if p.get("label_set") and p["label_set"] != outs[0]:
            params["label_set"] = p["label_set"]
        b.add("split", params, outs)
    elif run.step == "analysis.metrics":
        b.add(
            "metrics", {"pred": ins[0], "truth": ins[1], "instances": bool(p.get("instances"))}, []
        )
    elif run.step == "analysis.edit":
        b.skip(what, "object edits name object ids, which do not carry over to other data")
    else:
        b.skip(what, "no replayable step corresponds to it")


def _deep_outputs(ws: Workspace, outs: list[str], p: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The prediction's base name and which outputs (labels, probabilities, ...) it wrote."""
    kinds, name = [], None
    for o in outs:
        if o in ws and ws.layer(o).kind == "prediction":
            name = o
            kinds.append("labels")
    for suffix in ("confidence", "entropy"):
        hit = next((o for o in outs if o.endswith(f"_{suffix}")), None)
        if hit is not None:
            name = name or hit[: -len(suffix) - 1]
            kinds.append(suffix)
    if any("_p_" in o for o in outs):
        name = name or next(o for o in outs if "_p_" in o).rsplit("_p_", 1)[0]
        kinds.insert(1 if "labels" in kinds else 0, "probabilities")
    if name is None:  # a labels-only prediction whose layer was deleted since
        name, kinds = outs[0], ["labels"]
    return name, kinds


def _roles(ws: Workspace, steps: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Input roles for layers read before any step makes them, and their label sets."""
    inputs: dict[str, Any] = {IMAGE_ROLE: {"kind": "image", "layer": RAW, "required": True}}
    label_sets: dict[str, Any] = {}
    made: set[str] = set()
    users: dict[str, set[str]] = {}
    for step in steps:
        for _, layer in layer_refs(step):
            if layer != RAW and layer not in made:
                users.setdefault(layer, set()).add(step["step"])
        made.update(expected_outputs(step))
    layers = ws.layers
    for layer, kinds in users.items():
        info = layers.get(layer)
        kind = info.kind if info is not None else "labels"
        kind = kind if kind in INPUT_KINDS else "feature"
        spec: dict[str, Any] = {
            "kind": kind,
            "layer": layer,
            "required": not kinds <= _OPTIONAL_USERS,
        }
        if info is not None and info.label_set:
            spec["label_set"] = info.label_set
            label_sets[info.label_set] = [
                {
                    "name": lab.name,
                    "value": lab.value,
                    "color": list(lab.color),
                    "parent": lab.parent,
                }
                for lab in ws.label_set(info.label_set)
            ]
        inputs[layer] = spec
    return inputs, label_sets


def export_workflow(ws: Workspace, *, name: str | None = None) -> dict[str, Any]:
    """The steps recorded in ``ws`` as a workflow (a plain dict; write it with
    :func:`save_workflow`), with inputs by role rather than by file.

    Parameters
    ----------
    ws : Workspace
    name : str, optional
        Title of the workflow; default the workspace's name.

    Returns
    -------
    dict
        A valid workflow (see :mod:`voxelwise.workflows._schema`); ``skipped`` lists records
        that do not replay (with the reason), e.g. object edits by id.

    Raises
    ------
    WorkflowError
        The workspace records no replayable step.
    """
    from voxelwise.workflows._errors import WorkflowError

    runs = ws.runs()
    covered = {i for r in runs if r.step == RECORD_STEP for i in r.params.get("covers", [])}
    made_by_runs = {o for r in runs for o in r.outputs}
    events: list[tuple[datetime, int, Any]] = [
        (r.started, 1, r) for r in runs if r.id not in covered and r.step not in _IGNORED
    ]
    for info in ws.layers.values():
        if info.name in made_by_runs:
            continue
        params = info.params or {}
        if (info.kind == "feature" and "filter" in params) or (
            info.kind == "supervoxels" and "method" in params
        ):
            # a layer remade since (overwrite=True) still comes before the first run reading it
            readers = [r.started for r in runs if info.name in r.inputs]
            events.append((min([info.created, *readers]), 0, info))
    events.sort(key=lambda e: (e[0], e[1], getattr(e[2], "id", 0)))

    b = _Builder(ws)
    for _, is_run, item in events:
        if not is_run and item.kind == "feature":
            b.feature_layer(item)
        elif not is_run:
            _supervoxel_step(b, item)
        elif item.step == RECORD_STEP:
            b.flush()
            rec = item.params
            step = {"id": rec["id"], "step": rec["step"], "params": rec["params"]}
            step["outputs"] = list(item.outputs)
            if rec.get("model_file"):
                step["model_file"] = rec["model_file"]
            b.steps = [s for s in b.steps if s["id"] != step["id"]]  # a re-run supersedes
            b.steps.append(step)
        else:
            _library_run(b, item)
    b.flush()
    if not b.steps:
        raise WorkflowError(
            f"The workspace {ws.path} records no replayable step (only "
            f"{', '.join(sorted({r.step for r in runs})) or 'the import'}); run features, "
            "supervoxels, training or analysis steps on it first"
        )
    inputs, label_sets = _roles(ws, b.steps)
    workflow = {
        "voxelwise_workflow": FORMAT_VERSION,
        "name": name or ws.name,
        "workspace": {
            "chunks": list(ws.chunks),
            "spacing": list(ws.spacing),
            "unit": ws.unit,
        },
        "inputs": inputs,
        "label_sets": label_sets,
        "steps": b.steps,
    }
    if b.skipped:
        workflow["skipped"] = b.skipped
    return validate_workflow(json.loads(json.dumps(workflow)))
