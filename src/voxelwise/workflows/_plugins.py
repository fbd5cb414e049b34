"""Workflow steps from plugins: a function registered under ``voxelwise.steps``.

A plugin step is ``func(ws, [overwrite, progress, scheduler], *, param: type = default, ...)``:
the workspace first, then any of the inputs voxelwise gives by name (:data:`STEP_INPUTS`), then
its type-annotated keyword parameters (checked against their schema when a workflow is
validated). It returns the names of the layers it wrote (or None for those it declares). It
declares, as attributes:

``layers`` (optional)
    Parameter names whose values name layers it reads; a workflow is checked to make them
    before the step, and they are recorded as the step's inputs.
``outputs`` (optional)
    Parameter names whose values name layers it writes, so later steps may refer to them.

A plugin step is named ``package.name`` as the ``step`` of a workflow entry; it is recorded in
the workspace like the built-in steps, exported with :func:`~voxelwise.workflows.export_workflow`
and replayed by :func:`~voxelwise.workflows.run_workflow`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from voxelwise.errors import VoxelwiseError
from voxelwise.workflows._errors import WorkflowError

if TYPE_CHECKING:
    from voxelwise.workflows._schema import StepKind
    from voxelwise.workflows._steps import StepContext

__all__ = [
    "STEP_INPUTS",
    "PluginStepError",
    "is_plugin_step",
    "plugin_outputs",
    "plugin_step_kind",
    "run_plugin_step",
]

#: Inputs a plugin step may take after the workspace, given by voxelwise.
STEP_INPUTS = ("overwrite", "progress", "scheduler")


class PluginStepError(WorkflowError):
    """A plugin step failed while running, or returned something other than layer names."""


def is_plugin_step(name: Any) -> bool:
    """Whether a step kind is a plugin's (``package.name``)."""
    return isinstance(name, str) and "." in name


def _info(name: str) -> Any:
    from voxelwise.plugins import PluginError, get_plugin

    try:
        return get_plugin("step", name)
    except PluginError as e:
        raise WorkflowError(f"Step kind {name!r}: {e}") from e


def _names(info: Any, attr: str) -> tuple[str, ...]:
    value = getattr(info.obj, attr, ())
    items = (value,) if isinstance(value, str) else value
    props = (info.schema or {}).get("properties", {})
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise WorkflowError(
            f"The step plugin {info.name!r} declares {attr}={value!r}; expected a tuple of "
            "parameter names"
        )
    unknown = [v for v in items if v not in props]
    if unknown:
        raise WorkflowError(
            f"The step plugin {info.name!r} declares {attr} {unknown}, which are not among its "
            f"parameters ({', '.join(props) or 'none'})"
        )
    return tuple(items)


def plugin_step_kind(name: str) -> StepKind:
    """The :class:`~voxelwise.workflows._schema.StepKind` of the plugin step ``name``.

    Raises
    ------
    WorkflowError
        Not installed, broken, or it takes inputs or declares layers voxelwise cannot give.
    """
    from voxelwise.plugins import plugin_parameters
    from voxelwise.workflows._schema import StepKind

    info = _info(name)
    inputs, _ = plugin_parameters(info.obj)
    if not inputs or any(n not in STEP_INPUTS for n in inputs[1:]):
        raise WorkflowError(
            f"The step plugin {name!r} takes the inputs {inputs}; a step takes the workspace "
            f"first, then any of {', '.join(STEP_INPUTS)} (the rest keyword parameters with "
            "defaults)"
        )
    schema = info.schema or {}
    props = schema.get("properties", {})
    return StepKind(
        name=name,
        summary=info.summary,
        params=frozenset(props),
        required=tuple(schema.get("required", ())),
        layers=_names(info, "layers"),
        defaults={k: p["default"] for k, p in props.items() if p.get("default") is not None},
    )


def check_plugin_params(name: str, params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The step's parameters checked against the plugin's schema (defaults filled in)."""
    from voxelwise.plugins import PluginError, check_params

    try:
        return check_params(_info(name).schema or {}, dict(params), plugin=name)
    except PluginError as e:
        raise WorkflowError(f"{where}: {e}") from e


def plugin_outputs(name: str, params: Mapping[str, Any]) -> list[str]:
    """The layers the plugin step ``name`` declares it writes with ``params``."""
    info = _info(name)
    merged = {**plugin_step_kind(name).defaults, **params}
    return [str(merged[p]) for p in _names(info, "outputs") if merged.get(p) is not None]


def run_plugin_step(
    step: dict[str, Any], ctx: StepContext, progress: Any
) -> tuple[str, list[str], dict[str, Any]]:
    """Run a plugin step on ``ctx.ws``: (status, layers written, result)."""
    from voxelwise.plugins import plugin_parameters

    name, sid = step["step"], step["id"]
    info = _info(name)
    where = f"Step {sid!r} (plugin {name!r})"
    params = check_plugin_params(name, step.get("params") or {}, where)
    inputs, _ = plugin_parameters(info.obj)
    given = {"overwrite": ctx.overwrite, "progress": progress, "scheduler": ctx.scheduler}
    try:
        out = info.obj(ctx.ws, *[given[n] for n in inputs[1:]], **params)
    except VoxelwiseError:
        raise  # already says what went wrong (a missing layer, a cancellation, ...)
    except Exception as e:  # a plugin may raise anything; say which step and why
        raise PluginStepError(f"{where} failed: {type(e).__name__}: {e}") from e
    if out is None:
        out = plugin_outputs(name, params)
    if not isinstance(out, list | tuple) or not all(isinstance(v, str) for v in out):
        raise PluginStepError(
            f"{where} returned {out!r}; a step must return the names of the layers it wrote "
            "(a list of str) or None"
        )
    absent = [n for n in out if n not in ctx.ws]
    if absent:
        raise PluginStepError(
            f"{where} says it wrote the layer(s) {absent}, which are not in the workspace"
        )
    return "ran", list(out), {}
