"""The workflow format: step kinds, their parameters and references, validation, YAML.

A workflow is a mapping (stored as YAML)::

    voxelwise_workflow: 1
    name: cells
    workspace: {chunks: [32, 128, 128], spacing: [20.0, 10.0, 10.0], unit: nanometer}
    inputs:                       # by role, never by path: the files come at replay time
      image: {kind: image, layer: raw, required: true}
      scribbles: {kind: annotation, layer: scribbles, label_set: classes, required: false}
    label_sets:
      classes: [{name: cytoplasm, value: 1, color: [..], parent: null}, ...]
    steps:
      - id: features_1
        step: features
        params: {source: raw, features: [{filter: gaussian, params: {sigma: 1.0}}]}
        outputs: [gaussian_s1.0]
      - id: shallow_train_1
        step: shallow_train
        params: {annotations: scribbles, features: [gaussian_s1.0], mode: voxel}
        model_file: /models/cells.npz      # the trained result, reused when not retraining

Steps refer to layers by name (the layer of an input role, or an output of an earlier step)
and to earlier steps by id (a trained model, a measurement table).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxelwise.workflows._errors import WorkflowError, WorkflowNotFoundError

__all__ = [
    "FORMAT_VERSION",
    "STEP_KINDS",
    "StepKind",
    "expected_outputs",
    "layer_refs",
    "load_workflow",
    "save_workflow",
    "step_kind",
    "step_refs",
    "validate_workflow",
]

FORMAT_VERSION = 1
IMAGE_ROLE = "image"
RAW = "raw"
INPUT_KINDS = ("image", "annotation", "labels", "prediction", "instances", "supervoxels", "feature")


@dataclass(frozen=True)
class StepKind:
    """What a workflow step of one kind takes.

    ``params``: every parameter it accepts; ``required``: those it needs; ``layers``: parameters
    naming one layer (or None); ``layer_lists``: parameters naming a list of layers; ``steps``:
    parameters naming earlier steps (an id, or a list of ids), with the kinds they may be.
    """

    name: str
    summary: str
    params: frozenset[str]
    required: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    layer_lists: tuple[str, ...] = ()
    steps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


def _kind(name: str, summary: str, params: str, **kw: Any) -> StepKind:
    return StepKind(name, summary, frozenset(params.split()), **kw)


STEP_KINDS: dict[str, StepKind] = {
    k.name: k
    for k in (
        _kind(
            "features",
            "filters.compute_features: feature (and denoised) layers of a source layer",
            "source features",
            required=("features",),
            layers=("source",),
            defaults={"source": RAW},
        ),
        _kind(
            "supervoxels",
            "supervoxels.compute_supervoxels: a supervoxel layer",
            "source name method size compactness mask sigma gradient",
            layers=("source", "mask"),
            defaults={"source": RAW, "name": "supervoxels"},
        ),
        _kind(
            "shallow_train",
            "learn.train: a shallow classifier from an annotation layer",
            "annotations features mode classifier supervoxels statistics parent labels "
            "class_weight max_per_class params rng",
            required=("annotations", "features"),
            layers=("annotations",),
            layer_lists=("features",),
        ),
        _kind(
            "shallow_predict",
            "learn.predict: label, probability and confidence layers from a shallow model",
            "model model_file name refine smoothness parent_layer features supervoxels "
            "probabilities confidence max_voxels",
            layers=("parent_layer",),
            steps={"model": ("shallow_train",)},
            defaults={"name": "prediction"},
        ),
        _kind(
            "deep_train",
            "deep.train_workspace: a network trained on an image layer and a labels layer",
            "image labels config roi epochs max_minutes init_model device rng",
            required=("labels",),
            layers=("image", "labels"),
            defaults={"image": RAW},
        ),
        _kind(
            "deep_predict",
            "deep.predict_workspace: label, probability and confidence layers from networks",
            "model model_files image name outputs label_set axes fusion tta ensemble "
            "probability_dtype overlap batch_size device memory_mb",
            layers=("image",),
            steps={"model": ("deep_train",)},
            defaults={"image": RAW, "name": "prediction"},
        ),
        _kind(
            "deep_from_shallow",
            "workflows.deep_from_shallow: a network trained on the confident voxels of a "
            "shallow prediction (weak annotation), predicting label and confidence layers",
            "prediction confidence image roi predict_roi min_confidence config max_minutes "
            "name device rng",
            required=("prediction",),
            layers=("prediction", "confidence", "image"),
            defaults={"image": RAW, "name": "unet", "min_confidence": 0.7, "max_minutes": 20.0},
        ),
        _kind(
            "instances",
            "analysis.find_instances: numbered objects of a mask or class layer",
            "source name value by_value connectivity min_distance fill min_size",
            required=("source",),
            layers=("source",),
        ),
        _kind(
            "measure",
            "analysis.analyze_layer: a measurement table of the objects of a layer",
            "labels intensity surface out",
            required=("labels",),
            layers=("labels",),
            layer_lists=("intensity",),
        ),
        _kind(
            "split",
            "analysis.split_layer: objects assigned to classes by ordered rules",
            "labels table rules name label_set out",
            required=("table", "rules"),
            layers=("labels",),
            steps={"table": ("measure",)},
        ),
        _kind(
            "metrics",
            "analysis.layer_metrics: IoU, Dice, precision and recall against a truth layer",
            "pred truth classes ignore_label instances thresholds",
            required=("pred", "truth"),
            layers=("pred", "truth"),
        ),
    )
}


def _fail(where: str, message: str) -> WorkflowError:
    return WorkflowError(f"{where}: {message}" if where else message)


def _as_str_list(value: Any, where: str, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise _fail(where, f"expected {what} as a list of names, got {value!r} instead")
    return list(items)


def step_kind(name: str) -> StepKind:
    """The :class:`StepKind` of a built-in step, or of a plugin step ``package.name`` (see
    :mod:`voxelwise.workflows._plugins`).

    Raises
    ------
    WorkflowError
        Neither a built-in step nor an installed, working plugin step.
    """
    if name in STEP_KINDS:
        return STEP_KINDS[name]
    from voxelwise.workflows._plugins import is_plugin_step, plugin_step_kind

    if is_plugin_step(name):
        return plugin_step_kind(name)
    raise WorkflowError(
        f"unknown step {name!r}; known steps: {', '.join(STEP_KINDS)}, or an installed plugin "
        "step 'package.name' (voxelwise plugins list --kind step)"
    )


def layer_refs(step: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(parameter, layer name)`` for every layer a step reads (defaults included)."""
    kind = step_kind(step["step"])
    params = {**kind.defaults, **(step.get("params") or {})}
    refs: list[tuple[str, str]] = []
    for p in kind.layers:
        if params.get(p) is not None:
            refs.append((p, params[p]))
    for p in kind.layer_lists:
        if params.get(p) is not None:
            refs += [(p, n) for n in _as_str_list(params[p], "", p)]
    if kind.name == "shallow_train" and params.get("mode") == "supervoxel":
        refs.append(("supervoxels", params.get("supervoxels") or "supervoxels"))
    if kind.name == "deep_from_shallow" and params.get("confidence") is None:
        refs.append(("confidence", f"{params['prediction']}_confidence"))
    return refs


def step_refs(step: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(parameter, step id)`` for every earlier step a step uses."""
    kind = step_kind(step["step"])
    params = step.get("params") or {}
    refs: list[tuple[str, str]] = []
    for p in kind.steps:
        value = params.get(p)
        if value is None:
            continue
        refs += [(p, v) for v in _as_str_list(value, "", p)]
    return refs


def expected_outputs(step: Mapping[str, Any]) -> list[str]:
    """The layers a step makes: its recorded ``outputs``, else what its parameters imply."""
    if step.get("outputs") is not None:
        return list(step["outputs"])
    kind = step["step"]
    if kind not in STEP_KINDS:
        from voxelwise.workflows._plugins import plugin_outputs

        return plugin_outputs(kind, step.get("params") or {})
    params = {**STEP_KINDS[kind].defaults, **(step.get("params") or {})}
    if kind == "features":
        from voxelwise.filters._features import features_from

        try:
            return [n for f in features_from(params["features"]) for n in f.output_names()]
        except (TypeError, ValueError) as e:
            raise _fail(f"Step {step['id']!r}", f"bad feature list: {e}") from e
    if kind == "supervoxels":
        return [params["name"]]
    if kind in ("shallow_predict", "deep_predict"):
        name = params["name"]
        return [name, f"{name}_confidence", f"{name}_entropy"]
    if kind == "deep_from_shallow":
        name = params["name"]
        return [f"{name}_training", name, f"{name}_confidence"]
    if kind == "instances":
        return [params.get("name") or f"{params['source']}_instances"]
    if kind == "split" and params.get("labels"):
        return [params.get("name") or f"{params['labels']}_classes"]
    return []


def _check_inputs(inputs: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(inputs, Mapping) or IMAGE_ROLE not in inputs:
        raise _fail(
            "inputs",
            f"expected a mapping of input roles including {IMAGE_ROLE!r} (the volume to "
            f"process), got {inputs!r} instead",
        )
    out: dict[str, dict[str, Any]] = {}
    layers: dict[str, str] = {}
    for role, spec in inputs.items():
        where = f"Input {role!r}"
        if not isinstance(role, str) or not role:
            raise _fail("inputs", f"expected role names as strings, got {role!r}")
        spec = dict(spec or {})
        unknown = sorted(set(spec) - {"kind", "layer", "label_set", "required", "description"})
        if unknown:
            raise _fail(where, f"unknown keys {unknown}; use kind, layer, label_set, required")
        spec.setdefault("layer", RAW if role == IMAGE_ROLE else role)
        spec.setdefault("kind", "image" if role == IMAGE_ROLE else "annotation")
        spec.setdefault("required", role == IMAGE_ROLE)
        if spec["kind"] not in INPUT_KINDS:
            raise _fail(where, f"expected kind among {INPUT_KINDS}, got {spec['kind']!r}")
        if role == IMAGE_ROLE and spec["layer"] != RAW:
            raise _fail(where, f"the image role is always the layer {RAW!r}")
        if spec["layer"] in layers:
            raise _fail(where, f"layer {spec['layer']!r} is also role {layers[spec['layer']]!r}")
        layers[spec["layer"]] = role
        out[role] = spec
    return out


def _check_label_sets(label_sets: Any) -> dict[str, list[dict[str, Any]]]:
    if label_sets is None:
        return {}
    if not isinstance(label_sets, Mapping):
        raise _fail("label_sets", f"expected a mapping of set name to labels, got {label_sets!r}")
    out: dict[str, list[dict[str, Any]]] = {}
    for name, labels in label_sets.items():
        if not isinstance(labels, list) or not all(
            isinstance(lab, Mapping) and "name" in lab and "value" in lab for lab in labels
        ):
            raise _fail(
                f"Label set {name!r}",
                "expected a list of labels like {name: cell, value: 1, color: [r, g, b, a]}",
            )
        out[str(name)] = [dict(lab) for lab in labels]
    return out


def _check_step(
    step: Any, index: int, available: set[str], made_by: dict[str, str], seen: dict[str, str]
) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        raise _fail(f"Step {index + 1}", f"expected a mapping with id, step, params; got {step!r}")
    step = dict(step)
    step.setdefault("id", f"step{index + 1}")
    sid = step["id"]
    where = f"Step {sid!r}"
    if not isinstance(sid, str) or not sid:
        raise _fail(f"Step {index + 1}", f"expected id as a non-empty string, got {sid!r}")
    if sid in seen:
        raise _fail(where, "the id is used twice; give every step its own id")
    kind_name = step.get("step")
    if not isinstance(kind_name, str):
        raise _fail(where, f"unknown step {kind_name!r}; known steps: {', '.join(STEP_KINDS)}")
    try:
        kind = step_kind(kind_name)
    except WorkflowError as e:
        raise _fail(where, str(e)) from e
    params = step.get("params") or {}
    if not isinstance(params, Mapping):
        raise _fail(where, f"expected params as a mapping, got {params!r} instead")
    step["params"] = dict(params)
    unknown = sorted(set(params) - kind.params)
    if unknown:
        raise _fail(
            where,
            f"the {kind_name} step takes no parameter {', '.join(map(repr, unknown))}; its "
            f"parameters are {', '.join(sorted(kind.params))}",
        )
    missing = [p for p in kind.required if params.get(p) is None]
    if kind_name == "deep_predict" and not params.get("model") and not params.get("model_files"):
        missing.append("model (a deep_train step id) or model_files")
    if kind_name == "shallow_predict" and not params.get("model") and not params.get("model_file"):
        missing.append("model (a shallow_train step id) or model_file")
    if missing:
        raise _fail(where, f"the {kind_name} step needs {', '.join(missing)}")
    if kind_name not in STEP_KINDS:  # a plugin step: its parameters' types, from its schema
        from voxelwise.workflows._plugins import check_plugin_params

        check_plugin_params(kind_name, params, where)
    for p, layer in layer_refs(step):
        if layer not in available:
            raise _fail(
                where,
                f"parameter {p!r} refers to layer {layer!r}, which no earlier step makes and no "
                f"input provides; layers available at this step: {', '.join(sorted(available))}",
            )
    for p, ref in step_refs(step):
        if ref not in seen:
            raise _fail(
                where,
                f"parameter {p!r} refers to step {ref!r}, which does not exist before it; "
                f"earlier steps: {', '.join(seen) or 'none'}",
            )
        if seen[ref] not in kind.steps[p]:
            raise _fail(
                where,
                f"parameter {p!r} refers to step {ref!r}, a {seen[ref]} step; it needs a "
                f"{' or '.join(kind.steps[p])} step",
            )
    if step.get("outputs") is not None:
        step["outputs"] = _as_str_list(step["outputs"], where, "outputs")
    for name in expected_outputs(step):
        available.add(name)
        made_by[name] = sid
    seen[sid] = kind_name
    return step


def validate_workflow(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """Check a workflow and return it normalised (defaults filled in); the input is not changed.

    Raises
    ------
    WorkflowError
        Not a workflow mapping, an unsupported format version, an unknown step or parameter, a
        reference to a layer that no earlier step makes and no input role provides, or to a
        step that does not exist (or is of the wrong kind). The message names the step.
    """
    if not isinstance(workflow, Mapping):
        raise WorkflowError(
            f"Expected a workflow mapping (from export_workflow or a YAML file), got "
            f"{type(workflow).__name__} instead"
        )
    version = workflow.get("voxelwise_workflow")
    if version != FORMAT_VERSION:
        raise WorkflowError(
            f"Expected 'voxelwise_workflow: {FORMAT_VERSION}' at the top of the workflow, got "
            f"{version!r}; is this a voxelwise workflow file (voxelwise workflow export)?"
        )
    out = copy.deepcopy(dict(workflow))
    out["inputs"] = _check_inputs(workflow.get("inputs"))
    out["label_sets"] = _check_label_sets(workflow.get("label_sets"))
    for role, spec in out["inputs"].items():
        if spec.get("label_set") is not None and spec["label_set"] not in out["label_sets"]:
            raise _fail(
                f"Input {role!r}",
                f"label set {spec['label_set']!r} is not described under label_sets",
            )
    settings = workflow.get("workspace") or {}
    if not isinstance(settings, Mapping):
        raise _fail("workspace", f"expected a mapping (chunks, spacing, unit), got {settings!r}")
    out["workspace"] = dict(settings)
    steps = workflow.get("steps")
    if not isinstance(steps, list) or not steps:
        raise WorkflowError("Expected 'steps' as a non-empty list of steps")
    available = {spec["layer"] for spec in out["inputs"].values()}
    made_by: dict[str, str] = {}
    seen: dict[str, str] = {}
    out["steps"] = [_check_step(s, i, available, made_by, seen) for i, s in enumerate(steps)]
    return out


def load_workflow(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a workflow YAML file and validate it (see :func:`validate_workflow`)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise WorkflowNotFoundError(
            f"No workflow file at {path}; write one with `voxelwise workflow export WS --out "
            f"{path.name}`"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise WorkflowError(f"{path} is not valid YAML: {e}") from e
    return validate_workflow(data)


def save_workflow(workflow: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Validate a workflow and write it as YAML (keys in their natural order)."""
    import yaml

    checked = validate_workflow(workflow)
    path = Path(path)
    path.write_text(yaml.safe_dump(_plain(checked), sort_keys=False, default_flow_style=None))
    return path


def _plain(value: Any) -> Any:
    """Nested tuples become lists (YAML-safe), everything else as is."""
    convert: Callable[[Any], Any] = _plain
    if isinstance(value, Mapping):
        return {str(k): convert(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [convert(v) for v in value]
    return value
