"""Prediction per mode: voxel probabilities chunk by chunk, supervoxel tables painted back,
and applying a voxel model to any volume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from voxelwise._compute import ProgressCallback, Scheduler, store_chunks
from voxelwise.learn._aggregate import supervoxel_statistics
from voxelwise.learn._errors import FeatureMismatchError, LearnError
from voxelwise.learn._model import Model, as_model
from voxelwise.learn._mrf import refine_grid
from voxelwise.learn._recipe import as_volume, recipe_arrays
from voxelwise.learn._supervoxel import paint, refine_supervoxels, supervoxel_inputs
from voxelwise.learn._voxel import confidence_maps, labels_from_probabilities, predict_voxels

if TYPE_CHECKING:
    from voxelwise.workspace import Workspace

__all__ = ["apply_model", "predict_supervoxel_mode", "predict_voxel_mode"]


def _store(
    arr: da.Array, path: str, chunks: tuple[int, ...], scheduler: Scheduler, progress: Any
) -> da.Array:
    """Compute ``arr`` once into a temporary zarr array and read it back lazily."""
    import zarr

    target = zarr.open_array(path, mode="w", shape=arr.shape, chunks=chunks, dtype=arr.dtype)
    store_chunks(arr, target, scheduler=scheduler, progress=progress)
    return da.from_zarr(target)


def predict_voxel_mode(
    ws: Workspace,
    model: Model,
    region: da.Array | None,
    features: str,
    refine: bool,
    smoothness: float,
    max_voxels: int,
    scratch: str,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
) -> tuple[da.Array, da.Array, da.Array]:
    arrays = recipe_arrays(model.recipe, ws=ws, features=features)
    arrays = [a.rechunk(ws.chunks) for a in arrays]
    probs = predict_voxels(model, arrays)
    if region is not None:
        probs = probs * region[None].astype(np.float32)
    stacked = da.concatenate([probs, confidence_maps(probs)], axis=0)
    stored = _store(
        stacked, f"{scratch}/p.zarr", (stacked.shape[0], *ws.chunks), scheduler, progress
    )
    probs, conf = stored[: model.n_classes], stored[model.n_classes :]
    if refine:
        if int(np.prod(ws.shape)) > max_voxels:
            raise LearnError(
                f"Voxel refinement builds a graph of the whole volume in memory; the workspace has "
                f"{int(np.prod(ws.shape))} voxels, more than max_voxels={max_voxels}. Use "
                "supervoxel mode with refinement, or raise max_voxels if memory allows"
            )
        idx = refine_grid(
            probs.compute(), smoothness=smoothness, spacing=ws.spacing, max_voxels=max_voxels
        )
        values = np.asarray(model.classes, dtype=np.int64)
        dt = np.min_scalar_type(max(int(values.max()), 255))
        lab = np.where(idx >= 0, values[np.maximum(idx, 0)], 0).astype(dt)
        labels = da.from_array(lab, chunks=ws.chunks)
    else:
        labels = labels_from_probabilities(probs, model.classes)
    return labels, probs, conf


def _supervoxel_layer(
    ws: Workspace, model: Model, supervoxels: str | None, scheduler: Scheduler
) -> str:
    info = model.supervoxels or {}
    layer = supervoxels or info.get("layer") or "supervoxels"
    if layer in ws:
        return layer
    params = dict(info.get("params") or {})
    if not params:
        raise FeatureMismatchError(
            f"The workspace {ws.path} has no supervoxel layer {layer!r}; compute it with "
            "voxelwise.supervoxels.compute_supervoxels"
        )
    from voxelwise.supervoxels import compute_supervoxels

    kwargs = {k: params[k] for k in ("method", "size", "compactness", "sigma") if k in params}
    compute_supervoxels(
        ws, source=info.get("source", "raw"), name=layer, scheduler=scheduler, **kwargs
    )
    return layer


def predict_supervoxel_mode(
    ws: Workspace,
    model: Model,
    region: da.Array | None,
    features: str,
    supervoxels: str | None,
    refine: bool,
    smoothness: float,
    scheduler: Scheduler,
    progress: ProgressCallback | None,
    inputs: tuple[np.ndarray, np.ndarray] | None,
    rag: Any,
) -> tuple[da.Array, da.Array, da.Array]:
    layer = _supervoxel_layer(ws, model, supervoxels, scheduler)
    sv = ws.get(layer)
    if inputs is None:
        arrays = recipe_arrays(model.recipe, ws=ws, features=features)
        ids, x, _ = supervoxel_inputs(
            sv, arrays, model.features, model.statistics, scheduler=scheduler, progress=progress
        )
    else:
        ids, x = inputs
    proba = model.predict_proba(x) if ids.size else np.empty((0, model.n_classes), np.float32)
    active = None
    if region is not None:
        r_ids, r_mean, _ = supervoxel_statistics(
            sv, [region.astype(np.float32)], ("mean",), scheduler=scheduler
        )
        frac = np.zeros(ids.size)
        frac[np.searchsorted(ids, r_ids)] = r_mean[:, 0]
        active = frac > 0
        proba[~active] = 0
    if refine and ids.size:
        if rag is None:
            from voxelwise.supervoxels import region_adjacency

            rag = region_adjacency(sv, spacing=ws.spacing, scheduler=scheduler)
        idx = refine_supervoxels(ids, proba, x, rag, smoothness=smoothness, active=active)
    else:
        idx = proba.argmax(axis=1)
    values = np.asarray(model.classes, dtype=np.int64)[idx]
    if active is not None:
        values[~active] = 0
    dt = np.min_scalar_type(max(int(np.max(model.classes)), 255))
    labels = paint(sv, ids, values.astype(dt))
    probs = paint(sv, ids, proba.astype(np.float32))
    conf = confidence_maps(probs.rechunk({0: -1}))
    if region is not None:
        mask = region[None].astype(np.float32)
        probs = probs * mask
        conf = conf * mask
    return labels, probs, conf


def apply_model(model: Any, image: Any, *, chunks: Any = None) -> da.Array:
    """Lazy (K, Z, Y, X) float32 class probabilities of a voxel model on any volume.

    Every feature of the model's recipe is computed from ``image`` (which plays the part of the
    ``"raw"`` layer) chunk by chunk with its halo, so a model applies to a volume larger than
    memory without precomputed feature layers; store or reduce the result chunk by chunk (e.g.
    :func:`voxelwise.blockwise.store_chunks`).

    Parameters
    ----------
    model : Model or path
    image : (Z, Y, X) NumPy, dask or zarr array
    chunks : int or (3,) ints, optional
        Rechunk the image first (the chunks of the result).

    Raises
    ------
    FeatureMismatchError
        The model uses a feature not computed from the raw image, or is a supervoxel model.
    """
    model = as_model(model)
    if model.mode != "voxel":
        raise FeatureMismatchError(
            "Supervoxel models need supervoxels of the volume: create a workspace from it "
            "(Workspace.create) and use voxelwise.learn.predict"
        )
    vol = as_volume(image)
    if chunks is not None:
        vol = vol.rechunk(chunks)
    arrays = recipe_arrays(model.recipe, image=vol)
    arrays = [a.rechunk(vol.chunks) for a in arrays]
    return predict_voxels(model, arrays)
