"""Weak annotation: a network trained on a shallow classifier's confident prediction.

SuRVoS2's headline pipeline: scribbles -> a shallow classifier (:mod:`voxelwise.learn`) -> its
prediction of a region -> a U-Net trained on that prediction -> the whole volume. Voxels the
shallow model is unsure of (confidence below ``min_confidence``) become 0 (unlabelled), so the
network does not learn its doubtful voxels. The step runs through :func:`execute_step` (as the
``deep_from_shallow`` step kind), so it is recorded, exported and replayed like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, compute
from voxelwise._validate import parse_roi
from voxelwise.workflows._errors import TrainingLabelsError
from voxelwise.workflows._progress import Stages
from voxelwise.workflows._steps import (
    StepContext,
    _deep,
    _recorded_model,
    _should_train,
    execute_step,
)

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["STEP", "FromShallowResult", "deep_from_shallow", "run_from_shallow"]

STEP = "deep_from_shallow"
DEFAULT_NAME = "unet"
DEFAULT_MIN_CONFIDENCE = 0.7
DEFAULT_MAX_MINUTES = 20.0


@dataclass(frozen=True)
class FromShallowResult:
    """What :func:`deep_from_shallow` made.

    Attributes
    ----------
    labels, confidence : str
        The predicted label layer (kind ``"prediction"``, the shallow prediction's label set)
        and its maximum-probability layer.
    training_labels : str
        The layer the network learnt from: the shallow labels where their confidence reaches
        ``min_confidence`` inside the training region, 0 (unlabelled) elsewhere.
    model_file : Path
        The trained network.
    model_name : str
        Its name in the workspace's model registry (:func:`voxelwise.models.list_models`).
    labelled : dict of int to int
        Training voxels per label value.
    labelled_fraction : float
        Share of the training region's voxels kept as training labels.
    best_val_miou : float
    epochs : int
    stopped : str
        Why training ended (``"epochs"``, ``"early_stopping"``, ``"max_minutes"``).
    step_id : str
        Id of the recorded ``deep_from_shallow`` workflow step.
    seconds : float
    timings : dict of str to float
        Seconds of each stage: ``"training labels"``, ``"training"``, ``"prediction"``.
    """

    labels: str
    confidence: str
    training_labels: str
    model_file: Path
    model_name: str
    labelled: dict[int, int] = field(hash=False)
    labelled_fraction: float
    best_val_miou: float
    epochs: int
    stopped: str
    step_id: str
    seconds: float
    timings: dict[str, float] = field(hash=False, default_factory=dict)


def _roi_text(roi: Any, shape: tuple[int, ...]) -> str | None:
    """An ROI as ``"z0:z1,y0:y1,x0:x1"`` (None for the whole volume), validated."""
    if roi is None:
        return None
    cut = parse_roi(roi, shape)
    return ",".join(f"{s.start}:{s.stop}" for s in cut)


def _check_layers(ws: Workspace, image: str, prediction: str, confidence: str) -> None:
    """Clear errors for missing layers and layers of the wrong kind."""
    from voxelwise.workspace import InvalidLayerError

    info = ws.layer(prediction)  # LayerNotFoundError lists the layers
    if not info.is_label:
        raise InvalidLayerError(
            f"Layer {prediction!r} is a {info.kind!r} layer; give the label layer of a shallow "
            "prediction (voxelwise.learn.predict, `voxelwise shallow predict`), e.g. "
            "'prediction', not its probability or confidence layers"
        )
    if ws.layer(image).is_label:
        raise InvalidLayerError(
            f"Layer {image!r} is a {ws.layer(image).kind!r} layer of label values; the network "
            "reads an image layer (raw, or one added with voxelwise.workspace.add_image)"
        )
    if confidence not in ws:
        raise TrainingLabelsError(
            f"The workspace has no confidence layer {confidence!r} for the prediction "
            f"{prediction!r}; predict with confidence=True (the default of "
            "voxelwise.learn.predict), or name the layer with confidence="
        )
    conf = ws.layer(confidence)
    if conf.is_label or np.dtype(conf.dtype).kind != "f":
        raise InvalidLayerError(
            f"Layer {confidence!r} is a {conf.kind!r} layer of {conf.dtype}; expected the "
            f"maximum-probability layer of the prediction (kind 'confidence', values 0-1), "
            f"e.g. {prediction + '_confidence'!r}"
        )


def _parse_min_confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Expected min_confidence as a number, got {value!r} instead")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"Expected 0 <= min_confidence <= 1 (a maximum class probability), got {value} "
            "instead; e.g. 0.7 keeps the voxels the shallow model gives 70 % or more"
        )
    return float(value)


def _training_labels(
    ws: Workspace,
    p: dict[str, Any],
    layer: str,
    overwrite: bool,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> tuple[dict[int, int], float]:
    """Write the confident shallow labels inside the ROI (0 elsewhere) as ``layer``; returns
    voxels per label value and the labelled share of the ROI. Raises before writing when no
    voxel (or only one class) is confident enough."""
    prediction, confidence = p["prediction"], p["confidence"]
    threshold = float(p["min_confidence"])
    cut = parse_roi(p.get("roi"), ws.shape)
    pred = ws.get(prediction)[cut]
    keep = ws.get(confidence)[cut] >= threshold
    inside = da.where(keep, pred, 0).astype(pred.dtype)
    (counts,) = compute(da.bincount(inside.ravel().astype(np.int64)), scheduler=scheduler)
    labelled = {int(v): int(n) for v, n in enumerate(counts) if v > 0 and n > 0}
    total = int(np.prod([s.stop - s.start for s in cut]))
    where = f"inside the ROI {p['roi']}" if p.get("roi") else "in the volume"
    if not labelled:
        raise TrainingLabelsError(
            f"No voxel of {prediction!r} {where} has a confidence of {threshold:g} or more "
            f"(layer {confidence!r}), so nothing is left to train on; lower min_confidence "
            "(--min-confidence), or improve the shallow prediction with more scribbles"
        )
    if len(labelled) < 2:
        (value,) = labelled
        raise TrainingLabelsError(
            f"Only label value {value} of {prediction!r} has voxels with a confidence of "
            f"{threshold:g} or more {where}; a network needs at least two classes to learn "
            "from, so lower min_confidence (--min-confidence) or choose a region showing "
            "every class"
        )
    pad = [(s.start, n - s.stop) for s, n in zip(cut, ws.shape)]
    full = da.pad(inside, pad, mode="constant", constant_values=0)
    info = ws.layer(prediction)
    ws.add_layer(
        layer,
        full,
        kind="labels",
        label_set=info.label_set,
        sources=[prediction, confidence],
        params={
            "prediction": prediction,
            "confidence": confidence,
            "min_confidence": threshold,
            "roi": p.get("roi"),
            "labelled": {str(k): v for k, v in labelled.items()},
        },
        overwrite=overwrite,
        scheduler=scheduler,
        progress=progress,
    )
    return labelled, sum(labelled.values()) / max(total, 1)


def _free_model_name(ws: Workspace, wanted: str) -> str:
    taken, name, k = set(ws.models), wanted, 2
    while name in taken:
        name, k = f"{wanted}-{k}", k + 1
    return name


def _register(ws: Workspace, model_file: Path, p: dict[str, Any], extra: dict[str, Any]) -> str:
    """Register the trained network like :func:`voxelwise.models.sync_models` does, with the
    weak-annotation settings in its provenance (the run id keeps sync from adding it again)."""
    from voxelwise.models import register_model
    from voxelwise.workspace import roi_parent

    run = max(ws.runs(step="deep.train"), key=lambda r: r.id)
    provenance: dict[str, Any] = {
        "run": {"id": run.id, "step": run.step, "started": run.started.isoformat()},
        "source_file": str(model_file),
        "workspaces": [str(ws.path)],
        "layers": list(run.inputs),
        "weak_annotation": {
            "prediction": p["prediction"],
            "confidence": p["confidence"],
            "min_confidence": p["min_confidence"],
            **extra,
        },
    }
    if p.get("roi"):
        provenance["roi"] = p["roi"]
    link = roi_parent(ws)
    if link is not None:
        provenance["roi_parent"] = link
    metrics = {}
    if run.params.get("best_val_miou") is not None:
        metrics["val_miou"] = run.params["best_val_miou"]
    record = register_model(
        ws,
        model_file,
        name=_free_model_name(ws, p["name"]),
        provenance=provenance,
        metrics=metrics,
    )
    return str(record["name"])


def _predict(
    ws: Workspace,
    model_file: Path,
    p: dict[str, Any],
    overwrite: bool,
    progress: ProgressCallback | None,
) -> list[str]:
    """Segment ``predict_roi`` of the image (default all) into a label and a confidence layer
    of the workspace's shape (0 outside the region)."""
    import tempfile

    import zarr

    deep = _deep(STEP)
    name, image = p["name"], p["image"]
    model = deep.load_model(model_file)
    cut = parse_roi(p.get("predict_roi"), ws.shape)
    pad = [(s.start, n - s.stop) for s, n in zip(cut, ws.shape)]
    label_set = model.metadata.get("label_set")
    if label_set is not None and label_set not in ws.label_sets():
        label_set = None
    params = {
        "model_file": str(model_file),
        "image": image,
        "predict_roi": p.get("predict_roi"),
        "label_names": list(model.metadata["label_names"]),
        "label_values": list(model.metadata["label_values"]),
    }
    with tempfile.TemporaryDirectory(dir=ws.path, prefix=".weak-") as scratch:
        out = deep.predict(
            model,
            ws.get(image)[cut],
            Path(scratch) / "prediction.zarr",
            outputs=("labels", "confidence"),
            chunks=ws.chunks,
            device=p.get("device") or "auto",
            progress=progress,
        )
        group = zarr.open_group(out, mode="r")
        labels = da.pad(da.from_zarr(group["labels"]), pad, mode="constant", constant_values=0)
        conf = da.pad(da.from_zarr(group["confidence"]), pad, mode="constant", constant_values=0)
        common: dict[str, Any] = {"sources": [image], "overwrite": overwrite}
        ws.add_layer(name, labels, kind="prediction", label_set=label_set, params=params, **common)
        ws.add_layer(
            f"{name}_confidence",
            conf,
            kind="confidence",
            params={**params, "measure": "max_probability"},
            **common,
        )
    return [name, f"{name}_confidence"]


def run_from_shallow(
    step: dict[str, Any], ctx: StepContext, progress: ProgressCallback | None
) -> tuple[str, list[str], dict[str, Any]]:
    """The ``deep_from_shallow`` step's work (called by :func:`execute_step`): training
    labels from the confident shallow prediction, training, registration, prediction.

    When the prediction (or the image) is missing, or ``ctx.train == "never"``, the recorded
    model is applied instead of training (status ``"reused"``), as for ``deep_train``.
    """
    ws, sid = ctx.ws, step["id"]
    p = {**_defaults(), **step["params"]}
    p["confidence"] = p.get("confidence") or f"{p['prediction']}_confidence"
    name = p["name"]
    training = f"{name}_training"
    missing = _should_train(step, ctx, [p["image"], p["prediction"], p["confidence"]])
    stages = Stages(progress, 3 if missing is None else 1)
    result: dict[str, Any] = {}
    outputs: list[str] = []
    wanted = [training] if missing is None else []
    clash = [n for n in [*wanted, name, f"{name}_confidence"] if n in ws]
    if clash and not ctx.overwrite:  # checked before any work
        from voxelwise.errors import LayerExistsError

        raise LayerExistsError(
            f"Layer(s) {', '.join(map(repr, clash))} exist already in the workspace; pass "
            "overwrite=True (--overwrite) to replace them, or choose another out_layer"
        )
    if missing is None:
        _check_layers(ws, p["image"], p["prediction"], p["confidence"])
        p["min_confidence"] = _parse_min_confidence(p["min_confidence"])
        deep = _deep(STEP)
        with stages("training labels") as sp:
            labelled, fraction = _training_labels(ws, p, training, ctx.overwrite, ctx.scheduler, sp)
        with stages("training") as sp:
            trained = deep.train_workspace(
                ws,
                training,
                image=p["image"],
                out=ctx.results / f"{sid}.pt",
                config=p.get("config"),
                roi=p.get("roi"),
                max_minutes=p.get("max_minutes"),
                device=p.get("device") or "auto",
                rng=p.get("rng"),
                progress=sp,
            )
        model_file = Path(trained.model_path)
        ctx.trained[sid] = trained
        extra: dict[str, Any] = {
            "labelled": {str(k): v for k, v in labelled.items()},
            "labelled_fraction": fraction,
        }
        result = {
            "model_name": _register(ws, model_file, p, extra),
            "labelled": labelled,
            "labelled_fraction": fraction,
            "best_val_miou": trained.best_val_miou,
            "epochs": trained.epochs,
            "stopped": trained.stopped,
        }
        outputs.append(training)
        status = "ran"
    else:
        model_file = _recorded_model(step, ctx, missing)
        status = "reused"
    ctx.models[sid] = model_file
    with stages("prediction") as sp:
        outputs += _predict(ws, model_file, p, ctx.overwrite, sp)
    result["timings"] = dict(stages.times)
    return status, outputs, {"model_file": str(model_file), **result}


def _defaults() -> dict[str, Any]:
    from voxelwise.workflows._schema import STEP_KINDS

    return dict(STEP_KINDS[STEP].defaults)


def _seed(rng: Any) -> int | None:
    """A JSON-able seed to record: an int as given, one drawn from a Generator, or None."""
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        return rng
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**31 - 1))
    raise TypeError(f"Expected rng as a numpy Generator, an int or None, got {rng!r} instead")


def _config_dict(ws: Workspace, config: Any) -> dict[str, Any] | None:
    """The training settings as a plain dict (None: the current defaults of TrainConfig)."""
    if config is None:
        return None
    deep = _deep(STEP)
    if isinstance(config, str | os.PathLike):
        config = deep.TrainConfig.from_yaml(config)
    elif isinstance(config, dict):
        config = deep.TrainConfig.from_dict(config)
    if not isinstance(config, deep.TrainConfig):
        raise TypeError(
            f"Expected config as a TrainConfig, a dict of settings or a YAML file, got "
            f"{type(config).__name__} instead"
        )
    out: dict[str, Any] = config.to_dict()
    if out.get("spacing") is None or list(out["spacing"]) == list(ws.spacing):
        out.pop("spacing", None)
    return out


def deep_from_shallow(
    ws: Workspace | str | os.PathLike[str],
    prediction: str = "prediction",
    *,
    confidence: str | None = None,
    image: str = "raw",
    roi: Any = None,
    predict_roi: Any = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    config: Any = None,
    max_minutes: float | None = DEFAULT_MAX_MINUTES,
    out_layer: str = DEFAULT_NAME,
    results: str | os.PathLike[str] | None = None,
    device: str = "auto",
    overwrite: bool = False,
    rng: np.random.Generator | int | None = None,
    scheduler: Scheduler = None,
    progress: ProgressCallback | None = None,
) -> FromShallowResult:
    """Train a U-Net on a shallow classifier's confident prediction and segment the volume.

    The labels of ``prediction`` whose confidence reaches ``min_confidence`` inside ``roi``
    become the training labels (layer ``{out_layer}_training``; every other voxel 0, i.e.
    unlabelled, so the network does not learn the shallow model's doubtful voxels). A network
    is trained on ``image`` with :func:`voxelwise.deep.train_workspace` (``config``: default
    :class:`~voxelwise.deep.TrainConfig`), registered in the workspace's model registry, and
    applied to ``predict_roi`` (default the whole volume). The step is recorded as a
    ``deep_from_shallow`` workflow step, so :func:`export_workflow` exports it and
    :func:`run_workflow` replays it.

    Parameters
    ----------
    ws : Workspace or path
    prediction : str
        The label layer of a shallow prediction (:func:`voxelwise.learn.predict`).
    confidence : str, optional
        Its maximum-probability layer; default ``{prediction}_confidence``.
    image : str
        The image layer the network reads (default the raw image).
    roi : str or slices, optional
        Region ``"z0:z1,y0:y1,x0:x1"`` of the prediction to learn from; default all of it.
    predict_roi : str or slices, optional
        Region to segment; default the whole volume. Outside it the output layers hold 0.
    min_confidence : float
        Shallow voxels below this maximum class probability are left unlabelled.
    config : TrainConfig, dict or YAML path, optional
        Training settings; default ``TrainConfig()``.
    max_minutes : float, optional
        Wall-time budget of training (the best checkpoint so far is kept); None: no budget.
    out_layer : str
        The predicted label layer; ``{out_layer}_confidence`` holds its maximum probability,
        and ``{out_layer}`` is also the model's registry name (made unique).
    results : path, optional
        Folder for the model file (default ``<workspace>-results`` beside the workspace);
        the registry keeps its own copy.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    overwrite : bool
        Replace existing output layers (checked before any work).
    rng : Generator, int or None
        Seeds patch sampling, augmentation and weights (recorded as an int).
    scheduler, progress
        See :mod:`voxelwise._compute`; ``progress(done, total)`` spans the training labels,
        the training epochs and the prediction, and may raise ``CancelledError``.

    Returns
    -------
    FromShallowResult

    Raises
    ------
    LayerNotFoundError
        No layer ``prediction`` or ``image``.
    InvalidLayerError
        ``prediction`` is not a label layer, ``image`` holds labels, or ``confidence`` is not
        a confidence layer.
    TrainingLabelsError
        The confidence layer is missing, or fewer than two classes have a voxel with a
        confidence of ``min_confidence`` or more inside ``roi``.
    LayerExistsError
        An output layer exists and ``overwrite`` is False.
    MissingDependencyError
        PyTorch is not installed (``pip install 'voxelwise[deep]'``).

    Examples
    --------
    >>> from voxelwise import learn
    >>> learn.predict(ws, model, name="shallow")  # doctest: +SKIP
    >>> out = deep_from_shallow(ws, "shallow", roi="0:16,:,:", min_confidence=0.7)  # doctest: +SKIP
    >>> out.labels, out.model_name  # doctest: +SKIP
    ('unet', 'unet')
    """
    import time

    from voxelwise.workspace import Workspace

    start = time.perf_counter()
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws)
    conf = confidence or f"{prediction}_confidence"
    _check_layers(ws, image, prediction, conf)
    params: dict[str, Any] = {
        "prediction": prediction,
        "confidence": conf,
        "image": image,
        "roi": _roi_text(roi, ws.shape),
        "predict_roi": _roi_text(predict_roi, ws.shape),
        "min_confidence": _parse_min_confidence(min_confidence),
        "config": _config_dict(ws, config),
        "max_minutes": None if max_minutes is None else float(max_minutes),
        "name": out_layer,
        "device": device,
        "rng": _seed(rng),
    }
    if max_minutes is not None and max_minutes <= 0:
        raise ValueError(f"Expected max_minutes > 0 (or None), got {max_minutes} instead")
    folder = Path(results) if results is not None else ws.path.with_name(f"{ws.path.stem}-results")
    folder.mkdir(parents=True, exist_ok=True)
    ctx = StepContext(ws, folder, train="always", overwrite=overwrite, scheduler=scheduler)
    step_id = f"from_shallow_{out_layer}"
    step: dict[str, Any] = {"id": step_id, "step": STEP, "params": params}
    outcome = execute_step(step, ctx, progress=progress)
    r = outcome.result
    return FromShallowResult(
        labels=out_layer,
        confidence=f"{out_layer}_confidence",
        training_labels=f"{out_layer}_training",
        model_file=Path(r["model_file"]),
        model_name=r["model_name"],
        labelled=dict(r["labelled"]),
        labelled_fraction=float(r["labelled_fraction"]),
        best_val_miou=float(r["best_val_miou"]),
        epochs=int(r["epochs"]),
        stopped=str(r["stopped"]),
        step_id=step_id,
        seconds=time.perf_counter() - start,
        timings=dict(r["timings"]),
    )
