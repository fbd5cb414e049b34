"""Example voxelwise plugin: one filter and one classifier, declared as entry points."""

from __future__ import annotations

from voxelwise_example_plugin._centroid import NearestCentroid
from voxelwise_example_plugin._sharpen import sharpen

__all__ = ["NearestCentroid", "sharpen"]
