"""Plugins: third-party filters, classifiers, networks, strategies and steps via entry points.

A package extends voxelwise by declaring entry points, with no change to voxelwise itself::

    [project.entry-points."voxelwise.filters"]
    sharpen = "my_package:sharpen"

    [project.entry-points."voxelwise.classifiers"]
    centroid = "my_package:NearestCentroid"

Groups: ``voxelwise.filters``, ``voxelwise.classifiers``, ``voxelwise.networks``,
``voxelwise.strategies``, ``voxelwise.steps`` (:data:`GROUPS`). A plugin is one function (or
class) with type-annotated keyword parameters; its qualified name is ``package.entry``
(``my_package.sharpen``), its parameters' JSON schema comes from its signature
(:func:`parameter_schema`) and its summary from its docstring, so the CLI
(``--filter my_package.sharpen:amount=2``), the REST API and the napari forms offer it.

Discovery is lazy: nothing is read at ``import voxelwise``; the first lookup of a kind loads
its entry points, each in its own ``try``, recording failures as broken plugins
(:func:`list_plugins`). See ``docs/plugins.md``.
"""

from __future__ import annotations

from voxelwise.plugins._discover import (
    GROUPS,
    KINDS,
    PluginInfo,
    get_plugin,
    list_plugins,
    plugin_name,
    refresh,
)
from voxelwise.plugins._errors import (
    BrokenPluginError,
    PluginError,
    PluginNotFoundError,
    PluginParameterError,
)
from voxelwise.plugins._schema import check_params, parameter_schema, plugin_parameters

__all__ = [
    "GROUPS",
    "KINDS",
    "BrokenPluginError",
    "PluginError",
    "PluginInfo",
    "PluginNotFoundError",
    "PluginParameterError",
    "check_params",
    "get_plugin",
    "list_plugins",
    "parameter_schema",
    "plugin_name",
    "plugin_parameters",
    "refresh",
]
