"""Example voxelwise plugin: a filter, a classifier, an active-learning strategy and a workflow
step, declared as entry points (the network, in ``_tinynet``, is imported only when used)."""

from __future__ import annotations

from voxelwise_example_plugin._centroid import NearestCentroid
from voxelwise_example_plugin._novelty import novelty
from voxelwise_example_plugin._otsu import otsu
from voxelwise_example_plugin._sharpen import sharpen

__all__ = ["NearestCentroid", "novelty", "otsu", "sharpen"]
