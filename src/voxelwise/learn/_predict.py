"""Applying a model to a workspace: label, probability and confidence layers."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler
from voxelwise.errors import LayerExistsError
from voxelwise.learn._errors import LearnError
from voxelwise.learn._model import Model, as_model
from voxelwise.learn._modes import predict_supervoxel_mode, predict_voxel_mode
from voxelwise.learn._mrf import DEFAULT_SMOOTHNESS, MAX_GRID_VOXELS

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["Prediction", "predict"]

PREDICT_STEP = "learn.predict"


@dataclass(frozen=True)
class Prediction:
    """The layers :func:`predict` wrote.

    ``labels``: the prediction layer; ``probabilities``: class name -> probability layer;
    ``confidence``/``entropy``: the maximum probability and normalised entropy layers (None when
    not written); ``refined``: whether an MRF refined the labels.
    """

    labels: str
    probabilities: dict[str, str] = field(default_factory=dict)
    confidence: str | None = None
    entropy: str | None = None
    refined: bool = False
    seconds: float = 0.0

    @property
    def layers(self) -> list[str]:
        """Every layer written, label layer first."""
        out = [self.labels, *self.probabilities.values()]
        return out + [n for n in (self.confidence, self.entropy) if n is not None]


def _label_set_for(ws: Workspace, model: Model) -> str | None:
    """The model's label set in ``ws``: created when missing; None when it conflicts."""
    if model.label_set is None:
        return None
    sets = ws.label_sets()
    if model.label_set not in sets:
        for value, name, color in zip(model.classes, model.class_names, model.colors):
            ws.add_label(model.label_set, name, value=value, color=tuple(color))
        return model.label_set
    known = {lab.value: lab.name for lab in sets[model.label_set]}
    if all(known.get(v) == n for v, n in zip(model.classes, model.class_names)):
        return model.label_set
    return None


def _out_names(model: Model, name: str, probabilities: bool, confidence: bool) -> dict[str, Any]:
    names: dict[str, Any] = {
        "labels": name,
        "probabilities": {},
        "confidence": None,
        "entropy": None,
    }
    if probabilities:
        names["probabilities"] = {c: f"{name}_p_{c}" for c in model.class_names}
    if confidence:
        names["confidence"] = f"{name}_confidence"
        names["entropy"] = f"{name}_entropy"
    return names


def _region(ws: Workspace, model: Model, parent_layer: str | None) -> da.Array | None:
    if model.parent is None:
        if parent_layer is not None:
            raise LearnError(
                "parent_layer= applies to hierarchical models (trained with parent=...); this "
                "model classifies every voxel, so leave parent_layer unset"
            )
        return None
    if parent_layer is None:
        raise LearnError(
            f"This model classifies the children of {model.parent['name']!r} inside its region; "
            "give parent_layer= the layer holding the parent labels (e.g. an earlier prediction)"
        )
    info = ws.layer(parent_layer)
    if not info.is_label:
        raise LearnError(f"parent_layer {parent_layer!r} is a {info.kind!r} layer, not labels")
    return da.isin(ws.get(parent_layer), np.asarray(model.parent["region"]))


def predict(
    ws: Workspace,
    model: Any,
    *,
    name: str = "prediction",
    refine: bool = False,
    smoothness: float = DEFAULT_SMOOTHNESS,
    parent_layer: str | None = None,
    features: str = "auto",
    supervoxels: str | None = None,
    probabilities: bool = True,
    confidence: bool = True,
    overwrite: bool = False,
    max_voxels: int = MAX_GRID_VOXELS,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
    _inputs: tuple[np.ndarray, np.ndarray] | None = None,
    _rag: Any = None,
) -> Prediction:
    """Predict every voxel of a workspace and write label, probability and confidence layers.

    Parameters
    ----------
    ws : Workspace
    model : Model or path
        A trained model or its file (:func:`load_model`).
    name : str
        The label layer (kind ``"prediction"``, with the model's label set); the others are
        ``{name}_p_{class}`` (kind ``"probabilities"``), ``{name}_confidence`` (maximum
        probability) and ``{name}_entropy`` (entropy / log K; both kind ``"confidence"``).
    refine : bool
        Smooth the labels with a Potts MRF: on the supervoxel adjacency graph (supervoxel mode)
        or the voxel grid (voxel mode; volumes up to ``max_voxels``). Needs PyMaxflow.
    smoothness : float
        MRF pairwise weight (lambda; default 0.15).
    parent_layer : str, optional
        For a hierarchical model: the layer holding the parent labels. The children are
        predicted inside the parent's region; elsewhere the label layer copies ``parent_layer``
        and the probabilities are 0.
    features : {"auto", "layers", "compute"}
        Read feature layers whose recorded recipe matches the model's (computing the others
        from their source, chunk by chunk), only read layers, or compute all afresh.
    supervoxels : str, optional
        Supervoxel layer (supervoxel mode); default the one the model was trained with,
        computed with the model's recorded parameters when the workspace lacks it.
    probabilities, confidence : bool
        Also write the per-class probability layers / the confidence and entropy layers.
    overwrite : bool
        Replace existing output layers (checked before any work).
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress`` follows the main pass (classifying every
        chunk, or measuring every supervoxel), the longest part of the work.

    Returns
    -------
    Prediction
        The names of the layers written.

    Raises
    ------
    FeatureMismatchError
        The workspace lacks the model's features (and they cannot be computed), or holds other
        features under their names.
    LayerExistsError
        An output layer exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    model = as_model(model)
    names = _out_names(model, name, probabilities, confidence)
    wanted = [names["labels"], *names["probabilities"].values()]
    wanted += [n for n in (names["confidence"], names["entropy"]) if n is not None]
    clash = [n for n in wanted if n in ws]
    if clash and not overwrite:
        raise LayerExistsError(
            f"Layer(s) {', '.join(map(repr, clash))} exist already in the workspace; pass "
            "overwrite=True to replace them, or choose another name="
        )
    region = _region(ws, model, parent_layer)
    label_set = _label_set_for(ws, model)
    with tempfile.TemporaryDirectory(dir=ws.path, prefix=".learn-") as scratch:
        if model.mode == "voxel":
            outputs = predict_voxel_mode(
                ws,
                model,
                region,
                features,
                refine,
                smoothness,
                max_voxels,
                scratch,
                scheduler,
                progress,
            )
        else:
            outputs = predict_supervoxel_mode(
                ws,
                model,
                region,
                features,
                supervoxels,
                refine,
                smoothness,
                scheduler,
                progress,
                _inputs,
                _rag,
            )
        labels, probs, conf = outputs
        if region is not None:
            parent_values = ws.get(str(parent_layer))
            labels = da.where(region, labels, parent_values.astype(labels.dtype))
        sources = [*model.features] + ([parent_layer] if parent_layer else [])
        sources = [s for s in sources if s in ws]
        params = {
            "model": repr(model),
            "mode": model.mode,
            "classifier": model.classifier,
            "classes": list(model.classes),
            "class_names": list(model.class_names),
            "refine": bool(refine),
            "smoothness": float(smoothness),
            "parent_layer": parent_layer,
            "model_file": model.training.get("model_file"),
        }
        common = {"sources": sources, "overwrite": overwrite, "scheduler": scheduler}
        ws.add_layer(
            names["labels"],
            labels,
            kind="prediction",
            label_set=label_set,
            params=params,
            **common,
        )
        for k, layer in enumerate(names["probabilities"].values()):
            ws.add_layer(
                layer,
                probs[k],
                kind="probabilities",
                params={**params, "class": model.class_names[k]},
                **common,
            )
        if names["confidence"] is not None:
            ws.add_layer(
                names["confidence"],
                conf[0],
                kind="confidence",
                params={**params, "measure": "max_probability"},
                **common,
            )
            ws.add_layer(
                names["entropy"],
                conf[1],
                kind="confidence",
                params={**params, "measure": "normalized_entropy"},
                **common,
            )
    seconds = time.perf_counter() - start
    result = Prediction(
        labels=names["labels"],
        probabilities=dict(names["probabilities"]),
        confidence=names["confidence"],
        entropy=names["entropy"],
        refined=bool(refine),
        seconds=seconds,
    )
    ws.record_run(
        PREDICT_STEP, params=params, inputs=sources, outputs=result.layers, duration=seconds
    )
    return result
