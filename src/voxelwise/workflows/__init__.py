"""Named steps on a workspace, recorded and replayable: what the front-ends call.

Workflows
    :func:`export_workflow` turns the steps recorded in a workspace (features, supervoxels,
    shallow and deep training and prediction, instances, measurements, the label splitter,
    metrics) into a workflow whose inputs are *roles* (``image``, ``scribbles``, ...), not
    files; :func:`save_workflow` / :func:`load_workflow` write and read it as YAML;
    :func:`validate_workflow` checks it; :func:`run_workflow` replays it on a new volume
    (training again where the training inputs are given, else applying the recorded models),
    recording every step so the new workspace exports the same workflow.
Weak annotation
    :func:`deep_from_shallow` trains a U-Net on the confident voxels of a shallow classifier's
    prediction of a region (SuRVoS2's headline pipeline) and segments the volume with it.
The demo
    :func:`run_demo` runs the SuRVoS2 pipeline end to end on a sample volume and writes a
    Markdown and HTML report with figures (:class:`DemoReport`).

>>> from voxelwise.workflows import export_workflow, run_workflow, save_workflow
>>> save_workflow(export_workflow(ws), "cells.yaml")  # doctest: +SKIP
>>> run_workflow("cells.yaml", "new_stack.tif", inputs={"scribbles": "new.tif"})  # doctest: +SKIP
"""

from __future__ import annotations

from voxelwise.workflows._demo import DemoReport, run_demo
from voxelwise.workflows._errors import (
    TrainingLabelsError,
    WorkflowError,
    WorkflowInputError,
    WorkflowNotFoundError,
)
from voxelwise.workflows._export import export_workflow
from voxelwise.workflows._run import WorkflowReport, run_workflow
from voxelwise.workflows._schema import (
    STEP_KINDS,
    StepKind,
    load_workflow,
    save_workflow,
    validate_workflow,
)
from voxelwise.workflows._steps import StepContext, StepOutcome, execute_step
from voxelwise.workflows._weak import FromShallowResult, deep_from_shallow

__all__ = [
    "STEP_KINDS",
    "DemoReport",
    "FromShallowResult",
    "StepContext",
    "StepKind",
    "StepOutcome",
    "TrainingLabelsError",
    "WorkflowError",
    "WorkflowInputError",
    "WorkflowNotFoundError",
    "WorkflowReport",
    "deep_from_shallow",
    "execute_step",
    "export_workflow",
    "load_workflow",
    "run_demo",
    "run_workflow",
    "save_workflow",
    "validate_workflow",
]
