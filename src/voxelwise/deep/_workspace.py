"""Deep learning on workspace layers: train on an image and a labels layer, predict into layers.

:func:`train_workspace` reads both volumes from the workspace's zarr store (lazily), names the
model's classes after the labels layer's label set and records a ``deep.train`` run. Several
image layers (``images=[...]``) are the network's input channels; the model remembers their
names and :func:`predict_workspace` reads the same layers.
:func:`predict_workspace` segments a layer with :func:`~voxelwise.deep.predict` into a scratch
zarr group inside the workspace folder, then adds each output as a layer (chunk by chunk,
atomically) and records a ``deep.predict`` run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from voxelwise.deep._config import TrainConfig
from voxelwise.deep._data import stack_channels
from voxelwise.deep._model import DeepModel, load_model, save_model
from voxelwise.deep._predict import predict
from voxelwise.deep._train import TrainResult, train
from voxelwise.errors import LayerExistsError
from voxelwise.workspace import InvalidLayerError, Workspace

__all__ = [
    "PREDICT_STEP",
    "TRAIN_STEP",
    "WorkspacePrediction",
    "predict_workspace",
    "train_workspace",
]

TRAIN_STEP = "deep.train"
PREDICT_STEP = "deep.predict"
OUTPUTS = ("labels", "probabilities", "confidence", "entropy")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class WorkspacePrediction:
    """The layers :func:`predict_workspace` wrote (None / empty where not asked for).

    ``labels``: the prediction layer; ``probabilities``: class name -> probability layer;
    ``confidence`` and ``entropy``: maximum probability and normalised entropy layers;
    ``label_set``: the label layer's label set; ``seconds``: the time taken.
    """

    labels: str | None
    probabilities: dict[str, str] = field(default_factory=dict)
    confidence: str | None = None
    entropy: str | None = None
    label_set: str | None = None
    seconds: float = 0.0

    @property
    def layers(self) -> list[str]:
        """Every layer written, the label layer first."""
        out = [self.labels] if self.labels else []
        out += list(self.probabilities.values())
        return out + [n for n in (self.confidence, self.entropy) if n is not None]


def _as_workspace(ws: Workspace | str | os.PathLike[str]) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws)


def _as_config(config: TrainConfig | dict[str, Any] | str | Path | None) -> TrainConfig:
    if isinstance(config, str | Path):
        return TrainConfig.from_yaml(config)
    if isinstance(config, dict):
        return TrainConfig.from_dict(config)
    return dataclasses.replace(config) if config is not None else TrainConfig()


def _name_classes(model_path: Path, ws: Workspace, label_set: str) -> None:
    """Store the label set's names for the model's label values in the model file."""
    model = load_model(model_path)
    by_value = {lab.value: lab.name for lab in ws.label_set(label_set)}
    meta = model.metadata
    meta["label_names"] = [
        by_value.get(int(v), n) for v, n in zip(meta["label_values"], meta["label_names"])
    ]
    meta["label_set"] = label_set
    save_model(model, model_path)


def _image_layers(ws: Workspace, image: str, images: Sequence[str] | None) -> list[str]:
    """The image layer(s) to read, each checked: ``images`` when given, else ``[image]``."""
    if images is None:
        layers = [image]
    elif isinstance(images, str) or not images or not all(isinstance(n, str) for n in images):
        raise TypeError(f"Expected images as a non-empty list of layer names, got {images!r}")
    else:
        layers = list(images)
    if len(set(layers)) != len(layers):
        raise InvalidLayerError(f"Image layer(s) given twice in {layers}; list each once")
    for name in layers:
        info = ws.layer(name)
        if len(layers) > 1 and info.is_label:
            raise InvalidLayerError(
                f"Layer {name!r} is a {info.kind!r} layer of label values; input channels are "
                "image layers (raw, or those added with voxelwise.workspace.add_image)"
            )
    return layers


def _image_source(ws: Workspace, layers: list[str]) -> Any:
    """One layer's lazy array, or a lazy (C, Z, Y, X) stack of several."""
    if len(layers) == 1:
        return ws.get(layers[0])
    return stack_channels([ws.get(n) for n in layers], what="image layer")


def train_workspace(
    ws: Workspace | str | os.PathLike[str],
    labels: str,
    *,
    image: str = "raw",
    images: Sequence[str] | None = None,
    out: str | Path,
    config: TrainConfig | dict[str, Any] | str | Path | None = None,
    roi: Any = None,
    epochs: int | None = None,
    max_minutes: float | None = None,
    init_model: str | Path | None = None,
    device: str = "auto",
    rng: np.random.Generator | int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a network on two layers of a workspace with :func:`~voxelwise.deep.train`.

    Parameters
    ----------
    ws : Workspace or path
    labels : str
        The labels layer (an annotation or label layer): 0 = unlabelled, class c stored as
        c + 1. When it has a label set and the config names no classes, the model takes the
        set's label names and remembers the set (``metadata["label_set"]``), so that
        :func:`predict_workspace` can attach it to the predicted layer.
    image : str
        The image layer (default the workspace's raw image).
    images : list of str, optional
        Several image layers of the workspace as input channels, in this order (e.g.
        ``["raw", "fluo"]``; replaces ``image``). Their names are stored in the model
        (``channel_names``) and :func:`predict_workspace` reads the same layers.
    out : str or Path
        A ``.pt`` model file (reports in ``<stem>.train/`` beside it) or a folder; see
        :func:`~voxelwise.deep.train`.
    config, roi, epochs, max_minutes, init_model, device, rng, progress
        As for :func:`~voxelwise.deep.train`; ``config.spacing`` defaults to the workspace's
        voxel size (it plans the 3D U-Net's anisotropic pooling).

    Returns
    -------
    TrainResult

    Raises
    ------
    LayerNotFoundError
        No layer ``image`` (or one of ``images``) or ``labels`` in the workspace.
    InvalidLayerError
        ``labels`` is not a label-like layer (e.g. a feature layer); a layer of ``images`` is
        listed twice or holds label values.
    """
    start = time.perf_counter()
    ws = _as_workspace(ws)
    layers = _image_layers(ws, image, images)
    info = ws.layer(labels)
    if not info.is_label:
        raise InvalidLayerError(
            f"Layer {labels!r} is a {info.kind!r} layer; train on a labels or annotation layer "
            "(0 = unlabelled, class c stored as c + 1)"
        )
    cfg = _as_config(config)
    named = cfg.label_names is not None
    if cfg.spacing is None:
        cfg = dataclasses.replace(cfg, spacing=ws.spacing)
    result = train(
        (ws, layers[0]) if len(layers) == 1 else _image_source(ws, layers),
        (ws, labels),
        out=out,
        config=cfg,
        roi=roi,
        epochs=epochs,
        max_minutes=max_minutes,
        init_model=init_model,
        device=device,
        rng=rng,
        progress=progress,
        channel_names=layers,
    )
    if info.label_set is not None and not named:
        _name_classes(result.model_path, ws, info.label_set)
    ws.record_run(
        TRAIN_STEP,
        params={
            "model_file": str(Path(result.model_path).absolute()),
            "config": cfg.to_dict(),
            "roi": roi if roi is None or isinstance(roi, str) else str(roi),
            "init_model": None if init_model is None else str(init_model),
            "device": device,
            "best_val_miou": result.best_val_miou,
            "epochs": result.epochs,
            "stopped": result.stopped,
            "images": layers,
        },
        inputs=[*layers, labels],
        duration=time.perf_counter() - start,
    )
    return result


def _safe_names(meta: dict[str, Any]) -> list[str]:
    """Layer- and label-safe class names (letters, digits, '-', '_', '.'), else the values."""
    names = [_UNSAFE.sub("_", str(n)).strip("_")[:64] for n in meta["label_names"]]
    if any(not n or set(n) == {"."} for n in names) or len(set(names)) != len(names):
        return [f"class{v}" for v in meta["label_values"]]
    return names


def _label_set_for(ws: Workspace, meta: dict[str, Any], label_set: str | None) -> str | None:
    """The label set of the predicted layer: created from the model's classes when missing."""
    name = label_set or meta.get("label_set")
    if name is None:
        return None
    if name not in ws.label_sets():
        for value, label in zip(meta["label_values"], _safe_names(meta)):
            ws.add_label(name, label, value=int(value))
    return str(name)


def _out_names(name: str, outputs: Sequence[str], classes: list[str]) -> dict[str, Any]:
    return {
        "labels": name if "labels" in outputs else None,
        "probabilities": {c: f"{name}_p_{c}" for c in classes}
        if "probabilities" in outputs
        else {},
        "confidence": f"{name}_confidence" if "confidence" in outputs else None,
        "entropy": f"{name}_entropy" if "entropy" in outputs else None,
    }


def predict_workspace(
    ws: Workspace | str | os.PathLike[str],
    model: str | os.PathLike[str] | DeepModel | Sequence[str | os.PathLike[str] | DeepModel],
    *,
    image: str = "raw",
    images: Sequence[str] | None = None,
    name: str = "prediction",
    outputs: Sequence[str] = OUTPUTS,
    label_set: str | None = None,
    axes: str = "auto",
    fusion: str = "auto",
    tta: bool = False,
    ensemble: int | None = None,
    probability_dtype: str = "float16",
    overlap: Any = None,
    batch_size: int | None = None,
    device: str = "auto",
    memory_mb: float = 512.0,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> WorkspacePrediction:
    """Segment a workspace layer with deep model(s) and write the results as layers.

    Parameters
    ----------
    ws : Workspace or path
    model : path or DeepModel, or a list of them (an ensemble)
    image : str
        The layer to segment (default the raw image), for a model of one input channel.
    images : list of str, optional
        The image layers of a model of several input channels, in its channel order; default
        the layers it was trained on (its ``channel_names``, see :func:`train_workspace`).
    name : str
        The label layer (kind ``"prediction"``, uint8, class c written as c + 1); the others
        are ``{name}_p_{class}`` (kind ``"probabilities"``, ``probability_dtype``, one per
        class), ``{name}_confidence`` (maximum probability) and ``{name}_entropy``
        (normalised entropy; both kind ``"confidence"``, float16), as listed in ``outputs``.
    outputs : sequence of {'labels', 'probabilities', 'confidence', 'entropy'}
    label_set : str, optional
        Label set of the label layer; default the one the model was trained with (see
        :func:`train_workspace`). A set missing from the workspace is created from the
        model's class names and values.
    axes, fusion, tta, ensemble, probability_dtype, overlap, batch_size, device, memory_mb
        As for :func:`~voxelwise.deep.predict`; its chunks follow the workspace's.
    overwrite : bool
        Replace existing output layers (checked before any work).
    progress : callable, optional
        ``progress(done, total)``: batches of patches (restarting for every axis and model),
        then the chunks of each layer written; may raise CancelledError.

    Returns
    -------
    WorkspacePrediction
        The names of the layers written.

    Raises
    ------
    LayerNotFoundError
        No layer ``image`` (or one of ``images``).
    InvalidVolumeError
        The number of image layers differs from the model's input channels.
    LayerExistsError
        An output layer exists and ``overwrite`` is False.
    """
    start = time.perf_counter()
    ws = _as_workspace(ws)
    outputs = list(outputs)
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown or not outputs:
        raise ValueError(
            f"Expected outputs from {', '.join(OUTPUTS)}, got {outputs} instead; "
            "e.g. outputs=('labels', 'probabilities')"
        )
    items: list[Any] = list(model) if isinstance(model, list | tuple) else [model]
    members = [m if isinstance(m, DeepModel) else load_model(m) for m in items]
    meta = members[0].metadata
    if images is None and members[0].channels > 1:
        images = members[0].channel_names
    layers = _image_layers(ws, image, images)
    source = _image_source(ws, layers)
    names = _out_names(name, outputs, _safe_names(meta))
    wanted = [n for n in (names["labels"], names["confidence"], names["entropy"]) if n]
    wanted += list(names["probabilities"].values())
    clash = [n for n in wanted if n in ws]
    if clash and not overwrite:
        raise LayerExistsError(
            f"Layer(s) {', '.join(map(repr, clash))} exist already in the workspace; pass "
            "overwrite=True (--overwrite) to replace them, or choose another name"
        )
    with tempfile.TemporaryDirectory(dir=ws.path, prefix=".deep-") as scratch:
        out = predict(
            members,
            source,
            Path(scratch) / "prediction.zarr",
            axes=axes,
            fusion=fusion,
            tta=tta,
            ensemble=ensemble,
            outputs=outputs,
            probability_dtype=probability_dtype,
            chunks=ws.chunks,
            overlap=overlap,
            batch_size=batch_size,
            device=device,
            memory_mb=memory_mb,
            progress=progress,
        )
        group = zarr.open_group(out, mode="r")
        params = {
            "models": [str(m) if not isinstance(m, DeepModel) else "in memory" for m in items],
            "image": layers[0],
            "images": layers,
            "axes": group.attrs.get("axes", axes),
            "fusion": fusion,
            "tta": bool(tta),
            "ensemble": ensemble,
            "probability_dtype": probability_dtype,
            "device": device,
            "label_names": list(meta["label_names"]),
            "label_values": list(meta["label_values"]),
        }
        common: dict[str, Any] = {"sources": layers, "overwrite": overwrite, "progress": progress}
        chosen_set = None
        if names["labels"]:
            chosen_set = _label_set_for(ws, meta, label_set)
            ws.add_layer(
                names["labels"],
                da.from_zarr(group["labels"]),
                kind="prediction",
                label_set=chosen_set,
                params=params,
                **common,
            )
        if names["probabilities"]:
            probs = da.from_zarr(group["probabilities"])
            for k, (cls, layer) in enumerate(names["probabilities"].items()):
                ws.add_layer(
                    layer, probs[k], kind="probabilities", params={**params, "class": cls}, **common
                )
        for measure, key in (("max_probability", "confidence"), ("normalized_entropy", "entropy")):
            if names[key]:
                ws.add_layer(
                    names[key],
                    da.from_zarr(group[key]),
                    kind="confidence",
                    params={**params, "measure": measure},
                    **common,
                )
    seconds = time.perf_counter() - start
    result = WorkspacePrediction(
        labels=names["labels"],
        probabilities=dict(names["probabilities"]),
        confidence=names["confidence"],
        entropy=names["entropy"],
        label_set=chosen_set,
        seconds=seconds,
    )
    ws.record_run(
        PREDICT_STEP, params=params, inputs=layers, outputs=result.layers, duration=seconds
    )
    return result
