"""Workspaces: one folder per dataset holding an OME-Zarr store and a SQLite catalog.

A workspace keeps the raw image as a multiscale pyramid and every derived layer (features,
supervoxels, annotations, predictions, probabilities, instances) as a chunked, compressed zarr
array, plus a catalog of layers, label sets, runs and jobs. The catalog is the source of truth:
layers appear atomically, and a crash mid-write leaves the workspace as it was.

>>> from voxelwise.workspace import Workspace
>>> ws = Workspace.create("cells.vw", "stack.tif", spacing=(50, 4, 4))  # doctest: +SKIP
>>> ws.add_layer("membranes", probability, kind="probabilities", sources="raw")  # doctest: +SKIP
>>> ws.get("membranes")  # doctest: +SKIP

ROI sub-workspaces (:func:`create_roi_workspace`, :func:`pull_back`, :func:`relink`) let a user
annotate and train on a small region of a huge volume and write the results back into it.

See ``docs/design/workspace-format.md`` for the folder layout and the catalog schema.
"""

from __future__ import annotations

from voxelwise.errors import (
    LayerExistsError,
    LayerNotFoundError,
    WorkspaceError,
    WorkspaceExistsError,
    WorkspaceNotFoundError,
)
from voxelwise.workspace._catalog import SCHEMA_VERSION
from voxelwise.workspace._errors import (
    InvalidLayerError,
    JobError,
    JobNotFoundError,
    LabelError,
    LabelNotFoundError,
    ModelExistsError,
    ModelNotFoundError,
)
from voxelwise.workspace._images import add_image, image_layers, resample_to_grid
from voxelwise.workspace._models import ModelInfo
from voxelwise.workspace._pullback import PULL_BACK_MODES, PullBack, pull_back
from voxelwise.workspace._records import (
    JOB_STATES,
    KINDS,
    LABEL_KINDS,
    JobInfo,
    LabelInfo,
    LayerInfo,
    RunInfo,
    default_color,
)
from voxelwise.workspace._roi import create_roi_workspace, open_parent, relink, roi_parent
from voxelwise.workspace._stats import PERCENTILES, compute_stats
from voxelwise.workspace._workspace import Workspace

__all__ = [
    "JOB_STATES",
    "KINDS",
    "LABEL_KINDS",
    "PERCENTILES",
    "PULL_BACK_MODES",
    "SCHEMA_VERSION",
    "InvalidLayerError",
    "JobError",
    "JobInfo",
    "JobNotFoundError",
    "LabelError",
    "LabelInfo",
    "LabelNotFoundError",
    "LayerExistsError",
    "LayerInfo",
    "LayerNotFoundError",
    "ModelExistsError",
    "ModelInfo",
    "ModelNotFoundError",
    "PullBack",
    "RunInfo",
    "Workspace",
    "WorkspaceError",
    "WorkspaceExistsError",
    "WorkspaceNotFoundError",
    "add_image",
    "compute_stats",
    "create_roi_workspace",
    "default_color",
    "image_layers",
    "open_parent",
    "pull_back",
    "relink",
    "resample_to_grid",
    "roi_parent",
]
