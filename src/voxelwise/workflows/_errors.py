"""Errors of recorded workflows: a malformed file, an unknown step or layer, a missing input."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = [
    "TrainingLabelsError",
    "WorkflowError",
    "WorkflowInputError",
    "WorkflowNotFoundError",
]


class WorkflowError(VoxelwiseError, ValueError):
    """A workflow is malformed: an unknown step, a parameter it does not take, or a reference
    to a layer or step that no earlier step makes and no input provides."""


class WorkflowInputError(VoxelwiseError, ValueError):
    """An input a workflow needs was not given (or given under a role it does not have)."""


class WorkflowNotFoundError(VoxelwiseError, FileNotFoundError):
    """No workflow file at the given path."""


class TrainingLabelsError(WorkflowInputError):
    """Weak annotation (:func:`~voxelwise.workflows.deep_from_shallow`) found nothing to learn
    from: no confidence layer, or fewer than two classes confident enough in the region."""
