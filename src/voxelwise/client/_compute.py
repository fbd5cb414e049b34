"""Job-launching methods of the :class:`~voxelwise.client.Client`: each returns a :class:`Job`."""

from __future__ import annotations

from typing import Any

from voxelwise.client._annotate import AnnotateMixin
from voxelwise.client._http import seg
from voxelwise.client._jobs import Job

__all__ = ["ComputeMixin"]


class ComputeMixin(AnnotateMixin):
    """Features, supervoxels, shallow and deep learning, analysis: each a job on the server."""

    def _submit(self, workspace: str, path: str, body: dict[str, Any]) -> Job:
        clean = {k: v for k, v in body.items() if v is not None}
        info = self._http.json("POST", f"/workspaces/{seg(workspace)}/{path}", json=clean)
        return Job(self._http, info)

    def import_labels(self, workspace: str, path: str, name: str, **options: Any) -> Job:
        """Import a label volume (``path`` relative to the data root) as an annotation layer."""
        return self._submit(
            workspace, "annotations/import", {"path": path, "name": name, **options}
        )

    def compute_features(
        self,
        workspace: str,
        features: str | list[str] = "default",
        *,
        source: str = "raw",
        overwrite: bool = False,
    ) -> Job:
        """Feature layers from a preset (``"default"``, ``"small"``) or ``"filter:k=v"`` specs."""
        body = {"features": features, "source": source, "overwrite": overwrite}
        return self._submit(workspace, "features", body)

    def compute_supervoxels(self, workspace: str, **options: Any) -> Job:
        """Supervoxels (``source``, ``name``, ``method``, ``size``, ``compactness``, ...)."""
        return self._submit(workspace, "supervoxels", options)

    def train(
        self,
        workspace: str,
        *,
        annotations: str,
        features: Any = "default",
        images: list[str] | None = None,
        **options: Any,
    ) -> Job:
        """Train a shallow classifier on scribbles (see :func:`voxelwise.learn.train`); the
        model is kept in the workspace under ``model`` (default ``"shallow"``). ``images``:
        image layers whose features the classifier sees side by side (default ``["raw"]``)."""
        body = {"annotations": annotations, "features": features, "images": images, **options}
        return self._submit(workspace, "shallow/train", body)

    def predict(
        self, workspace: str, *, model: str | None = None, name: str = "prediction", **options: Any
    ) -> Job:
        """Predict label, probability and confidence layers with a trained shallow model."""
        return self._submit(workspace, "shallow/predict", {"model": model, "name": name, **options})

    def deep_train(
        self,
        workspace: str,
        *,
        annotations: str,
        model: str = "deep",
        images: list[str] | None = None,
        **options: Any,
    ) -> Job:
        """Train a network (``config``, ``epochs``, ``max_minutes``, ``device``; 'cuda' runs on
        a GPU worker). ``images``: several image layers as input channels, in this order (e.g.
        ``["raw", "fluo"]``; default the ``image`` layer, ``"raw"``); the model keeps their
        names and :meth:`deep_predict` reads the same layers."""
        body = {"annotations": annotations, "model": model, "images": images, **options}
        return self._submit(workspace, "deep/train", body)

    def deep_predict(
        self,
        workspace: str,
        *,
        model: str = "deep",
        name: str = "deep_prediction",
        images: list[str] | None = None,
        **options: Any,
    ) -> Job:
        """Segment the workspace with a trained network, tile by tile, into layers.
        ``images``: the image layers of a model of several input channels, in its channel
        order (default the layers it was trained on)."""
        body = {"model": model, "name": name, "images": images, **options}
        return self._submit(workspace, "deep/predict", body)

    def find_instances(self, workspace: str, source: str, **options: Any) -> Job:
        """Number the objects of a mask or class layer (``value``, ``min_distance``, ...)."""
        return self._submit(workspace, "analysis/instances", {"source": source, **options})

    def edit_instances(self, workspace: str, layer: str, **options: Any) -> Job:
        """Merge, delete or split objects by id (``merge``, ``delete``, ``split``)."""
        return self._submit(workspace, "analysis/edit-instances", {"layer": layer, **options})

    def analyze_layer(self, workspace: str, labels: str, **options: Any) -> Job:
        """Measure every object into a table (``intensity``, ``surface``, ``table``)."""
        return self._submit(workspace, "analysis/measure", {"labels": labels, **options})

    def split_layer(self, workspace: str, table: str, rules: dict[str, Any], **options: Any) -> Job:
        """Assign objects to classes with splitter rules (a dict as in ``SplitRules.to_dict``)."""
        return self._submit(
            workspace, "analysis/split", {"table": table, "rules": rules, **options}
        )

    def layer_metrics(self, workspace: str, pred: str, truth: str, **options: Any) -> Job:
        """IoU, Dice, precision, recall of ``pred`` against ``truth`` (``instances=True``: matched)."""
        return self._submit(
            workspace, "analysis/metrics", {"pred": pred, "truth": truth, **options}
        )

    def volume_fractions(self, workspace: str, classes: str, **options: Any) -> Job:
        """Volume fractions of the classes of a layer (``within``, ``values``, ``table``)."""
        return self._submit(workspace, "analysis/fractions", {"classes": classes, **options})
