"""Error classes of the analysis package (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = [
    "MissingFileError",
    "RuleError",
    "ShapeMismatchError",
    "TableError",
    "UnknownMeasurementError",
]


class RuleError(VoxelwiseError, ValueError):
    """A splitter rule (or a rules file) is malformed: unknown operator, wrong value, ..."""


class UnknownMeasurementError(RuleError):
    """A rule or a request names a measurement the table does not have; the message lists them."""


class ShapeMismatchError(VoxelwiseError, ValueError):
    """Two volumes that must match voxel for voxel have different shapes."""


class TableError(VoxelwiseError, ValueError):
    """A measurement table is malformed (columns of different lengths, unreadable file, ...)."""


class MissingFileError(VoxelwiseError, FileNotFoundError):
    """A table or rules file does not exist."""
