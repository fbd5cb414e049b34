"""Instances, measurements, the label splitter, volume fractions and metrics, chunk by chunk.

Everything works on (Z, Y, X) volumes larger than memory (NumPy, dask or zarr input; lazy dask
output), with memory O(number of objects), never O(voxels).

Instances
    :func:`connected_components` (of a label, or of every label, merged across chunks),
    :func:`watershed_split` (distance-transform watershed to split touching objects),
    :func:`remove_small_objects`, :func:`fill_holes`, :func:`object_sizes`; edits by id:
    :func:`merge_objects`, :func:`split_objects`, :func:`delete_objects`.
Measurements
    :func:`measure` gives a :class:`Table` with one row per object: volume (voxels and
    physical), bounding box, centroid, PCA-oriented box extents and major axis, surface area
    (marching cubes, spacing-aware, exact across chunks), sphericity, and intensity sum, mean,
    std, min and max of any layers (:data:`MEASUREMENTS`). Tables write to CSV and Parquet.
Label splitter
    :class:`SplitRules` of ordered :class:`Rule` s (measurement, ``<``/``<=``/``>``/``>=``/
    ``between``, value; the first match wins) assign objects to named classes;
    :func:`split_labels` turns them into a class layer with one label per class; rules are
    saved as YAML and reapplied to other data.
Volume fractions
    :func:`volume_fractions` of each class inside a mask, a parent label or every region.
Metrics
    :func:`segmentation_metrics` (per-class IoU, Dice, precision, recall, mean IoU over any
    subset of classes, confusion matrix, ignore labels) returns a :class:`MetricsReport`;
    :func:`instance_metrics` (matched IoU, precision/recall at IoU thresholds) an
    :class:`InstanceReport`.
Workspace
    :func:`find_instances`, :func:`analyze_layer`, :func:`split_layer`, :func:`edit_instances`,
    :func:`layer_volume_fractions`, :func:`layer_metrics` read and write layers and record
    each run.

>>> import numpy as np
>>> from voxelwise.analysis import SplitRules, Rule, connected_components, measure, split_labels
>>> mask = np.zeros((8, 32, 32), dtype=bool)
>>> mask[2:6, 2:10, 2:10] = True          # 256 voxels
>>> mask[2:4, 20:24, 20:24] = True        # 32 voxels
>>> labels, n = connected_components(mask, chunks=(4, 16, 16))
>>> table = measure(labels, spacing=(2.0, 1.0, 1.0))
>>> n, table["volume_voxels"].tolist()
(2, [256, 32])
>>> rules = SplitRules([Rule("big", "volume", ">=", 100)], default="small")
>>> classes, table = split_labels(labels, table, rules)
>>> table["class_name"].tolist()
['big', 'small']
"""

from __future__ import annotations

from voxelwise.analysis._counts import cross_counts
from voxelwise.analysis._edit import delete_objects, merge_objects, split_objects
from voxelwise.analysis._errors import (
    MissingFileError,
    RuleError,
    ShapeMismatchError,
    TableError,
    UnknownMeasurementError,
)
from voxelwise.analysis._fractions import volume_fractions
from voxelwise.analysis._instance_metrics import InstanceReport, instance_metrics
from voxelwise.analysis._instances import (
    connected_components,
    fill_holes,
    object_sizes,
    remove_small_objects,
)
from voxelwise.analysis._measure import (
    INTENSITY_STATISTICS,
    MEASUREMENTS,
    measure,
    measurement_names,
)
from voxelwise.analysis._metrics import MetricsReport, confusion_matrix, segmentation_metrics
from voxelwise.analysis._rules import OPERATORS, Condition, Rule, SplitRules
from voxelwise.analysis._split import split_labels
from voxelwise.analysis._table import Table
from voxelwise.analysis._watershed import watershed_split
from voxelwise.analysis._workspace import edit_instances, find_instances
from voxelwise.analysis._workspace_tables import (
    analyze_layer,
    layer_metrics,
    layer_volume_fractions,
    split_layer,
)

__all__ = [
    "INTENSITY_STATISTICS",
    "MEASUREMENTS",
    "OPERATORS",
    "Condition",
    "InstanceReport",
    "MetricsReport",
    "MissingFileError",
    "Rule",
    "RuleError",
    "ShapeMismatchError",
    "SplitRules",
    "Table",
    "TableError",
    "UnknownMeasurementError",
    "analyze_layer",
    "confusion_matrix",
    "connected_components",
    "cross_counts",
    "delete_objects",
    "edit_instances",
    "fill_holes",
    "find_instances",
    "instance_metrics",
    "layer_metrics",
    "layer_volume_fractions",
    "measure",
    "measurement_names",
    "merge_objects",
    "object_sizes",
    "remove_small_objects",
    "segmentation_metrics",
    "split_labels",
    "split_layer",
    "split_objects",
    "volume_fractions",
    "watershed_split",
]
