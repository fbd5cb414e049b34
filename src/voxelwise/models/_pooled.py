"""One model from the labelled data of several workspaces (a general training pool)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxelwise.models._holdout import holdout_mask, holdout_metrics
from voxelwise.models._registry import _as_workspace, _free_name, _resolve, register_model
from voxelwise.workspace import InvalidLayerError, LabelError, Workspace, roi_parent

__all__ = ["KINDS", "train_pooled"]

KINDS = ("deep", "shallow")
Source = tuple[Any, str, str]


def _parse_sources(sources: Sequence[Source]) -> list[tuple[Workspace, str, str]]:
    if isinstance(sources, str) or not isinstance(sources, Sequence) or not sources:
        raise TypeError(
            "Expected sources as a list of (workspace, image layer, labels layer) tuples, "
            f"got {sources!r} instead"
        )
    out = []
    for item in sources:
        if not (isinstance(item, tuple | list) and len(item) == 3):
            raise TypeError(
                "Expected each source as (workspace, image layer, labels layer), e.g. "
                f"(ws, 'raw', 'annotations'), got {item!r} instead"
            )
        ws, image, labels = _as_workspace(item[0]), str(item[1]), str(item[2])
        ws.layer(image)
        info = ws.layer(labels)
        if not info.is_label:
            raise InvalidLayerError(
                f"Layer {labels!r} of {ws.path} is a {info.kind!r} layer; train on an "
                "annotation or labels layer (0 = unlabelled)"
            )
        out.append((ws, image, labels))
    return out


def _classes(items: list[tuple[Workspace, str, str]]) -> tuple[str | None, dict[int, Any]]:
    """The label set the labels layers share and value -> LabelInfo; refuse disagreements."""
    sets = {s for ws, _, labels in items if (s := ws.layer(labels).label_set) is not None}
    if len(sets) > 1:
        raise LabelError(
            f"The labels layers use different label sets ({', '.join(sorted(sets))}); pool "
            "layers annotated with the same label set (copy it with ws.add_label)"
        )
    if not sets:
        return None, {}
    set_name = sets.pop()
    merged: dict[int, Any] = {}
    for ws, _, labels in items:
        if ws.layer(labels).label_set is None:
            continue
        for lab in ws.label_set(set_name):
            known = merged.setdefault(lab.value, lab)
            if known.name != lab.name:
                raise LabelError(
                    f"Label value {lab.value} of set {set_name!r} means {known.name!r} in one "
                    f"workspace and {lab.name!r} in {ws.path}; make the label sets agree first"
                )
    return set_name, merged


def _provenance(items: list[tuple[Workspace, str, str]]) -> dict[str, Any]:
    data = []
    for ws, image, labels in items:
        entry: dict[str, Any] = {"workspace": str(ws.path), "image": image, "labels": labels}
        link = roi_parent(ws)
        if link is not None:
            entry["roi_parent"] = {"path": link["path"], "roi": link["roi"]}
        data.append(entry)
    return {"workspaces": [str(ws.path) for ws, _, _ in items], "training_data": data}


def train_pooled(
    sources: Sequence[Source],
    *,
    kind: str = "deep",
    registry: Workspace | str | os.PathLike[str] | None = None,
    name: str | None = None,
    out: str | os.PathLike[str] | None = None,
    config: Any = None,
    epochs: int | None = None,
    max_minutes: float | None = None,
    init_model: Any = None,
    device: str = "auto",
    features: Any = None,
    classifier: str = "rf",
    params: dict[str, Any] | None = None,
    max_per_class: int | None = None,
    val_fraction: float = 0.2,
    rng: np.random.Generator | int | None = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train one model on the labelled voxels of several workspaces and register it.

    Parameters
    ----------
    sources : list of (workspace, image layer, labels layer)
        Workspaces (or paths) with the layers to learn from; the labels layers must share
        their label set (0 = unlabelled).
    kind : {"deep", "shallow"}
        ``"deep"``: one network trained on patches of every pair
        (:func:`voxelwise.deep.train`); ``"shallow"``: one classifier fitted on the pooled,
        class-balanced annotated voxels of every workspace (:func:`voxelwise.learn.fit_voxels`).
    registry : Workspace or path, optional
        Where to register the model; default the first source's workspace.
    name : str, optional
        Registry name; default ``pooled-<kind>`` (made unique).
    out : path, optional
        Deep: keep the model file and training reports there (see :func:`voxelwise.deep.train`);
        by default they go to a temporary folder and only the registered copy stays.
    config, epochs, max_minutes, device
        Deep training settings (:class:`voxelwise.deep.TrainConfig`).
    init_model : str or path, optional
        Deep: fine-tune a registered model (name in ``registry``) or a model file.
    features : str or list
        Shallow: feature layers or a preset, resolved in each workspace
        (:class:`voxelwise.learn.Trainer`); the recipes must agree.
    classifier, params, max_per_class
        Shallow classifier settings (see :func:`voxelwise.learn.fit_voxels`).
    val_fraction : float
        Shallow: share of the annotated voxels held out (a fixed pseudo-random choice) to
        score the model: ``val_accuracy``, ``val_miou``, per-class ``val_iou`` in its metrics
        (held-out voxels lie among training voxels, so these are optimistic). 0 skips it.
    rng
        Seeds sampling and training.
    progress : callable, optional
        Deep: ``progress(epoch, epochs)``.

    Returns
    -------
    dict
        The registry record of the new model (:func:`list_models`), whose provenance lists
        every training workspace and layer.
    """
    if kind not in KINDS:
        raise ValueError(f"Expected kind as 'deep' or 'shallow', got {kind!r} instead")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"Expected val_fraction from 0 to below 1, got {val_fraction!r} instead")
    start = time.perf_counter()
    items = _parse_sources(sources)
    reg = _as_workspace(registry) if registry is not None else items[0][0]
    set_name, labels = _classes(items)
    provenance = _provenance(items)
    name = name or _free_name(reg, f"pooled-{kind}")
    if kind == "deep":
        record = _train_deep(
            items,
            reg,
            name,
            set_name,
            labels,
            provenance,
            out=out,
            config=config,
            epochs=epochs,
            max_minutes=max_minutes,
            init_model=init_model,
            device=device,
            rng=rng,
            progress=progress,
        )
    else:
        if features is None:
            raise ValueError("Shallow pooled training needs features= (layer names or a preset)")
        record = _train_shallow(
            items,
            reg,
            name,
            set_name,
            labels,
            provenance,
            features=features,
            classifier=classifier,
            params=params,
            max_per_class=max_per_class,
            val_fraction=val_fraction,
            rng=rng,
        )
    reg.record_run(
        "models.train_pooled",
        params={"kind": kind, "model": name, **provenance},
        duration=time.perf_counter() - start,
    )
    return record


def _train_deep(
    items: list[tuple[Workspace, str, str]],
    reg: Workspace,
    name: str,
    set_name: str | None,
    labels: dict[int, Any],
    provenance: dict[str, Any],
    *,
    out: Any,
    config: Any,
    epochs: int | None,
    max_minutes: float | None,
    init_model: Any,
    device: str,
    rng: Any,
    progress: Any,
) -> dict[str, Any]:
    from voxelwise.deep import TrainConfig, load_model, save_model, train

    if isinstance(config, str | Path):
        cfg = TrainConfig.from_yaml(config)
    elif isinstance(config, dict):
        cfg = TrainConfig.from_dict(config)
    else:
        cfg = dataclasses.replace(config) if config is not None else TrainConfig()
    if cfg.spacing is None:
        cfg = dataclasses.replace(cfg, spacing=items[0][0].spacing)
    base = None
    if init_model is not None:
        base = str(_resolve(init_model, reg)[1])
        provenance = {**provenance, "fine_tuned_from": str(init_model)}
    with tempfile.TemporaryDirectory(prefix="voxelwise-pooled-") as scratch:
        target = Path(out) if out is not None else Path(scratch) / f"{name}.pt"
        result = train(
            [(ws, image) for ws, image, _ in items],
            [(ws, lab) for ws, _, lab in items],
            out=target,
            config=cfg,
            epochs=epochs,
            max_minutes=max_minutes,
            init_model=base,
            device=device,
            rng=rng,
            progress=progress,
        )
        model = load_model(result.model_path)
        meta = model.metadata
        if set_name is not None and cfg.label_names is None:
            meta["label_names"] = [
                labels[int(v)].name if int(v) in labels else n
                for v, n in zip(meta["label_values"], meta["label_names"])
            ]
            meta["label_set"] = set_name
        meta["training_data"] = provenance["training_data"]
        save_model(model, result.model_path)
        metrics = {
            "val_miou": result.best_val_miou,
            "epochs": result.epochs,
            "stopped": result.stopped,
        }
        return register_model(
            reg, result.model_path, name=name, provenance=provenance, metrics=metrics
        )


def _pad_to(arr: Any, shape: tuple[int, int, int]) -> Any:
    import dask.array as da

    pad = [(0, 0)] + [(0, s - n) for s, n in zip(shape[1:], arr.shape[1:])]
    return da.pad(arr, pad, mode="constant", constant_values=0) if any(p[1] for p in pad) else arr


def _train_shallow(
    items: list[tuple[Workspace, str, str]],
    reg: Workspace,
    name: str,
    set_name: str | None,
    labels: dict[int, Any],
    provenance: dict[str, Any],
    *,
    features: Any,
    classifier: str,
    params: dict[str, Any] | None,
    max_per_class: int | None,
    val_fraction: float,
    rng: Any,
) -> dict[str, Any]:
    import dask.array as da

    from voxelwise.learn import DEFAULT_MAX_PER_CLASS, Trainer, fit_voxels

    trainers = [Trainer(ws, features, source=image) for ws, image, _ in items]
    recipe = [dict(r) for r in trainers[0].recipe]
    for (ws, _, _), tr in zip(items[1:], trainers[1:]):
        if list(tr.features) != list(trainers[0].features):
            raise InvalidLayerError(
                f"The features of {ws.path} ({', '.join(tr.features)}) differ from those of "
                f"{items[0][0].path} ({', '.join(trainers[0].features)}); pool workspaces "
                "with the same feature layers, or pass a preset computed in each"
            )
    # the workspaces side by side along z, zero-padded in (y, x): padding is unlabelled
    ny = max(ws.shape[1] for ws, _, _ in items)
    nx = max(ws.shape[2] for ws, _, _ in items)
    columns = [tr.feature_arrays() for tr in trainers]
    pooled = [
        da.concatenate([_pad_to(cols[k], (0, ny, nx)) for cols in columns], axis=0)
        for k in range(len(columns[0]))
    ]
    lab = da.concatenate(
        [_pad_to(ws.get(labels_layer), (0, ny, nx)) for ws, _, labels_layer in items], axis=0
    )
    mask = holdout_mask(lab, val_fraction) if val_fraction > 0 else None
    model = fit_voxels(
        dict(zip(trainers[0].features, pooled)),
        lab if mask is None else da.where(mask, 0, lab).astype(lab.dtype),
        classifier=classifier,
        max_per_class=max_per_class if max_per_class is not None else DEFAULT_MAX_PER_CLASS,
        params=params,
        rng=rng,
    )
    colors = tuple(
        tuple(labels[v].color) if v in labels else tuple(c)
        for v, c in zip(model.classes, model.colors)
    )
    names = tuple(
        labels[v].name if v in labels else n for v, n in zip(model.classes, model.class_names)
    )
    model = dataclasses.replace(
        model,
        class_names=names,
        recipe=tuple(recipe),
        label_set=set_name,
        colors=colors,  # type: ignore[arg-type]
        training={**model.training, **provenance},
    )
    if mask is not None:
        model = model.with_training(validation=holdout_metrics(model, pooled, lab, mask))
    with tempfile.TemporaryDirectory(prefix="voxelwise-pooled-") as scratch:
        path = model.save(Path(scratch) / f"{name}.npz")
        return register_model(reg, path, name=name, provenance=provenance)
