"""Point data (as SuRVoS2): points with a class, ellipsoids, active contours, patch clusters.

Points
    :class:`Points` (``id``, ``z``, ``y``, ``x``, ``class``, optional ``size``: a diameter
    in physical units); :func:`read_points_csv` / :func:`write_points_csv` (a CSV with missing
    or extra columns is refused with the expected ones listed; points outside the volume are
    reported and skipped).
Workspace storage
    ``<workspace>/points/<name>.csv``: :func:`import_points`, :func:`export_points`,
    :func:`save_points`, :func:`load_points`, :func:`list_points`, :func:`delete_points`,
    and edits by id: :func:`add_points`, :func:`update_points` (move, change class or
    size), :func:`remove_points`.
Geometry
    :func:`ellipsoids` (size and orientation) and :func:`paint` rasterise them chunk by
    chunk; :func:`refine_points` refines each one by morphological Chan-Vese or geodesic
    active contour on a chosen feature, in its own box; :func:`rasterize_layer` does either
    into a workspace layer.
Patches and clusters
    :func:`sample_patches` at the points, :func:`patch_features` (handcrafted descriptors) or
    any embedding function, :func:`cluster_features` (HDBSCAN), :func:`embed_features`
    (t-SNE, UMAP when installed, PCA), :func:`scatter_png`; :func:`cluster_points` on a
    workspace.

>>> from voxelwise import points
>>> points.import_points(ws, "centres.csv", name="mito")  # doctest: +SKIP
>>> points.rasterize_layer(ws, "mito", size=300, refine="chan_vese")  # doctest: +SKIP
"""

from __future__ import annotations

from voxelwise.points._cluster import EMBEDDINGS, cluster_features, embed_features, scatter_png
from voxelwise.points._describe import patch_features
from voxelwise.points._errors import PointsError, PointsFileError, PointsNotFoundError
from voxelwise.points._geometry import VALUES, Ellipsoids, ellipsoids, paint, parse_orientation
from voxelwise.points._patches import sample_patches
from voxelwise.points._points import (
    OPTIONAL_COLUMNS,
    POINT_COLUMNS,
    Points,
    inside_volume,
    read_points_csv,
    write_points_csv,
)
from voxelwise.points._refine import METHODS, refine_mask, refine_points
from voxelwise.points._store import (
    add_points,
    delete_points,
    export_points,
    import_points,
    list_points,
    load_points,
    remove_points,
    save_points,
    update_points,
)
from voxelwise.points._workspace import cluster_points, rasterize_layer

__all__ = [
    "EMBEDDINGS",
    "METHODS",
    "OPTIONAL_COLUMNS",
    "POINT_COLUMNS",
    "VALUES",
    "Ellipsoids",
    "Points",
    "PointsError",
    "PointsFileError",
    "PointsNotFoundError",
    "add_points",
    "cluster_features",
    "cluster_points",
    "delete_points",
    "ellipsoids",
    "embed_features",
    "export_points",
    "import_points",
    "inside_volume",
    "list_points",
    "load_points",
    "paint",
    "parse_orientation",
    "patch_features",
    "rasterize_layer",
    "read_points_csv",
    "refine_mask",
    "refine_points",
    "remove_points",
    "sample_patches",
    "save_points",
    "scatter_png",
    "update_points",
    "write_points_csv",
]
