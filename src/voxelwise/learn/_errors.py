"""Errors of shallow learning (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = ["FeatureMismatchError", "LearnError", "ModelFileError", "TrainingDataError"]


class LearnError(VoxelwiseError, ValueError):
    """A classifier cannot be trained or applied as asked (bad parameter, unknown classifier)."""


class TrainingDataError(LearnError):
    """The annotations cannot train a classifier: none at all, or fewer than two classes."""


class FeatureMismatchError(LearnError):
    """Features are missing, have another shape, or differ from those a model was trained on."""


class ModelFileError(VoxelwiseError, OSError):
    """A model file is missing, damaged, or not a voxelwise model file."""
