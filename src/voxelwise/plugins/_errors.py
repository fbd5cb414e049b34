"""Errors of the plugin system (they extend the :mod:`voxelwise.errors` hierarchy)."""

from __future__ import annotations

from voxelwise.errors import VoxelwiseError

__all__ = ["BrokenPluginError", "PluginError", "PluginNotFoundError", "PluginParameterError"]


class PluginError(VoxelwiseError, ValueError):
    """A plugin cannot be used as asked."""


class PluginParameterError(PluginError, TypeError):
    """A plugin declares a parameter voxelwise cannot offer, or is given a bad parameter value."""


class PluginNotFoundError(PluginError, KeyError):
    """No installed plugin of that name and kind."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class BrokenPluginError(PluginError):
    """The plugin is installed but failed to load (its import raised, or its signature is bad)."""
