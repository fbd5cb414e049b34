"""Annotation errors (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import RoiError, VoxelwiseError

__all__ = ["AnnotationError", "HierarchyError", "OutsideVolumeError"]


class AnnotationError(VoxelwiseError, ValueError):
    """An annotation edit cannot be made as asked (bad stroke, empty slice, label too large)."""


class OutsideVolumeError(AnnotationError, RoiError):
    """A stroke, seed or slice lies entirely outside the volume (partly outside is clipped)."""


class HierarchyError(AnnotationError):
    """A child label was painted entirely outside its parent's region."""
