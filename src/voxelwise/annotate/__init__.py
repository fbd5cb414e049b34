"""Annotation: paint labels into workspace layers, chunk by chunk, with an undoable edit log.

Labels come from the workspace's label sets (``ws.add_label(set, name, value=..., color=...,
parent=...)``): any number of them, in uint16 or wider layers. A label with a parent (a child)
may be painted only inside its parent's region: where the parent, or one of the parent's
descendants, is present in the edited layer or in ``parent_layer``.

Edits
    :func:`paint` (a disc in the z, y or x plane, or a 3D ball), :func:`paint_stroke` (a
    polyline swept by the brush), :func:`erase`, :func:`paint_supervoxels` (whole supervoxels
    touched by a stroke), :func:`fill_2d` (flood fill within a slice), :func:`interpolate`
    (shape-based, between two annotated slices). Each reads and rewrites only the chunks it
    touches, so a stroke costs the same on a small and on a terabyte volume.
Layers
    :func:`create_layer` adds an empty annotation layer; :func:`import_labels` imports
    scribbles or dense labels from any file :mod:`voxelwise.io` reads (shape checked).
History
    Every edit is appended to an edit log in the workspace's catalog (label, bounding box,
    time, author, and the changed voxels' old and new values, compressed). :func:`undo` and
    :func:`redo` work like an editor's; :func:`history` lists the log. Edits from several
    processes on one layer are serialised, so none loses another's voxels.

>>> from voxelwise.workspace import Workspace
>>> from voxelwise import annotate
>>> ws = Workspace.open("cells.vw")  # doctest: +SKIP
>>> ws.add_label("cells", "cell"); ws.add_label("cells", "nucleus", parent="cell")  # doctest: +SKIP
>>> annotate.create_layer(ws, "scribbles", label_set="cells")  # doctest: +SKIP
>>> annotate.paint(ws, "scribbles", "cell", center=(12, 80, 80), radius=10)  # doctest: +SKIP
>>> annotate.undo(ws, "scribbles")  # doctest: +SKIP
"""

from __future__ import annotations

from voxelwise.annotate._annotator import Annotator
from voxelwise.annotate._brush import erase, paint, paint_stroke, paint_supervoxels
from voxelwise.annotate._errors import AnnotationError, HierarchyError, OutsideVolumeError
from voxelwise.annotate._geometry import PLANES
from voxelwise.annotate._history import history, redo, undo
from voxelwise.annotate._labels import subtree_values
from voxelwise.annotate._layers import create_layer, import_labels
from voxelwise.annotate._log import EDIT_KINDS, Edit
from voxelwise.annotate._regions import fill_2d, interpolate

__all__ = [
    "EDIT_KINDS",
    "PLANES",
    "AnnotationError",
    "Annotator",
    "Edit",
    "HierarchyError",
    "OutsideVolumeError",
    "create_layer",
    "erase",
    "fill_2d",
    "history",
    "import_labels",
    "interpolate",
    "paint",
    "paint_stroke",
    "paint_supervoxels",
    "redo",
    "subtree_values",
    "undo",
]
