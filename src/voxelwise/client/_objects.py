"""Object classification and point data of the :class:`~voxelwise.client.Client`."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from voxelwise.client._http import Http, seg
from voxelwise.client._jobs import Job

__all__ = ["ObjectsMixin"]


def _clean(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


class ObjectsMixin:
    """Objects (find, label, train, predict, tables) and point sets (import, edit, export,
    rasterise, cluster) on the server; the long steps return a :class:`Job`.

    Examples
    --------
    >>> c.find_objects("cells", "classes", value=[2, 3]).wait()  # doctest: +SKIP
    >>> nxt = c.next_objects("cells", "classes_objects", n=5)  # doctest: +SKIP
    >>> c.label_objects("cells", "classes_objects", {12: "mito", 40: "synapse"})  # doctest: +SKIP
    >>> c.train_objects("cells", "classes_objects", method="forest").wait()  # doctest: +SKIP
    >>> c.predict_objects("cells", "classes_objects").wait()  # doctest: +SKIP
    >>> c.import_points("cells", csv="z,y,x,class\\n5,10,10,1\\n", name="mito")  # doctest: +SKIP
    """

    _http: Http

    def _wsp(self, workspace: str, path: str) -> str:
        return f"/workspaces/{seg(workspace)}/{path}"

    def _job_post(self, workspace: str, path: str, body: Mapping[str, Any]) -> Job:
        info = self._http.json("POST", self._wsp(workspace, path), json=_clean(body))
        return Job(self._http, info)

    # -- objects --------------------------------------------------------------------------------

    def find_objects(self, workspace: str, source: str, **options: Any) -> Job:
        """Split a mask or class layer into objects (``value``, ``min_size``, ``connectivity``,
        ``name``, ``overwrite``); the layer is ``"<source>_objects"`` by default."""
        return self._job_post(workspace, "objects/find", {"source": source, **options})

    def object_table(
        self, workspace: str, layer: str, *, image: str = "raw", offset: int = 0, limit: int = 10000
    ) -> dict[str, Any]:
        """Measurements of the objects: ``{"rows", "offset", "columns": {name: values}}``."""
        params = {"image": image, "offset": offset, "limit": limit}
        path = self._wsp(workspace, f"objects/{seg(layer)}/table")
        return dict(self._http.json("GET", path, params=params))

    def next_objects(
        self,
        workspace: str,
        layer: str,
        *,
        n: int = 5,
        seed: int = 0,
        ids: Sequence[int] | None = None,
        min_size: int = 1,
        preview: bool = False,
    ) -> dict[str, Any]:
        """The next objects to label (random order fixed by ``seed``, or ``ids`` in order):
        ``{"objects": [{"id", "voxels", "centroid", "bbox"}], "preview": PNG bytes or None}``."""
        params: dict[str, Any] = {"n": n, "seed": seed, "min_size": min_size, "preview": preview}
        if ids is not None:
            params["ids"] = [int(i) for i in ids]
        path = self._wsp(workspace, f"objects/{seg(layer)}/next")
        out = dict(self._http.json("GET", path, params=params))
        if out.get("preview"):
            out["preview"] = base64.b64decode(out["preview"])
        return out

    def object_labels(self, workspace: str, layer: str) -> dict[str, Any]:
        """``{"labels": {id: class}, "skipped": [ids], "classes": {class: count}}`` (ids as
        ints)."""
        out = dict(self._http.json("GET", self._wsp(workspace, f"objects/{seg(layer)}/labels")))
        out["labels"] = {int(k): v for k, v in out["labels"].items()}
        return out

    def label_objects(
        self,
        workspace: str,
        layer: str,
        labels: Mapping[int, str] | None = None,
        *,
        skip: Sequence[int] = (),
        unlabel: Sequence[int] = (),
    ) -> dict[str, Any]:
        """Give objects a class (``{id: "class"}``), mark ``skip`` ids as seen, or forget the
        labels of ``unlabel`` ids. Returns the counts."""
        body = {
            "set": {str(int(k)): v for k, v in (labels or {}).items()},
            "skip": [int(i) for i in skip],
            "unlabel": [int(i) for i in unlabel],
        }
        path = self._wsp(workspace, f"objects/{seg(layer)}/labels")
        return dict(self._http.json("POST", path, json=body))

    def object_models(self, workspace: str) -> dict[str, str]:
        """Object classifiers kept in the workspace: name -> ``"cnn"`` or ``"forest"``."""
        return dict(self._http.json("GET", self._wsp(workspace, "object-models")))

    def train_objects(
        self, workspace: str, layer: str, *, model: str = "objects", **options: Any
    ) -> Job:
        """Train on the labelled objects (``method`` "cnn"/"forest", ``arch``, ``ndim``,
        ``size``, ``dilate``, ``epochs``, ``device``, ``overwrite``)."""
        path = f"objects/{seg(layer)}/train"
        return self._job_post(workspace, path, {"model": model, **options})

    def predict_objects(
        self, workspace: str, layer: str, *, model: str = "objects", **options: Any
    ) -> Job:
        """Classify every object into a class layer (``name``, default ``"<layer>_classes"``)
        and a table (see :meth:`object_predictions`)."""
        path = f"objects/{seg(layer)}/predict"
        return self._job_post(workspace, path, {"model": model, **options})

    def object_predictions(
        self, workspace: str, layer: str, *, name: str | None = None
    ) -> dict[str, Any]:
        """The table of a prediction: ``columns`` id, class, class_name, confidence, prob_*."""
        params = _clean({"name": name})
        path = self._wsp(workspace, f"objects/{seg(layer)}/predictions")
        return dict(self._http.json("GET", path, params=params))

    # -- points ---------------------------------------------------------------------------------

    def point_sets(self, workspace: str) -> dict[str, int]:
        """Point sets of the workspace: name -> number of points."""
        return dict(self._http.json("GET", self._wsp(workspace, "points")))

    def import_points(
        self,
        workspace: str,
        path: str | None = None,
        *,
        csv: str | None = None,
        name: str | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Import a CSV (``path`` relative to the data root, or the ``csv`` text); points
        outside the volume are skipped and listed under ``"skipped"``."""
        body = _clean({"path": path, "csv": csv, "name": name, "overwrite": overwrite})
        return dict(self._http.json("POST", self._wsp(workspace, "points/import"), json=body))

    def points(self, workspace: str, point_set: str) -> list[dict[str, Any]]:
        """The points of a set: ``[{"id", "z", "y", "x", "class"[, "size"]}, ...]``."""
        out = self._http.json("GET", self._wsp(workspace, f"points/{seg(point_set)}"))
        return list(out["points"])

    def export_points(self, workspace: str, point_set: str) -> str:
        """A point set as CSV text."""
        return self._http.request("GET", self._wsp(workspace, f"points/{seg(point_set)}/csv")).text

    def add_points(
        self, workspace: str, point_set: str, points: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Add points ``[{"z", "y", "x", "class"[, "size"]}]``; returns their ``"ids"``."""
        path = self._wsp(workspace, f"points/{seg(point_set)}/points")
        return dict(self._http.json("POST", path, json={"points": [dict(p) for p in points]}))

    def update_points(
        self, workspace: str, point_set: str, changes: Mapping[int, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Move points or change class or size: ``{id: {"z"?, "y"?, "x"?, "class"?, "size"?}}``."""
        body = {"changes": {str(int(k)): dict(v) for k, v in changes.items()}}
        path = self._wsp(workspace, f"points/{seg(point_set)}/points")
        return dict(self._http.json("PATCH", path, json=body))

    def remove_point(self, workspace: str, point_set: str, point_id: int) -> dict[str, Any]:
        """Remove one point by id."""
        path = self._wsp(workspace, f"points/{seg(point_set)}/points/{int(point_id)}")
        return dict(self._http.json("DELETE", path))

    def delete_points(self, workspace: str, point_set: str) -> dict[str, Any]:
        """Delete a whole point set."""
        return dict(self._http.json("DELETE", self._wsp(workspace, f"points/{seg(point_set)}")))

    def rasterize_points(self, workspace: str, point_set: str, **options: Any) -> Job:
        """Ellipsoids at the points into a label layer (``size``, ``aspect``, ``orientation``,
        ``values``), refined with ``refine="chan_vese"`` or ``"geodesic"`` on ``feature``."""
        return self._job_post(workspace, f"points/{seg(point_set)}/rasterize", options)

    def cluster_points(self, workspace: str, point_set: str, **options: Any) -> Job:
        """Cluster patches at the points (``size``, ``bin``, ``model``: an object CNN's
        embedding, ``min_cluster_size``, ``embedding``); read it with :meth:`point_clusters`."""
        return self._job_post(workspace, f"points/{seg(point_set)}/cluster", options)

    def point_clusters(self, workspace: str, point_set: str) -> dict[str, Any]:
        """The last clustering: ``columns`` (id, z, y, x, class, cluster, embed_x, embed_y) and
        ``png`` (the scatter plot as PNG bytes)."""
        out = dict(
            self._http.json("GET", self._wsp(workspace, f"points/{seg(point_set)}/clusters"))
        )
        if out.get("png"):
            out["png"] = base64.b64decode(out["png"])
        return out
