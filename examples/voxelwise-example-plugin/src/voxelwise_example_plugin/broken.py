"""A plugin module that fails on import, to show how voxelwise reports broken plugins."""

from __future__ import annotations

raise ImportError("voxelwise_example_plugin.broken needs the package 'not-installed-anywhere'")
