"""Workspace-specific error classes (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import InvalidVolumeError, WorkspaceError

__all__ = [
    "InvalidLayerError",
    "JobError",
    "JobNotFoundError",
    "LabelError",
    "LabelNotFoundError",
    "ModelExistsError",
    "ModelNotFoundError",
]


class InvalidLayerError(WorkspaceError, InvalidVolumeError):
    """A layer's name, kind, dtype or shape is not acceptable for this workspace."""


class LabelError(WorkspaceError, ValueError):
    """A label definition is invalid (duplicate name or value, bad colour, parent cycle)."""


class LabelNotFoundError(WorkspaceError, KeyError):
    """No label set, label or parent label of that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class JobNotFoundError(WorkspaceError, KeyError):
    """No job with that id in the workspace catalog."""

    def __str__(self) -> str:
        return str(self.args[0])


class JobError(WorkspaceError, ValueError):
    """A job record is invalid (unknown state, progress outside 0-1, duplicate id)."""


class ModelNotFoundError(WorkspaceError, KeyError):
    """No model of that name in the workspace's model registry."""

    def __str__(self) -> str:
        return str(self.args[0])


class ModelExistsError(WorkspaceError, FileExistsError):
    """A model of that name is registered already (use ``overwrite=True`` to replace it)."""
