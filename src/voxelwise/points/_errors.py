"""Error classes of the points package (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = ["PointsError", "PointsFileError", "PointsNotFoundError"]


class PointsError(VoxelwiseError, ValueError):
    """Points or their settings are invalid (outside the volume, unknown ids, bad sizes)."""


class PointsFileError(PointsError):
    """A points CSV file is malformed: missing or extra columns, values that are not numbers."""


class PointsNotFoundError(VoxelwiseError, KeyError):
    """No point set of that name in the workspace; the message lists the existing ones."""

    def __str__(self) -> str:
        return str(self.args[0])
