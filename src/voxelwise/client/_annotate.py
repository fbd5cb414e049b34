"""Label sets and annotation edits of the :class:`~voxelwise.client.Client`."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelwise.client._http import Http, seg

__all__ = ["AnnotateMixin"]


def _points(points: Any) -> list[list[float]]:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(
            f"Expected points as (z, y, x) or (N, 3) coordinates, got shape {arr.shape}"
        )
    return arr.tolist()


def _radius(radius: Any) -> Any:
    arr = np.asarray(radius, dtype=float)
    return float(arr) if arr.ndim == 0 else arr.tolist()


class AnnotateMixin:
    """Label sets, annotation layers, strokes, undo and redo."""

    _http: Http

    def _a(self, workspace: str, layer: str, what: str) -> str:
        return f"/workspaces/{seg(workspace)}/annotations/{seg(layer)}/{what}"

    # -- label sets -----------------------------------------------------------------------------

    def label_sets(self, workspace: str) -> dict[str, list[dict[str, Any]]]:
        """Every label set: set name -> labels (name, value, color, parent)."""
        return dict(self._http.json("GET", f"/workspaces/{seg(workspace)}/label-sets"))

    def add_label(
        self,
        workspace: str,
        label_set: str,
        name: str,
        *,
        value: int | None = None,
        color: Any = None,
        parent: str | None = None,
    ) -> dict[str, Any]:
        """Add a label to a label set (created with its first label)."""
        body = {"name": name, "value": value, "color": color, "parent": parent}
        path = f"/workspaces/{seg(workspace)}/label-sets/{seg(label_set)}/labels"
        return dict(
            self._http.json("POST", path, json={k: v for k, v in body.items() if v is not None})
        )

    def update_label(
        self, workspace: str, label_set: str, label: str, **changes: Any
    ) -> dict[str, Any]:
        """Change ``name``, ``color`` or ``parent`` (``parent=None`` makes it a root)."""
        path = f"/workspaces/{seg(workspace)}/label-sets/{seg(label_set)}/labels/{seg(label)}"
        return dict(self._http.json("PATCH", path, json=changes))

    def delete_label(self, workspace: str, label_set: str, label: str) -> None:
        path = f"/workspaces/{seg(workspace)}/label-sets/{seg(label_set)}/labels/{seg(label)}"
        self._http.json("DELETE", path)

    # -- annotation layers ----------------------------------------------------------------------

    def create_annotation_layer(
        self,
        workspace: str,
        name: str,
        *,
        label_set: str | None = None,
        dtype: str | None = None,
        chunks: list[int] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Add an empty annotation layer; returns its metadata."""
        body = {
            "name": name,
            "label_set": label_set,
            "dtype": dtype,
            "chunks": chunks,
            "overwrite": overwrite,
        }
        return dict(self._http.json("POST", f"/workspaces/{seg(workspace)}/annotations", json=body))

    def paint_stroke(
        self,
        workspace: str,
        layer: str,
        label: str | int,
        points: Any,
        radius: Any,
        *,
        plane: str | None = None,
        overwrite: bool = True,
        parent_layer: str | None = None,
    ) -> dict[str, Any]:
        """Paint a polyline swept by a disc (``plane``) or ball; one undoable edit."""
        body = {
            "tool": "paint",
            "label": label,
            "points": _points(points),
            "radius": _radius(radius),
            "plane": plane,
            "overwrite": overwrite,
            "parent_layer": parent_layer,
        }
        return dict(self._http.json("POST", self._a(workspace, layer, "strokes"), json=body))

    def paint(
        self,
        workspace: str,
        layer: str,
        label: str | int,
        *,
        center: Any,
        radius: Any,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Paint one disc or ball at ``center`` (z, y, x)."""
        return self.paint_stroke(workspace, layer, label, [center], radius, **kwargs)

    def erase(
        self,
        workspace: str,
        layer: str,
        points: Any,
        radius: Any,
        *,
        plane: str | None = None,
        label: str | int | None = None,
    ) -> dict[str, Any]:
        """Set the voxels of a stroke back to 0 (with ``label``, only those holding it)."""
        body = {
            "tool": "erase",
            "label": label,
            "points": _points(points),
            "radius": _radius(radius),
            "plane": plane,
        }
        return dict(self._http.json("POST", self._a(workspace, layer, "strokes"), json=body))

    def paint_supervoxels(
        self,
        workspace: str,
        layer: str,
        label: str | int,
        supervoxels: str,
        points: Any,
        *,
        radius: Any = 0,
        plane: str | None = None,
        overwrite: bool = True,
    ) -> dict[str, Any]:
        """Paint every supervoxel of layer ``supervoxels`` that the stroke touches."""
        body = {
            "tool": "supervoxels",
            "label": label,
            "supervoxels": supervoxels,
            "points": _points(points),
            "radius": _radius(radius),
            "plane": plane,
            "overwrite": overwrite,
        }
        return dict(self._http.json("POST", self._a(workspace, layer, "strokes"), json=body))

    def fill_2d(
        self, workspace: str, layer: str, label: str | int, seed: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """Flood-fill within one slice around ``seed`` (see :func:`voxelwise.annotate.fill_2d`)."""
        body = {"label": label, "seed": _points(seed)[0], **kwargs}
        return dict(self._http.json("POST", self._a(workspace, layer, "fill"), json=body))

    def interpolate(
        self, workspace: str, layer: str, label: str | int, start: int, stop: int, **kwargs: Any
    ) -> dict[str, Any]:
        """Fill the slices between two annotated slices (shape-based interpolation)."""
        body = {"label": label, "start": start, "stop": stop, **kwargs}
        return dict(self._http.json("POST", self._a(workspace, layer, "interpolate"), json=body))

    def undo(self, workspace: str, layer: str) -> dict[str, Any] | None:
        """Undo the layer's last edit in effect; None when there is nothing to undo."""
        return self._http.json("POST", self._a(workspace, layer, "undo"))

    def redo(self, workspace: str, layer: str) -> dict[str, Any] | None:
        """Redo the last undone edit; None when there is nothing to redo."""
        return self._http.json("POST", self._a(workspace, layer, "redo"))

    def history(
        self, workspace: str, layer: str, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The layer's edit log, oldest first."""
        return list(
            self._http.json("GET", self._a(workspace, layer, "history"), params={"limit": limit})
        )
