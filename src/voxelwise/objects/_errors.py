"""Error classes of the objects package (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = ["ModelNotFoundError", "ObjectLabelsError", "ObjectTooSmallError", "ObjectsError"]


class ObjectsError(VoxelwiseError, ValueError):
    """Object classification was asked something it cannot do (unknown ids, bad settings)."""


class ObjectTooSmallError(ObjectsError):
    """An object (or a patch size) is too small to be classified from a patch."""


class ObjectLabelsError(ObjectsError):
    """The object labels are unusable: too few classes, unknown class names, stale ids."""


class ModelNotFoundError(VoxelwiseError, FileNotFoundError):
    """No object model file at the path given."""
