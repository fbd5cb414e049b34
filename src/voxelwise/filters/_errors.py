"""Error classes of the feature bank (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = [
    "FilterInputError",
    "FilterParameterError",
    "PresetError",
    "PresetNotFoundError",
    "UnknownFilterError",
]


class FilterParameterError(VoxelwiseError, ValueError):
    """A filter parameter has a value the filter cannot use (non-positive sigma, NaN, ...)."""


class FilterInputError(VoxelwiseError, ValueError):
    """The input does not suit the filter (a label layer given to an intensity filter, ...)."""


class UnknownFilterError(VoxelwiseError, KeyError):
    """No filter of that name is registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PresetError(VoxelwiseError, ValueError):
    """A preset (list of features) is malformed."""


class PresetNotFoundError(VoxelwiseError, FileNotFoundError):
    """No built-in preset of that name and no preset file at that path."""
