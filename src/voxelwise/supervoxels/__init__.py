"""Supervoxels of volumes larger than memory, their features and their adjacency graph.

Segmenting
    :func:`slic` (3D SLIC, follows image edges) and :func:`seeded_watershed` (faster) work chunk
    by chunk with a halo and return lazy labels with ids 1..n unique over the volume, each id
    one 6-connected region. :func:`compute_supervoxels` does the same on a workspace layer and
    stores a ``"supervoxels"`` layer.
Measuring
    :func:`region_features` (size, centroid, mean/std/min/max of feature layers per id) returns a
    :class:`RegionTable`; :func:`region_adjacency` returns a :class:`RegionAdjacencyGraph` of
    face-adjacent ids with contact counts, areas and a mean edge value.
    :func:`supervoxel_features` and :func:`supervoxel_graph` read them from a workspace.

``size`` is the supervoxel edge in voxels along the finest axis; on anisotropic data coarser
axes get proportionally fewer voxels (serial-section EM at (50, 4.6, 4.6) nm and ``size=10``
gives 1 x 10 x 10-voxel supervoxels, one section thick). Intensities are normalised to a fixed
range first (the 0.1 and 99.9 percentiles), so ``compactness`` means the same for any dtype.

Chunks: each chunk is segmented with a halo of half a supervoxel and the halo trimmed off, so
supervoxels never cross chunk faces (a chunk face is always a supervoxel boundary) and the
result depends on the chunking; pieces cut apart by the trim get their own ids and slivers
below a quarter of the target size join a neighbour. Feature tables and adjacency graphs do
not depend on the chunking.

>>> from voxelwise.data import synthetic_em
>>> from voxelwise.supervoxels import region_adjacency, region_features, slic
>>> vol = synthetic_em((8, 64, 64), rng=0)
>>> labels, n = slic(vol.image, size=8)
>>> table = region_features(labels, {"raw": vol.image})
>>> len(table) == n, "raw_mean" in table
(True, True)
>>> rag = region_adjacency(labels)
>>> bool((rag.edges[:, 0] < rag.edges[:, 1]).all())
True
"""

from __future__ import annotations

from voxelwise.supervoxels._features import STATISTICS, region_features
from voxelwise.supervoxels._graph import RegionAdjacencyGraph, region_adjacency
from voxelwise.supervoxels._params import DEFAULT_COMPACTNESS, METHODS
from voxelwise.supervoxels._segment import seeded_watershed, slic
from voxelwise.supervoxels._table import RegionTable
from voxelwise.supervoxels._workspace import (
    compute_supervoxels,
    supervoxel_features,
    supervoxel_graph,
)

__all__ = [
    "DEFAULT_COMPACTNESS",
    "METHODS",
    "STATISTICS",
    "RegionAdjacencyGraph",
    "RegionTable",
    "compute_supervoxels",
    "region_adjacency",
    "region_features",
    "seeded_watershed",
    "slic",
    "supervoxel_features",
    "supervoxel_graph",
]
